"""Run evaluation and the Table-1 report: tables, statistics, formatting, figures, `evaluate`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke_cli

from pathogan_bench.errors import UserError
from pathogan_bench.evaluation import evaluate_predictions, evaluate_run, plan_scoring
from pathogan_bench.record.facts import RunFacts
from pathogan_bench.record.summary import Stat, Summary, summarise
from pathogan_bench.registry import get_registry
from pathogan_bench.reporting.format import format_stat
from pathogan_bench.reporting.run_report import print_summary, render_markdown

REGISTRY = get_registry()


def mask_metrics(*names: str) -> dict:
    """The registered mask metrics named (default: the run defaults'), created as a run creates them."""
    return plan_scoring(REGISTRY, list(names) or ["dice", "hd95", "avd", "dice_pp"]).mask_metrics


def facts_of(*names: str) -> dict:
    return plan_scoring(REGISTRY, list(names)).facts


def make_run(run_dir: Path, model: str = "pathogan", seed: int = 0, shift: int = 1, spacing=(1.0, 1.0)) -> Path:
    """A finished run directory: 3 patients x 4 slices of 32x32, one slice with an empty reference."""
    rng = np.random.default_rng(seed)
    n, size = 12, 32
    mask = np.zeros((n, size, size), bool)
    prob = np.zeros((n, size, size), np.float16)
    for i in range(n):
        top, left, side = rng.integers(4, 14), rng.integers(4, 14), rng.integers(4, 12)
        mask[i, top : top + side, left : left + side] = True
        prob[i, top + shift : top + side + shift, left : left + side] = 0.9
    mask[3] = False  # a slice without tumour: distances undefined when the model predicts something
    patient = np.repeat(["p1", "p2", "p3"], 4)
    split = np.repeat(["train", "train", "test"], 4)
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        run_dir / "predictions.npz",
        prob=prob,
        mask=mask,
        patient=patient,
        z=np.tile(np.arange(4), 3),
        split=split,
        threshold=np.float32(0.5),
        images=rng.normal(size=(n, 2, size, size)).astype(np.float16),
    )
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "model": model,
                "supervision": "weak" if model == "pathogan" else "full",
                "loss_set": "full",
                "dataset": "synthetic",
                "data": "synthetic",
                "modalities": ["flair", "t1c"],
                "seed": seed,
                "device": "cpu",
                "spacing": list(spacing),
                "status": "done",
            }
        )
    )
    return run_dir


# -- statistics and formatting ---------------------------------------------
def test_stat_leaves_out_and_counts_undefined_values():
    stat = Stat.of(np.array([1.0, 2.0, 3.0, math.nan]))
    assert (stat.mean, stat.median, stat.n, stat.undefined) == (2.0, 2.0, 3, 1)
    assert stat.std == pytest.approx(1.0)  # sample standard deviation


def test_format_is_mean_pm_std_median():
    stat = Stat(0.724, 0.244, 0.81, 10, 0)
    assert format_stat(stat, percent=True) == "72.4 ± 24.4 (81.0)"
    assert format_stat(Stat(40.6, 30.7, 38.0, 10, 0)) == "40.6 ± 30.7 (38.0)"
    assert format_stat(Stat(1.0, math.nan, 1.0, 1, 0)) == "1.0 ± – (1.0)"
    assert format_stat(Stat(math.nan, math.nan, math.nan, 0, 3)) == "–"


# -- evaluation -------------------------------------------------------------
def test_evaluate_predictions_tables():
    mask = np.zeros((4, 16, 16), bool)
    mask[:, 4:10, 4:10] = True
    prob = np.where(mask, 0.8, 0.1).astype(np.float16)
    prob[1] = 0.0  # nothing predicted
    slices, patients = evaluate_predictions(
        prob, mask, ["a", "a", "b", "b"], [0, 1, 0, 1], ["train", "train", "test", "test"], 0.5, mask_metrics()
    )
    assert list(slices.columns[:7]) == ["patient", "z", "split", "dice", "hd95", "avd", "case"]
    assert slices["dice"].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert math.isnan(slices["hd95"][1]) and slices["case"][1] == "pred_empty"
    assert patients.to_dict("list") == {
        "patient": ["a", "b"],
        "split": ["train", "test"],
        "dice_pp": [pytest.approx(2 / 3), 1.0],
        "slices": [2, 2],
    }


def test_threshold_is_applied_as_greater_or_equal_in_full_precision():
    mask = np.ones((1, 4, 4), bool)
    prob = np.full((1, 4, 4), 0.2998, np.float16)  # float16 rounds 0.3 to 0.30005
    slices, _ = evaluate_predictions(prob, mask, ["a"], [0], ["test"], threshold=0.3, metrics=mask_metrics("dice"))
    assert slices["dice"][0] == 0.0
    slices, _ = evaluate_predictions(
        prob, mask, ["a"], [0], ["test"], threshold=float(np.float16(0.2998)), metrics=mask_metrics("dice")
    )
    assert slices["dice"][0] == 1.0


def test_evaluate_run_writes_tables_and_reports(tmp_path):
    run = make_run(tmp_path / "run")
    summary = evaluate_run(run, REGISTRY)
    slices = pd.read_csv(run / "metrics_slices.csv")
    patients = pd.read_csv(run / "metrics_patients.csv")
    assert len(slices) == 12 and {"patient", "z", "split", "dice", "hd95", "avd"} <= set(slices.columns)
    assert patients.columns.tolist() == ["patient", "split", "dice_pp", "slices"]
    assert set(summary.splits) == {"train", "test"} and list(summary.splits)[0] == "train"
    assert summary.undefined_slices["train"] == 1 and summary.splits["train"]["hd95"].undefined == 1
    train = slices[slices["split"] == "train"]
    assert summary.splits["train"]["dice"].mean == pytest.approx(train["dice"].mean())
    assert summary.splits["train"]["hd95"].median == pytest.approx(train["hd95"].median())
    assert summary.splits["test"]["dice_pp"].n == 1
    report = (run / "report.md").read_text()
    assert "| pathogan (Tr) |" in report and "HD95 (mm)" in report and "Dice PP (%)" in report
    assert format_stat(summary.splits["test"]["dice"], percent=True) in report
    loaded = Summary.load(run / "summary.json")
    assert loaded.splits["train"]["dice"] == summary.splits["train"]["dice"]
    assert json.loads((run / "summary.json").read_text())["run"]["supervision"] == "weak"


def test_evaluate_run_respects_spacing_metrics_and_convention(tmp_path):
    run = make_run(tmp_path / "run", spacing=(2.0, 2.0))
    plain = evaluate_run(make_run(tmp_path / "plain"), REGISTRY, metrics=["hd"])
    summary = evaluate_run(run, REGISTRY, metrics=["hd", "avd_mean"], empty="brats")
    assert summary.unit == "mm" and summary.metrics == ["hd", "avd_mean"] and summary.empty == "brats"
    assert summary.splits["test"]["hd"].mean == pytest.approx(2 * plain.splits["test"]["hd"].mean)
    assert "HD (mm)" in (run / "report.md").read_text()


def test_evaluate_run_reports_bad_directories(tmp_path):
    with pytest.raises(UserError, match="run.json"):
        evaluate_run(tmp_path, REGISTRY)
    run = make_run(tmp_path / "run")
    (run / "predictions.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"predictions.npz: cannot read"):
        evaluate_run(run, REGISTRY)
    np.savez(run / "predictions.npz", prob=np.zeros((1, 4, 4)))
    with pytest.raises(UserError, match="missing arrays mask"):
        evaluate_run(run, REGISTRY)


def test_summarise_counts_slices_with_any_undefined_distance():
    slices = pd.DataFrame(
        {
            "patient": ["a"] * 3,
            "z": [0, 1, 2],
            "split": ["test"] * 3,
            "dice": [1.0, 0.0, 0.5],
            "hd95": [0.0, math.nan, 2.0],
            "avd": [0.0, math.nan, math.nan],
        }
    )
    patients = pd.DataFrame({"patient": ["a"], "split": ["test"], "dice_pp": [0.6], "slices": [3]})
    metrics = ["dice", "hd95", "avd", "dice_pp"]
    summary = summarise(slices, patients, RunFacts(model="m", spacing=[1, 1]), metrics, "default", facts_of(*metrics))
    assert summary.undefined_slices["test"] == 2
    assert summary.splits["test"]["avd"].undefined == 2 and summary.splits["test"]["dice_pp"].mean == 0.6


def test_report_counts_skipped_bad_cases():
    slices = pd.DataFrame({"patient": ["a"], "z": [0], "split": ["test"], "dice": [1.0]})
    patients = pd.DataFrame({"patient": ["a"], "split": ["test"], "dice_pp": [1.0], "slices": [1]})
    run = RunFacts(model="m", spacing=[1, 1], skipped_cases=["bad-1", "bad-2"])
    facts = facts_of("dice", "dice_pp")
    markdown = render_markdown(summarise(slices, patients, run, ["dice", "dice_pp"], "default", facts))
    assert "2 case(s) left out: bad-1, bad-2" in markdown
    clean = render_markdown(
        summarise(slices, patients, RunFacts(model="m", spacing=[1, 1]), ["dice", "dice_pp"], "default", facts)
    )
    assert "skipped" not in clean


def test_print_summary_shows_every_cell(tmp_path):
    from rich.console import Console

    summary = evaluate_run(make_run(tmp_path / "run"), REGISTRY)
    console = Console(record=True, width=60, file=open(tmp_path / "out.txt", "w"))
    print_summary(summary, console=console)
    text = console.export_text()
    assert "pathogan (Te)" in text and format_stat(summary.splits["test"]["hd95"]) in text


def test_evaluate_command_end_to_end(tmp_path):
    run = make_run(tmp_path / "run")
    result = invoke_cli("evaluate", str(run), "--metrics", "dice,hd95,assd,dice_pp", "--empty", "brats")
    assert result.code == 0, result.output
    assert "pathogan (Tr)" in result.output and "ASSD" in result.output
    assert pd.read_csv(run / "metrics_slices.csv").columns[3:6].tolist() == ["dice", "hd95", "assd"]
    bad = invoke_cli("evaluate", str(run), "--metrics", "dice,nope")
    assert bad.code == 2 and "unknown metric 'nope'" in bad.err


# -- figures ------------------------------------------------------------------
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.slow
def test_fig2_with_and_without_generated_images(tmp_path):
    from pathogan_bench.figures.slices import fig2

    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32)).astype(np.float32)
    mask = np.zeros((32, 32), bool)
    mask[10:20, 12:22] = True
    prob = np.where(mask, 0.9, 0.05)
    full = fig2(
        tmp_path / "full.png",
        images,
        prob,
        mask,
        inpaintings=images * 0.5,
        translated=images * 0.8,
        channel_names=("flair", "t1c"),
        title="test slice",
        extra_probs={"unet": prob * 0.8},
    )
    minimal = fig2(tmp_path / "min.png", images[0], prob, mask)
    width_full, height_full = _png_size(full)
    width_min, height_min = _png_size(minimal)
    assert width_full > width_min and height_full > height_min
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written left behind


@pytest.mark.slow
def test_fig2_shows_dice_difference_map_and_orientation(tmp_path, monkeypatch):
    import matplotlib.figure

    from pathogan_bench.figures import slices as slice_figures

    captured = {}
    original = slice_figures.save_figure

    def keep(path, fig):
        captured["texts"] = (
            [t.get_text() for ax in fig.axes for t in [ax.title, *ax.texts]]
            + [t.get_text() for t in fig.texts]
            + [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        )
        captured["labels"] = [ax.yaxis.label.get_text() for ax in fig.axes]
        captured["images"] = [im.get_array() for ax in fig.axes for im in ax.images]
        assert isinstance(fig, matplotlib.figure.Figure)
        return original(path, fig)

    monkeypatch.setattr(slice_figures, "save_figure", keep)
    images = np.zeros((2, 8, 6), np.float32)
    images[0, 0, -1] = 1.0  # x = 0, y = last: patient's left and anterior in RAS
    mask = np.zeros((8, 6), bool)
    mask[2:5, 2:4] = True
    prob = np.where(mask, 0.9, 0.0)
    prob[5, 2] = 0.9  # one false positive pixel: Dice = 2 * 6 / (7 + 6)
    slice_figures.fig2(
        tmp_path / "f.png",
        images,
        prob,
        mask,
        translated=images * 0.5,
        channel_names=("t1c", "flair"),
        affine=np.eye(4),
    )
    texts = "\n".join(captured["texts"])
    assert f"Dice {100 * 12 / 13:.1f}%" in texts
    assert "|input − translation|" in texts and "FLAIR: ground truth" in texts
    assert "ground truth outline" in texts and "prediction: probability ≥ 0.5" in texts
    assert "patient left on image right, anterior up" in texts and "yellow" not in texts
    first = np.asarray(captured["images"][0])
    assert first.shape == (6, 8) and first[0, -1] == 1.0  # anterior-left voxel at the top right


@pytest.mark.slow
def test_sample_grid_is_readable(tmp_path):
    import torch

    from pathogan_bench.figures.samples import column_title, save_sample_grid

    assert column_title("l_A") == "drawn label map\n($l_{A}$)"
    assert column_title("y_B = G_A(x_A)").startswith("result: drawn pathology")
    assert column_title("something else") == "something else"
    x = torch.rand(4, 4, 64, 64) * 2 - 1
    label = torch.rand(4, 1, 64, 64)
    panels = {
        "x_A (healthy)": x,
        "l_A": label,
        "p_A": x,
        "y_B = G_A(x_A)": x,
        "x_B (pathological)": x,
        "l_B (segmentation)": label,
        "p_B": x,
        "y_A = G_B(x_B)": x,
    }
    path = save_sample_grid(
        tmp_path / "grid.png",
        panels,
        title="step 1",
        channel_names=("t1", "t1c", "t2", "flair"),
        affine=np.diag([-1.0, -1.0, 1.0, 1.0]),
    )
    width, height = _png_size(path)
    assert 800 < width < 2000 and height < 1200
    cyclegan = {
        "x_A (healthy)": x,
        "G_AB(x_A)": x,
        "x_B (pathological)": x,
        "G_BA(x_B)": x,
        "|x_B - G_BA(x_B)|": (x - x.flip(0)).abs().mean(1, keepdim=True),
    }
    assert _png_size(save_sample_grid(tmp_path / "cyc.png", cyclegan))[0] < 2000


@pytest.mark.slow
def test_compare_real_resizes_and_writes_here(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke_cli("data", "compare-real", shared_data / "brats2013-deepmedic", "--size", "64")
    assert code == 0, err
    assert (tmp_path / "synthetic-vs-real.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "docs").exists()
