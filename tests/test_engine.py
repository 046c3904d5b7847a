"""Whole runs through the command line on tiny synthetic data: train, resume, report, segment, sample, compare."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_DATA, invoke_cli
from safetensors.numpy import load_file

TINY = (
    TINY_DATA
    + """
[train]
log_every = 2
checkpoint_every = 4
sample_every = 4
[eval]
figure_slices = 2
"""
)
TINY_MODEL = ("--model-option", "width=0.0625")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine")
    (root / "tiny.toml").write_text(TINY)
    return root


@pytest.fixture(scope="module")
def trained_run(workdir) -> Path:
    """One tiny PathoGAN run shared by the tests that only read it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATHOGAN_BENCH_CACHE", str(workdir / "cache"))
        result = invoke_cli(
            "run",
            "--config",
            workdir / "tiny.toml",
            "--steps",
            "6",
            *TINY_MODEL,
            "--out",
            workdir / "runs",
            "--name",
            "trained",
            "--seed",
            "1",
        )
    assert result.code == 0, result.output
    return workdir / "runs" / "trained"


@pytest.fixture
def shared_cache(workdir, monkeypatch) -> None:
    monkeypatch.setenv("PATHOGAN_BENCH_CACHE", str(workdir / "cache"))


def final_weights(run_dir: Path) -> dict[str, np.ndarray]:
    last = sorted((run_dir / "checkpoints").glob("step-*.safetensors"))[-1]
    return load_file(str(last))


@pytest.mark.slow
def test_run_writes_a_complete_run_directory_with_finite_scores(trained_run):
    for name in (
        "config.toml",
        "run.json",
        "splits.json",
        "losses.csv",
        "log.txt",
        "metrics_slices.csv",
        "metrics_patients.csv",
        "summary.json",
        "report.md",
        "predictions.npz",
    ):
        assert (trained_run / name).is_file(), name
    assert not list(trained_run.rglob("*.tmp*"))  # nothing half-written
    info = json.loads((trained_run / "run.json").read_text())
    assert info["status"] == "done" and info["steps_done"] == 6 and info["supervision"] == "weak"
    splits = json.loads((trained_run / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["test"])
    slices = pd.read_csv(trained_run / "metrics_slices.csv")
    test = slices[slices["split"] == "test"]
    assert len(test) > 0 and test["dice"].between(0, 1).all()
    assert set(test["patient"]) <= set(splits["test"])
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary and all(math.isfinite(v) for v in _numbers(summary) if isinstance(v, float))
    losses = pd.read_csv(trained_run / "losses.csv")
    assert losses["step"].tolist() == [2, 4, 6]
    for term in ("gan", "cycle", "vae", "identity", "relevancy", "kl"):
        assert np.isfinite(losses[f"G/{term}"]).all()
    assert "Dice" in (trained_run / "report.md").read_text()
    figures = sorted(p.name for p in (trained_run / "figures").glob("*.png"))
    assert "samples-step-00000004.png" in figures and any(f.startswith("segmentation-") for f in figures)


def _numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _numbers(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _numbers(value)
    else:
        yield tree


@pytest.mark.slow
def test_config_file_reproduces_the_run(trained_run, workdir, capsys, shared_cache):
    code, _, err = invoke_cli(
        "run", "--config", str(trained_run / "config.toml"), "--out", str(workdir / "runs"), "--name", "again"
    )
    assert code == 0, err
    again = workdir / "runs" / "again"
    assert (again / "config.toml").read_text().replace('"again"', '"trained"') == (
        trained_run / "config.toml"
    ).read_text()
    assert json.loads((again / "splits.json").read_text()) == json.loads((trained_run / "splits.json").read_text())
    first, second = final_weights(trained_run), final_weights(again)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_uninterrupted(workdir, capsys, shared_cache):
    common = [
        "--config",
        str(workdir / "tiny.toml"),
        "--steps",
        "6",
        *TINY_MODEL,
        "--deterministic",
        "--out",
        str(workdir / "runs"),
    ]
    code, _, err = invoke_cli("run", *common, "--name", "whole")
    assert code == 0, err
    code, _, err = invoke_cli("run", *common, "--name", "parts", "--stop-at", "3")
    assert code == 0, err
    parts = workdir / "runs" / "parts"
    assert json.loads((parts / "run.json").read_text())["status"] == "stopped"
    assert not (parts / "report.md").exists()
    code, out, err = invoke_cli("run", "--resume", str(parts))
    assert code == 0, err
    whole = final_weights(workdir / "runs" / "whole")
    resumed = final_weights(parts)
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)
    assert pd.read_csv(parts / "losses.csv")["step"].tolist() == [2, 3, 4, 6]


def test_segment_writes_probability_label_and_inpaintings_with_the_input_affine(
    trained_run, workdir, capsys, shared_cache
):
    data_root = Path(json.loads((trained_run / "run.json").read_text())["data"])
    case = sorted(p for p in data_root.iterdir() if p.is_dir())[-1]
    code, _, err = invoke_cli("segment", str(trained_run), str(case), "--out", str(workdir / "seg"))
    assert code == 0, err
    pid = case.name
    source = nib.load(str(next(case.glob("*-t2f.nii.gz"))))
    prob = nib.load(str(workdir / "seg" / f"{pid}-prob.nii.gz"))
    label = nib.load(str(workdir / "seg" / f"{pid}-label.nii.gz"))
    assert prob.shape == source.shape and np.allclose(prob.affine, source.affine)
    values = prob.get_fdata()
    assert values.min() >= 0 and values.max() <= 1
    assert set(np.unique(label.get_fdata())) <= {0.0, 1.0}
    # the run's brain rule: nothing outside the brain (every modality at the background value after preprocessing)
    raw = np.stack([nib.load(str(f)).get_fdata() for f in case.glob("*-t[12]*.nii.gz")])
    outside = ~(raw != 0).any(axis=0)
    assert outside.any() and (values[outside] == 0).all() and (values[~outside] > 0).any()
    for modality in ("flair", "t1", "t1c", "t2"):
        assert (workdir / "seg" / f"{pid}-healthy-{modality}.nii.gz").is_file()


def test_segment_refuses_an_output_that_is_a_file(trained_run, tmp_path):
    data_root = Path(json.loads((trained_run / "run.json").read_text())["data"])
    case = sorted(p for p in data_root.iterdir() if p.is_dir())[0]
    (tmp_path / "taken").write_text("not a folder")
    code, _, err = invoke_cli("segment", trained_run, case, "--out", tmp_path / "taken")
    assert code == 2 and "taken' is a file" in err and len(err.splitlines()) == 1


def test_segment_refuses_a_case_without_the_trained_modalities(trained_run, tmp_path, capsys):
    case = tmp_path / "BraTS-GLI-00009-000"
    case.mkdir()
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.float32), np.eye(4)), str(case / "BraTS-GLI-00009-000-t2f.nii.gz"))
    code, _, err = invoke_cli("segment", str(trained_run), str(case), "--out", str(tmp_path / "seg"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "seg").exists() or not list((tmp_path / "seg").rglob("*.nii.gz"))


@pytest.mark.slow
def test_sample_draws_pathologies_as_png_and_nifti(trained_run, workdir, capsys, shared_cache):
    code, _, err = invoke_cli("sample", str(trained_run), "--n", "3", "--out", str(workdir / "samples"))
    assert code == 0, err
    assert (workdir / "samples" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    image = nib.load(str(workdir / "samples" / "samples-flair.nii.gz"))
    drawn = image.get_fdata()
    assert drawn.shape == (32, 32, 3) and np.isfinite(drawn).all() and drawn.min() >= -1 and drawn.max() <= 1
    spacing = json.loads((trained_run / "run.json").read_text())["spacing"]
    assert np.allclose(image.header.get_zooms()[:2], spacing)  # the slices' pixel size, not an identity affine
    label = nib.load(str(workdir / "samples" / "samples-label.nii.gz"))
    assert label.get_data_dtype() == np.uint8 and set(np.unique(label.get_fdata())) <= {0.0, 1.0}
    prob = nib.load(str(workdir / "samples" / "samples-prob.nii.gz")).get_fdata()
    assert prob.min() >= 0 and prob.max() <= 1


@pytest.mark.slow
def test_a_collapsed_sampler_says_so_on_the_figure(trained_run, workdir, monkeypatch, shared_cache):
    from pathogan_bench_plugins.models.pathogan import commands
    from pathogan_bench_plugins.models.pathogan.model import PathoGAN

    def same_pathology(self, healthy, delta=None, generator=None):
        label = torch.zeros(healthy.shape[0], 1, *healthy.shape[-2:])
        label[..., 8:16, 8:16] = 1.0
        return {"translated": healthy, "label": label, "inpainting": healthy}

    titles = []
    monkeypatch.setattr(PathoGAN, "sample", same_pathology)
    monkeypatch.setattr(commands, "save_sample_grid", lambda path, panels, title, **kw: titles.append(title))
    code, _, err = invoke_cli("sample", str(trained_run), "--n", "3", "--out", str(workdir / "collapsed"))
    assert code == 0, err
    assert "nearly all the same (mean pairwise Dice 1.00)" in titles[0] and "nearly all the same" in err


@pytest.mark.slow
def test_third_party_loss_term_through_the_cli(workdir, capsys, shared_cache):
    pytest.importorskip("pathogan_bench_tv", reason="the example plugin package is not installed")
    code, out, _ = invoke_cli("list", "loss-term", "--json")
    assert code == 0
    listed = {entry["name"]: entry for entry in json.loads(out)["components"]["loss-term"]}
    assert listed["tv"]["source"].startswith("pathogan-bench-tv") and listed["gan"]["source"].startswith(
        "pathogan-bench"
    )
    code, _, err = invoke_cli(
        "run",
        "--config",
        str(workdir / "tiny.toml"),
        "--steps",
        "2",
        *TINY_MODEL,
        "--loss",
        "tv=0.2",
        "--without",
        "relevancy",
        "--out",
        str(workdir / "runs"),
        "--name",
        "tv",
    )
    assert code == 0, err
    losses = pd.read_csv(workdir / "runs" / "tv" / "losses.csv")
    assert "G/tv" in losses and "G/relevancy" not in losses and np.isfinite(losses["G/tv"]).all()
    code, _, err = invoke_cli("run", "--loss", "tvv=0.2", "--out", str(workdir / "runs"))
    assert code == 2 and "tv" in err


@pytest.mark.slow
def test_compare_trains_two_models_on_one_split(workdir, capsys, shared_cache):
    code, out, err = invoke_cli(
        "compare",
        "--models",
        "threshold,unet",
        "--config",
        str(workdir / "tiny.toml"),
        "--steps",
        "2",
        "--out",
        str(workdir / "cmp"),
    )
    assert code == 0, err
    table = pd.read_csv(workdir / "cmp" / "comparison.csv")
    assert set(table["model"]) == {"threshold", "unet"}
    assert set(table["supervision"]) == {"none", "full"}
    assert set(table["loss_set"]) == {"-"}  # neither model optimises a loss set
    runs = [json.loads(p.read_text()) for p in (workdir / "cmp").rglob("run.json")]
    splits = [json.loads((p.parent / "splits.json").read_text()) for p in (workdir / "cmp").rglob("run.json")]
    assert len(runs) == 2 and splits[0] == splits[1]
    assert (workdir / "cmp" / "dice-boxplot.png").is_file()


@pytest.mark.slow
def test_run_on_real_scans_trains_on_two_patients_and_scores_the_other_two(shared_data, tmp_path, capsys):
    config = tmp_path / "real.toml"
    config.write_text(
        "[data]\nimage_size = 48\nslice_range = [30, 130]\nsplit_fractions = [0.5, 0.0, 0.5]\n"
        "n_healthy = 50\nn_pathological = 50\n[eval]\nfigure_slices = 1\n"
    )
    code, _, err = invoke_cli(
        "run",
        "--config",
        str(config),
        "--data",
        str(shared_data / "brats2013-deepmedic"),
        "--modalities",
        "flair,t1c",
        "--steps",
        "2",
        *TINY_MODEL,
        "--out",
        str(tmp_path),
        "--name",
        "r",
    )
    assert code == 0, err
    run = tmp_path / "r"
    splits = json.loads((run / "splits.json").read_text())
    assert len(splits["train"]) == 2 and len(splits["test"]) == 2 and not splits["val"]
    info = json.loads((run / "run.json").read_text())
    assert info["modalities"] == ["flair", "t1c"] and info["spacing"] == [5.0, 5.0]  # 240 px of 1 mm resized to 48
    assert "HD95 (mm)" in (run / "report.md").read_text()
    slices = pd.read_csv(run / "metrics_slices.csv")
    assert set(slices[slices["split"] == "test"]["patient"]) == set(splits["test"])
    # segment one patient of a per-patient layout, its output scored against the dataset's own labels
    patient = shared_data / "brats2013-deepmedic" / "brats_2013_pat0002_1"
    code, out, err = invoke_cli("segment", run, patient, "--out", tmp_path / "seg", "--slices", "60-70")
    assert code == 0, err
    assert "brats_2013_pat0002_1:" in out and "resized to the model's 48x48" in out
    code, out, err = invoke_cli("metrics", tmp_path / "seg", shared_data / "brats2013-deepmedic")
    assert code == 0, err
    assert "brats_2013_pat0002_1" in out


def test_the_figures_include_the_healthy_test_slice_with_the_most_false_positive_pixels():
    from pathogan_bench.data.slices import HEALTHY, PATHOLOGICAL
    from pathogan_bench.engine.infer import Predictions
    from pathogan_bench.engine.run_figures import most_false_positive_healthy

    prob = np.zeros((5, 4, 4), np.float16)
    prob[1, :2] = 0.9  # healthy test slice, 8 false-positive pixels
    prob[2, :1] = 0.9  # healthy test slice, 4
    prob[3] = 0.9  # pathological: never chosen here
    prob[4] = 0.9  # healthy but a training slice
    domain = np.array([HEALTHY, HEALTHY, HEALTHY, PATHOLOGICAL, HEALTHY], np.int8)
    split = np.array(["test", "test", "test", "test", "train"])
    predictions = Predictions(
        prob, np.zeros((5, 4, 4), bool), np.array(["p"] * 5), np.arange(5), split, 0.5, np.arange(10, 15), domain=domain
    )
    assert most_false_positive_healthy(predictions) == 11  # the slice table's row, not the position
    predictions.prob[1:3] = 0
    assert most_false_positive_healthy(predictions) is None
