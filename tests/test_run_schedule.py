"""A run's schedule said as it is: a budget far below the method's own schedule is named in the report and on the
console, and a fully supervised model can segment with the weights of its best validation (early stopping)."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.contracts.model import ReferenceSchedule
from pathogan_bench.engine.facts import budget
from pathogan_bench.registry import get_registry


def test_a_run_far_below_its_schedule_says_so_with_the_papers_figure():
    pathogan = get_registry().get("model", "pathogan").spec.factory
    reference, note = budget(pathogan, 1000, epoch_steps=116)
    assert reference == 119 * 116 and "1,000 steps" in note and "178,500" in note and "--preset paper" in note
    assert budget(pathogan, 119 * 116, epoch_steps=116)[1] == ""  # the whole schedule: nothing to say
    mdgru = get_registry().get("model", "mdgru").spec.factory
    assert budget(mdgru, 600, epoch_steps=50) == (27_500, budget(mdgru, 600, epoch_steps=50)[1])
    assert "2.2 % of its schedule" in budget(mdgru, 600, epoch_steps=50)[1]
    unet = get_registry().get("model", "unet").spec.factory
    assert unet.reference_schedule is None and budget(unet, 10, 5) == (None, "")
    assert ReferenceSchedule("x", epochs=2.5).steps_for(10) == 25


@pytest.mark.slow
def test_the_report_and_console_name_the_budget(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    result = invoke_cli(
        "run", "--config", config, "--model", "cyclegan", "--steps", "2", "--out", tmp_path, "--name", "c"
    )
    assert result.code == 0, result.output
    assert "Its scores measure this budget, not the method" in " ".join(result.err.split())
    report = (tmp_path / "c" / "report.md").read_text()
    assert "- budget: cyclegan trained 2 steps" in report and "200 epochs" in report


@pytest.mark.slow
def test_early_stopping_segments_with_the_best_validated_weights(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    args = ["run", "--config", config, "--model", "unet", "--steps", "12", "--out", tmp_path, "--name", "u"]
    result = invoke_cli(*args, "--select-by", "val-dice", "--validate-every", "3", "--patience", "1")
    assert result.code == 0, result.output
    info = json.loads((tmp_path / "u" / "run.json").read_text())
    chosen = info["selection"]
    assert chosen["criterion"] == "val-dice" and chosen["every"] == 3 and 1 <= chosen["validations"] <= 4
    assert chosen["best_step"] % 3 == 0 and 0 <= chosen["best_score"] <= 1
    assert info["status"] == "done" and info["steps_done"] == (info.get("stopped_early_at") or 12)
    assert "- weights: the best val-dice on the validation patients" in (tmp_path / "u" / "report.md").read_text()


def test_selecting_by_pixel_labels_is_refused_for_a_weakly_supervised_model(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    code, _, err = invoke_cli("run", "--config", config, "--model", "pathogan", "--select-by", "val-dice")
    assert code == 2 and "reads the validation patients' pixel labels: only for full supervision" in err
