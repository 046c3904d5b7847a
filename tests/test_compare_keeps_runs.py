"""`compare --models` and `run --folds` never delete or change a finished run they were not asked to replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_RUN, invoke_cli


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def compare(tmp_path: Path, *extra: str):
    return invoke_cli(
        "compare",
        "--models",
        "threshold",
        "--config",
        tmp_path / "tiny.toml",
        "--out",
        tmp_path / "cmp",
        *extra,
    )


@pytest.mark.slow
def test_a_changed_training_option_is_refused_and_moved_aside_only_when_asked(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY_RUN)
    code, _, err = compare(tmp_path, "--steps", "2")
    assert code == 0, err
    run = tmp_path / "cmp" / "runs" / "threshold-seed0"
    before = snapshot(run)

    code, _, err = compare(tmp_path, "--steps", "3")
    assert code == 2 and err.count("\n") == 1, err
    assert "threshold-seed0 (train.steps)" in err and "--move-aside" in err
    assert snapshot(run) == before
    assert [p.name for p in run.parent.iterdir()] == ["threshold-seed0"]

    code, _, err = compare(tmp_path, "--steps", "2", "--no-reuse")  # --no-reuse alone deletes nothing either
    assert code == 2 and "threshold-seed0 (--no-reuse)" in err, err
    assert snapshot(run) == before

    result = compare(tmp_path, "--steps", "2", "--policies", "model,otsu")  # scoring only: re-scored in place
    assert result.code == 0 and "re-scoring" in result.output, result.output
    assert [p.name for p in run.parent.iterdir()] == ["threshold-seed0"]
    before = snapshot(run)

    code, _, err = compare(tmp_path, "--steps", "3", "--policies", "model,otsu", "--move-aside")
    assert code == 0, err
    moved = [p for p in run.parent.iterdir() if p.name.startswith("threshold-seed0.replaced-")]
    assert len(moved) == 1 and snapshot(moved[0]) == before
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    assert "steps = 3" in (run / "config.toml").read_text()


def test_move_aside_needs_runs_it_trains(tmp_path):
    code, _, err = invoke_cli("compare", tmp_path, "--move-aside")
    assert code == 2 and "--move-aside" in err
