"""Refinement: a unet trained on a weakly supervised run's masks of its own training slices, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.config import resolve_config
from pathogan_bench.data.slices import HEALTHY
from pathogan_bench.engine.plan import plan_run
from pathogan_bench.engine.prepare import prepare_data
from pathogan_bench.engine.refine import apply_pseudo_labels, refine_config
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry

MODEL = ("--model", "pathogan", "--model-option", "width=0.0625", "--model-option", "z=4")


@pytest.fixture(scope="module")
def refined(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("refine")
    (root / "tiny.toml").write_text(TINY_RUN)
    code, out, err = invoke_cli(
        "run",
        "--config",
        root / "tiny.toml",
        *MODEL,
        "--steps",
        "4",
        "--refine",
        "--out",
        root / "runs",
        "--name",
        "weak",
    )
    assert code == 0, err
    return root / "runs" / "weak", root / "runs" / "weak-refined"


@pytest.mark.slow
def test_refine_trains_a_unet_on_the_runs_masks_as_a_run_of_its_own(refined):
    source, run = refined
    facts = json.loads((run / "run.json").read_text())
    assert facts["model"] == "unet" and facts["status"] == "done"
    assert facts["supervision"] == "weak (pseudo-labels of pathogan)"
    found = facts["pseudo_labels"]
    assert Path(found["run"]) == source.resolve() and found["model"] == "pathogan"
    assert 0 <= found["slices_with_lesion"] <= found["slices"]
    assert "no patient's pixel label was read" in (run / "report.md").read_text()
    assert json.loads((source / "splits.json").read_text()) == json.loads((run / "splits.json").read_text())


@pytest.mark.slow
def test_pseudo_labels_replace_the_training_masks_only(refined):
    source, _ = refined
    config = refine_config(resolve_config(source / "config.toml"), source)
    plan = plan_run(config)
    data = prepare_data(config, plan.registry)
    truth = np.array(data.table.masks, dtype=bool)
    found = apply_pseudo_labels(data, config, plan.registry)
    train, held_out = data.indices("train"), np.concatenate([data.indices("val"), data.indices("test")])
    masks = np.asarray(data.table.masks)
    assert np.array_equal(masks[held_out], truth[held_out])  # validation and test labels: only scored
    healthy = train[data.table.domain[train] == HEALTHY]
    assert not masks[healthy].any()
    assert int(masks[train].sum()) == found["pixels"]
    assert np.array_equal(np.asarray(prepare_data(config, plan.registry).table.masks), truth)  # the cache kept
    from pathogan_bench.engine.batches import training_batches

    batches = training_batches(plan, data.table, train)
    trained_on = len(batches.images)
    healthy_train = int((data.table.domain[train] == HEALTHY).sum())
    assert trained_on > healthy_train > 0  # healthy slices train too, with their empty masks
    assert int(batches.masks.reshape(trained_on, -1).any(1).sum()) <= found["slices_with_lesion"]


def test_refinement_is_refused_where_it_would_read_pixel_labels(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text("")
    config = resolve_config(None, model="pathogan")
    weak = refine_config(config, tmp_path / "run")
    with pytest.raises(UserError, match="reads no pixel labels"):
        plan_run(weak.__class__(**{**weak.__dict__, "model": "pathogan"}), get_registry())
    import dataclasses

    dice = dataclasses.replace(weak, train=dataclasses.replace(weak.train, select_by="val-dice"))
    with pytest.raises(UserError, match="validation patients' pixel labels"):
        plan_run(dice)
    code, _, err = invoke_cli("run", "--pseudo-labels", tmp_path / "nowhere", "--model", "unet")
    assert code == 2 and "no run directory" in err


@pytest.mark.slow
def test_compare_refines_every_weak_run_into_a_row_of_its_own(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_RUN)
    code, out, err = invoke_cli(
        "compare",
        "--config",
        tmp_path / "tiny.toml",
        "--models",
        "pathogan,threshold",
        *MODEL[2:4],
        "--steps",
        "2",
        "--refine",
        "--out",
        tmp_path / "study",
    )
    assert code == 0, err
    runs = sorted(p.name for p in (tmp_path / "study" / "runs").iterdir())
    assert runs == ["pathogan-seed0", "pathogan-seed0-refined", "threshold-seed0"]  # the threshold is not weak
    assert "| unet (refined pathogan) (Te) |" in (tmp_path / "study" / "comparison.md").read_text()
