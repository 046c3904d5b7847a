"""A study's runs as Ray tasks: the same weights and tables as one after another, and resumable after a kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.engine.checkpoint import latest_checkpoint, load_checkpoint
from pathogan_bench.record.lock import read_owner

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')

GRID = ("--models", "unet,cyclegan", "--folds", "2", "--steps", "4", "--threads", "1", "--model-option", "width=0.0625")


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    assert checkpoint is not None, run_dir
    return load_checkpoint(checkpoint)["model"]


def stop_lock_owners(runs: Path) -> None:
    """Ray's workers may live a moment past their killed driver, holding their runs: stop them as a user would."""
    deadline = time.monotonic() + 30
    for run in runs.iterdir():
        owner = read_owner(run)
        while owner is not None and owner.alive():
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(owner.pid, signal.SIGKILL)
            time.sleep(0.2)


@pytest.mark.slow
def test_ray_workers_give_the_sequential_studys_weights_and_tables(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    one = invoke_cli("compare", "--config", config, *GRID, "--out", tmp_path / "sequential")
    assert one.code == 0, one.output
    two = invoke_cli("compare", "--config", config, *GRID, "--workers", "2", "--out", tmp_path / "ray")
    assert two.code == 0, two.output
    runs = sorted(p.name for p in (tmp_path / "sequential" / "runs").iterdir())
    assert runs == sorted(p.name for p in (tmp_path / "ray" / "runs").iterdir()) and len(runs) == 4
    for name in runs:
        a, b = weights(tmp_path / "sequential" / "runs" / name), weights(tmp_path / "ray" / "runs" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name}: weights differ"
    tables = [pd.read_csv(tmp_path / out / "comparison.csv") for out in ("sequential", "ray")]
    numeric = tables[0].select_dtypes("number").columns
    pd.testing.assert_frame_equal(tables[0][numeric], tables[1][numeric])


@pytest.mark.slow
def test_a_study_killed_mid_run_is_resumed_by_the_same_command(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN.replace("checkpoint_every = 1000", "checkpoint_every = 5"))
    out = tmp_path / "study"
    args = ["compare", "--config", str(config), "--models", "unet", "--folds", "2", "--steps", "60", "--threads", "1",
            "--model-option", "width=0.0625", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pathogan_bench", *args, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # the driver, Ray and its workers in one group, killed together
    )
    try:
        deadline = time.monotonic() + 120
        while not any(out.glob("runs/*/checkpoints/step-*.json")):
            assert time.monotonic() < deadline and process.poll() is None, "no run reached a checkpoint"
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    stop_lock_owners(out / "runs")
    finished = invoke_cli(*args)  # the same command, without Ray, resumes the killed runs
    assert finished.code == 0, finished.output
    assert "resumed" in finished.err
    runs = [run for run in (out / "runs").iterdir() if ".replaced-" not in run.name]
    assert len(runs) == 2 and all((run / "summary.json").is_file() for run in runs)
    # a run killed before its first checkpoint had nothing to resume: it was moved aside, never deleted
    assert not any((out / "runs").glob("*.replaced-*/checkpoints/step-*.json"))
