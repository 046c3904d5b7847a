"""Stopping a run with Ctrl-C or a scheduler's SIGTERM, and resuming it: what is saved, said and refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_RUN as TINY
from conftest import invoke_cli

MODEL = ("--model", "unet", "--model-option", "width=0.0625")


@pytest.fixture
def tiny(tmp_path) -> Path:
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path / "tiny.toml"


def start(tiny: Path, out: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pathogan_bench",
            "run",
            "--config",
            str(tiny),
            "--steps",
            "100000",
            *MODEL,
            "--out",
            str(out),
            "--name",
            name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=out.parent,
    )


def wait_for_training(run_dir: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "losses.csv").is_file():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()[1]}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError("training did not start")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_marks_the_run_and_says_how_to_resume(sig, tiny, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    process = start(tiny, out, "stopped")
    run_dir = out / "stopped"
    wait_for_training(run_dir, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and info["interrupted_at"] > 0
    step = info["interrupted_at"]
    assert (run_dir / "checkpoints" / f"step-{step:08d}.json").is_file()
    assert f"pathogan-bench run --resume {run_dir}" in err
    assert "interrupted" not in err.strip().splitlines()[-1].split("Continue with")[-1], "a stray line after the hint"
    # the resumed run continues from the saved step (stopping soon after, to keep the test short)
    code, _, err = invoke_cli("run", "--resume", run_dir, "--stop-at", str(step + 2))
    assert code == 0, err
    assert f"at step {step} of 100000" in err
    steps = pd.read_csv(run_dir / "losses.csv")["step"].tolist()
    assert steps == sorted(set(steps)) and steps[-1] == step + 2


def test_resume_refuses_options_that_would_change_the_run_and_says_which_it_takes(tiny, tmp_path):
    code, _, err = invoke_cli(
        "run", "--config", tiny, "--steps", "4", *MODEL, "--out", tmp_path, "--name", "r", "--stop-at", "2"
    )
    assert code == 0, err
    code, _, err = invoke_cli("run", "--resume", tmp_path / "r", "--steps", "10")
    assert code == 2 and "--steps cannot change it" in err and "--stop-at" in err and len(err.splitlines()) == 1


def test_resume_without_a_checkpoint_says_so_and_writes_no_row_twice(tiny, tmp_path):
    code, _, err = invoke_cli(
        "run", "--config", tiny, "--steps", "4", *MODEL, "--out", tmp_path, "--name", "r", "--stop-at", "2"
    )
    assert code == 0, err
    run_dir = tmp_path / "r"
    for path in (run_dir / "checkpoints").iterdir():
        path.unlink()
    code, _, err = invoke_cli("run", "--resume", run_dir)
    assert code == 0, err
    assert "no complete checkpoint" in err and "from step 0 of 4" in err
    assert pd.read_csv(run_dir / "losses.csv")["step"].tolist() == [2, 4]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["score_seconds"] >= 0
    log = (run_dir / "log.txt").read_text()
    assert "scored and reported in -" not in log


@pytest.mark.slow
def test_a_run_killed_with_sigkill_reads_interrupted_and_resumes(tiny, tmp_path):
    from pathogan_bench.record.facts import RunFacts, recorded_status

    out = tmp_path / "runs"
    out.mkdir()
    process = start(tiny, out, "killed")
    run_dir = out / "killed"
    wait_for_training(run_dir, process)
    process.kill()  # SIGKILL: no handler runs, run.json still says "training"
    process.communicate(timeout=60)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "training"
    assert recorded_status(run_dir) == "interrupted" and RunFacts.load(run_dir).status == "interrupted"
    code, _, err = invoke_cli("run", "--resume", run_dir, "--stop-at", "4")
    assert code == 0, err
    assert "removed the stale lock of process" in err and recorded_status(run_dir) == "stopped"
