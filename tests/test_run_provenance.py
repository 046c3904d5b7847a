"""Runs tied to the data they read (data.json), outputs that never collide, and one process per run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.data import synthesize
from pathogan_bench.data.fingerprint import DATA_RECORD, read_record
from pathogan_bench.record.facts import RunFacts, recorded_status
from pathogan_bench.record.lock import LOCK_FILE, held

MODEL = ("--model", "unet", "--model-option", "width=0.0625")


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Six synthetic patients of 32 px in the BraTS 2021 layout, in a folder of their own."""
    root = tmp_path / "data" / "brains"
    synthesize(root, patients=6, size=32, seed=3)
    return root


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RUN)
    return path


def flair_of(root: Path) -> Path:
    return sorted(root.rglob("*-t2f.nii.gz"))[0]


def rewrite(path: Path, scale: float = 1.5) -> None:
    """The same file name and size class, other voxels."""
    img = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj, np.float32) * scale, img.affine), str(path))


def stopped_run(tiny: Path, data: str, out: Path, name: str = "r") -> Path:
    code, _, err = invoke_cli(
        "run", "--config", tiny, "--data", data, *MODEL, "--steps", "4", "--stop-at", "2", "--out", out, "--name", name
    )
    assert code == 0, err
    return out / name


@pytest.mark.slow
def test_a_run_records_its_data_and_resumes_on_it_from_any_folder(dataset, tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    run_dir = stopped_run(tiny, "brains", tmp_path / "runs")  # a path relative to where the run started
    record = read_record(run_dir)
    assert record is not None and record.folders["data"].root == str(dataset)
    files = [f.path for f in record.folders["data"].files]
    assert len(files) == 6 * 5 + 1 and "dataset.json" in files  # 4 modalities and a label per patient
    assert record.modalities == ["flair", "t1", "t1c", "t2"] and record.slice_range is not None
    assert all(len(f.sha1) == 40 and f.size > 0 for f in record.folders["data"].files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # "brains" does not exist here: the recorded folder is read
    os.utime(flair_of(dataset))  # touched, not changed: matched by its hash
    code, _, err = invoke_cli("run", "--resume", run_dir)
    assert code == 0, err
    assert recorded_status(run_dir) == "done"


@pytest.mark.slow
def test_resume_refuses_changed_data_in_one_line_and_changes_nothing(dataset, tiny, tmp_path):
    run_dir = stopped_run(tiny, str(dataset), tmp_path / "runs")
    before = (run_dir / "run.json").read_text()
    changed = flair_of(dataset)
    rewrite(changed)
    code, out, err = invoke_cli("run", "--resume", run_dir)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert str(run_dir) in err and f"{changed}: content changed" in err
    assert (run_dir / "run.json").read_text() == before and not (run_dir / LOCK_FILE).exists()
    shutil.rmtree(dataset / changed.parent.name)  # a case removed
    code, _, err = invoke_cli("run", "--resume", run_dir)
    assert code == 2 and "no longer read" in err


@pytest.mark.slow
def test_compare_reuses_a_finished_run_only_on_its_own_data(dataset, tmp_path):
    study = ("compare", "--models", "threshold", "--data", dataset, "--out", tmp_path / "study")
    first = invoke_cli(*study)
    assert first.code == 0, first.err
    run_dir = next((tmp_path / "study" / "runs").iterdir())
    assert (run_dir / DATA_RECORD).is_file()
    again = invoke_cli(*study)
    assert again.code == 0 and f"reusing finished run {run_dir}" in again.err
    changed = flair_of(dataset)
    rewrite(changed, 0.5)
    refused = invoke_cli(*study)
    assert refused.code == 2 and refused.err.count("\n") == 1, refused.err
    assert f"{run_dir.name} (data changed: {changed}: content changed)" in refused.err and "--move-aside" in refused.err
    moved = invoke_cli(*study, "--move-aside")
    assert moved.code == 0, moved.err
    assert "training" in moved.err and "again: data changed" in moved.err
    assert len(list((tmp_path / "study" / "runs").glob(f"{run_dir.name}.replaced-*"))) == 1
    (run_dir / DATA_RECORD).unlink()  # a run made before runs recorded their data
    old = invoke_cli(*study)
    assert old.code == 0 and "made before runs recorded their data" in old.err


@pytest.mark.slow
def test_evaluate_and_segment_say_when_the_data_differ_from_the_runs(dataset, tmp_path):
    code, _, err = invoke_cli("run", "--model", "threshold", "--data", dataset, "--out", tmp_path, "--name", "t")
    assert code == 0, err
    run_dir = tmp_path / "t"
    splits = json.loads((run_dir / "splits.json").read_text())
    patient = splits["train"][0]
    code, out, err = invoke_cli("segment", run_dir, dataset / patient, "--out", tmp_path / "seg")
    assert code == 0, err
    assert f"note: {patient} is a train patient of this run; its segmentation is not a test result" in out
    rewrite(dataset / patient / f"{patient}-t2f.nii.gz")
    code, out, err = invoke_cli("segment", run_dir, dataset / patient, "--out", tmp_path / "seg2")
    assert code == 0 and "differs from the file this run read" in out
    code, _, err = invoke_cli("evaluate", run_dir)
    assert code == 0 and "note: the data changed since the run" in err and f"{patient}-t2f.nii.gz" in err


@pytest.mark.slow
def test_outputs_never_collide_and_never_land_in_another_run(dataset, tmp_path):
    for name in ("a", "b"):
        code, _, err = invoke_cli(
            "run", "--model", "threshold", "--data", dataset, "--out", tmp_path / name, "--name", "t"
        )
        assert code == 0, err
    one, other = tmp_path / "a" / "t", tmp_path / "b" / "t"
    patient = sorted(p.name for p in dataset.iterdir() if p.is_dir())[0]
    copy = tmp_path / "copy" / patient
    shutil.copytree(dataset / patient, copy)
    code, out, err = invoke_cli("segment", one, dataset / patient, copy, "--out", tmp_path / "seg")
    assert code == 2 and err.count("\n") == 1 and f"case {patient} again" in err
    assert not (tmp_path / "seg").exists() or not any((tmp_path / "seg").iterdir())
    for command in (
        ("segment", one, dataset / patient, "--out", other / "seg"),
        ("evaluate", one, "--out", other / "scores"),
        ("compare", one, other, "--out", other / "cmp"),
        ("run", "--model", "threshold", "--data", dataset, "--out", other),
    ):
        code, _, err = invoke_cli(*command)
        assert code == 2 and err.count("\n") == 1 and f"the run directory {other}" in err, command
    assert sorted(p.name for p in other.iterdir()) == sorted(p.name for p in one.iterdir())
    code, out, err = invoke_cli("compare", one, other, "--out", tmp_path / "cmp")
    assert code == 0, err
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "threshold (a/t)" in table and "threshold (b/t)" in table
    code, _, err = invoke_cli("compare", one, tmp_path / "a" / ".." / "a" / "t", "--out", tmp_path / "cmp2")
    assert code == 2 and "given twice" in err


def _pid_of_a_finished_process() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_a_second_process_on_a_run_refuses_and_a_dead_ones_lock_is_cleared(dataset, tiny, tmp_path):
    import socket

    run_dir = stopped_run(tiny, str(dataset), tmp_path / "runs")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": sleeper.pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
        (run_dir / LOCK_FILE).write_text(json.dumps(lock))
        code, _, err = invoke_cli("run", "--resume", run_dir)
        assert code == 2 and err.count("\n") == 1 and f"in use by process {sleeper.pid}" in err
        assert (run_dir / LOCK_FILE).is_file()
    finally:
        sleeper.kill()
        sleeper.wait()
    dead = _pid_of_a_finished_process()
    (run_dir / LOCK_FILE).write_text(json.dumps({**lock, "pid": dead}))
    code, _, err = invoke_cli("run", "--resume", run_dir)
    assert code == 0 and f"removed the stale lock of process {dead}" in err
    assert recorded_status(run_dir) == "done" and not (run_dir / LOCK_FILE).exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see a process's state")
def test_a_killed_process_no_one_has_reaped_holds_no_lock(tmp_path):
    import signal
    import socket
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": child.pid, "host": socket.gethostname()}))
        assert held(tmp_path)
        os.kill(child.pid, signal.SIGKILL)  # not waited for: a zombie until reaped, as under an init that never reaps
        deadline = time.monotonic() + 10
        while held(tmp_path):
            assert time.monotonic() < deadline, "a zombie's lock still reads as held"
            time.sleep(0.05)
        os.kill(child.pid, 0)  # the zombie is still there: the lock is free although the pid exists
    finally:
        child.kill()
        child.wait()


def test_a_run_left_training_without_a_live_process_reads_interrupted(tmp_path):
    import socket

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"status": "training", "model": "unet"}))
    assert recorded_status(run_dir) == "interrupted"
    facts = RunFacts.load(run_dir)
    assert facts.status == "interrupted" and "killed" in (facts.error or "")
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "x"}))
    assert recorded_status(run_dir) == "training"  # held by a live process: still training
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": _pid_of_a_finished_process(), "host": socket.gethostname()}))
    assert recorded_status(run_dir) == "interrupted"
