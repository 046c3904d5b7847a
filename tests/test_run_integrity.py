"""What a run leaves behind when something goes wrong: nothing that looks like a result, and honest records."""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_RUN as TINY
from conftest import invoke_cli

from pathogan_bench.engine.checkpoint import (
    CheckpointError,
    clean_partial_files,
    load_checkpoint,
    load_latest,
    save_checkpoint,
)
from pathogan_bench.utils.io import write_text


def test_a_missing_data_folder_fails_before_a_run_directory_is_made(tmp_path):
    code, _, err = invoke_cli("run", "--data", tmp_path / "nowhere", "--out", tmp_path / "runs")
    assert code == 2 and "nowhere: data folder not found" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_run_that_fails_after_it_started_is_marked_failed_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "tiny.toml").write_text(TINY)
    engine_run = importlib.import_module("pathogan_bench.engine.run")

    def broken_prepare(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine_run, "prepare_data", broken_prepare)
    code, _, err = invoke_cli("run", "--config", tmp_path / "tiny.toml", "--out", tmp_path, "--name", "r")
    assert code == 1 and "disk on fire" in err
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert (info["status"], info["error"], info["steps"]) == ("failed", "disk on fire", None)  # nothing else known
    assert "run failed: disk on fire" in (tmp_path / "r" / "log.txt").read_text()


def checkpoints(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    for step in (2, 4):
        save_checkpoint(folder / f"step-{step:08d}", {"step": step, "w": torch.full((64,), float(step))})
    return folder


def test_a_checkpoint_altered_at_the_same_size_is_detected_and_the_older_one_used(tmp_path, caplog):
    folder = checkpoints(tmp_path)
    tensors = folder / "step-00000004.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-3] ^= 0xFF  # same size, different content
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(folder / "step-00000004.json")
    path, state = load_latest(folder)
    assert path.name == "step-00000002.json" and state["step"] == 2
    assert "falling back to an older checkpoint" in caplog.text


def test_a_corrupt_tensor_header_is_a_clean_error(tmp_path):
    folder = checkpoints(tmp_path)
    meta = json.loads((folder / "step-00000004.json").read_text())
    garbage = b"\xff" * meta["tensor_bytes"]
    (folder / "step-00000004.safetensors").write_bytes(garbage)
    meta.pop("sha256")  # an old-format checkpoint without a checksum: the header itself must be checked
    (folder / "step-00000004.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(folder / "step-00000004.json")


def test_partial_files_of_interrupted_saves_are_removed(tmp_path):
    folder = checkpoints(tmp_path)
    (folder / ".step-00000006.safetensors.abc123.tmp.safetensors").write_bytes(b"half")
    (folder / ".step-00000006.json.def456.tmp.json").write_text("{")
    assert clean_partial_files(folder) == 2
    assert sorted(p.name for p in folder.iterdir()) == [
        "step-00000002.json",
        "step-00000002.safetensors",
        "step-00000004.json",
        "step-00000004.safetensors",
    ]


def test_outputs_get_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.slow
def test_python_m_ignores_entry_points_of_the_working_directory(tmp_path):
    dist = tmp_path / "evil-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pathogan_bench]\nevil = evil_plugin_module_for_tests\n")
    result = subprocess.run(
        [sys.executable, "-m", "pathogan_bench", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert not [b for b in listing["broken"] if b["plugin"] == "evil"]


# -- closed pipes, full disks, finished runs, runs started together ---------------------------------
def finished_run(tmp_path: Path) -> Path:
    """A run directory as a finished run leaves it (config.toml, run.json "done", a summary)."""
    run = tmp_path / "finished"
    run.mkdir()
    (run / "config.toml").write_text(TINY)
    (run / "run.json").write_text(json.dumps({"status": "done", "steps": 6}))
    return run


def closed_pipe(*args: str, stderr_too: bool = False) -> tuple[int, bytes]:
    """Run ``pathogan-bench ARGS`` with its stdout (and stderr) a pipe whose reader has gone, as ``| head -0``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pathogan_bench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr_too else subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout is not None
    proc.stdout.close()
    err = proc.stderr.read() if proc.stderr is not None else b""
    return proc.wait(timeout=120), err


@pytest.mark.slow
def test_a_closed_stdout_ends_list_quietly():
    code, err = closed_pipe("list")
    assert code == 0 and err == b""


@pytest.mark.slow
def test_resuming_a_finished_run_into_a_closed_pipe_changes_nothing(tmp_path):
    run = finished_run(tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _ = closed_pipe("run", "--resume", str(run), stderr_too=True)
    assert code == 0
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path):
    run = finished_run(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    code, _, err = invoke_cli("run", "--resume", run)
    assert code == 0 and "already finished" in err and f"pathogan-bench evaluate {run}" in err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


@pytest.mark.slow
def test_a_full_disk_names_the_file_and_the_last_checkpoint_and_the_run_resumes(tmp_path, monkeypatch):
    import errno

    (tmp_path / "tiny.toml").write_text(TINY.replace("checkpoint_every = 1000", "checkpoint_every = 4"))
    real = Path.write_bytes

    def full_at_step_6(self, data):
        if ".step-00000006.safetensors" in self.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_step_6)
    args = ("--config", tmp_path / "tiny.toml", "--steps", "6", "--out", tmp_path, "--name", "r")
    code, _, err = invoke_cli("run", *args, "--model-option", "width=0.0625")
    run = tmp_path / "r"
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert code == 1 and "Traceback" not in err
    assert last.startswith("disk full: cannot write ") and "step-00000006.safetensors" in last
    assert str(run / "checkpoints" / "step-00000004.json") in last and f"run --resume {run}" in last
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    monkeypatch.setattr(Path, "write_bytes", real)  # space freed
    code, _, err = invoke_cli("run", "--resume", run)
    assert code == 0, err
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    assert "resuming" in err and "step-00000004" in err


def test_runs_started_together_with_one_name_never_share_a_directory(tmp_path, monkeypatch):
    import threading

    from pathogan_bench.config import RunConfig
    from pathogan_bench.engine import rundir

    config = RunConfig(out=str(tmp_path), name="same")
    first = rundir.new_run_dir(config)
    (first / "config.toml").write_text("")
    assert rundir.new_run_dir(config).name == "same-2"  # one after the other: -2, as always
    monkeypatch.setattr(rundir, "_taken", lambda path: False)  # every start sees the folders as free, as in a race
    made: list[Path] = []
    starts = [threading.Thread(target=lambda: made.append(rundir.new_run_dir(config))) for _ in range(8)]
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join()
    assert len(set(made)) == 8 and first not in made
