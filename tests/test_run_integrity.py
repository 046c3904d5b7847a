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
from pathogan_bench.io import write_text


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
    assert info == {"status": "failed", "error": "disk on fire"}
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
