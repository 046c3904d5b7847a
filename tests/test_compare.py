"""`compare` and `metrics` commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import invoke_cli
from test_report import make_run

from pathogan_bench import metrics as M
from pathogan_bench.comparison import ComparedRun, compare_runs
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry


@pytest.mark.slow
def test_compare_runs_side_by_side(tmp_path):
    a = make_run(tmp_path / "a", model="pathogan", shift=2)
    b = make_run(tmp_path / "b", model="unet", shift=0)
    table = compare_runs([a, b], tmp_path / "out", get_registry())
    assert table["model"].tolist() == ["pathogan", "pathogan", "unet", "unet"]
    assert {"supervision", "loss_set", "data", "dice_mean", "hd95_median", "avd_undefined", "dice_pp_mean"} <= set(
        table
    )
    unet_test = table[(table["model"] == "unet") & (table["split"] == "test")].iloc[0]
    assert unet_test["dice_mean"] == 1.0 and unet_test["hd95_mean"] == 0.0
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "| unet (Te) | full | full | ? | synthetic | 100.0 ± 0.0 (100.0) |" in markdown
    csv = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert len(csv) == 4
    assert (tmp_path / "out" / "dice-boxplot.png").read_bytes()[:4] == b"\x89PNG"
    assert (a / "summary.json").is_file()  # unscored runs are scored first
    policies = pd.read_csv(tmp_path / "out" / "comparison_policies.csv")
    assert {"pathogan", "unet"} == set(policies["group"]) and "oracle (optimistic)" in set(policies["policy"])
    assert (tmp_path / "out" / "policies.png").read_bytes()[:4] == b"\x89PNG"
    assert "### Threshold policies, pooled over folds and seeds (test)" in markdown


@pytest.mark.slow
def test_compare_command(tmp_path):
    a = make_run(tmp_path / "a", model="pathogan")
    b = make_run(tmp_path / "b", model="pathogan", seed=1)
    result = invoke_cli("compare", str(a), str(b), "--out", str(tmp_path / "cmp"))
    assert result.code == 0, result.output
    assert "pathogan (Te)" in result.output
    assert (tmp_path / "cmp" / "comparison.md").is_file()
    bad = invoke_cli("compare", str(tmp_path), "--out", str(tmp_path / "cmp2"))
    assert bad.code == 2 and "run.json" in bad.err and bad.err.count("\n") == 1


@pytest.mark.slow
def test_same_slices_figure_on_flair_with_affines_and_old_runs(tmp_path, capsys, monkeypatch):
    from pathogan_bench.comparison import figures as comparison_figures

    a = make_run(tmp_path / "a", model="pathogan", shift=2)
    b = make_run(tmp_path / "b", model="unet", shift=0)
    compare_runs([a, b], tmp_path / "out", get_registry())
    assert (tmp_path / "out" / "same-slices.png").read_bytes()[:4] == b"\x89PNG"
    assert "keeps no affines" in capsys.readouterr().err  # runs written before affines were kept say so

    with np.load(b / "predictions.npz") as data:  # a run with FLAIR slices and affines, as written now
        arrays = {k: data[k] for k in data.files if k != "images"}
    n = len(arrays["z"])
    arrays["image"] = np.random.default_rng(0).normal(size=arrays["prob"].shape).astype(np.float16)
    arrays["image_modality"] = np.asarray("flair")
    arrays["affine"] = np.repeat(np.diag([-1.0, -1.0, 1.0, 1.0])[None], n, axis=0)
    np.savez_compressed(b / "predictions.npz", **arrays)
    seen = {}
    original = comparison_figures.save_figure

    def keep(path, fig):
        seen["colorbars"] = [ax for ax in fig.axes if ax.get_ylabel().startswith("probability")]
        seen["texts"] = [t.get_text() for t in fig.texts] + [ax.get_title() for ax in fig.axes]
        return original(path, fig)

    monkeypatch.setattr(comparison_figures, "save_figure", keep)
    runs = [ComparedRun("unet", 0, 1.0, b, "full")]
    assert comparison_figures.same_slices_figure(runs, tmp_path / "new.png") is not None
    assert seen["colorbars"], "the probability colour bar is missing"
    assert "FLAIR: ground truth" in seen["texts"]
    assert any("anterior up" in t and "assumed" not in t for t in seen["texts"])
    assert "keeps no" not in capsys.readouterr().err


def test_compare_needs_a_run():
    with pytest.raises(UserError, match="at least one run"):
        compare_runs([], "out", get_registry())


# -- metrics on NIfTI --------------------------------------------------------
def write_nifti(path: Path, data: np.ndarray, zooms=(1.0, 1.0, 2.0)) -> Path:
    image = nib.Nifti1Image(data.astype(np.int16), np.diag([*zooms, 1.0]))
    image.header.set_zooms(zooms)
    nib.save(image, str(path))
    return path


def volumes() -> tuple[np.ndarray, np.ndarray]:
    ref = np.zeros((24, 24, 6), np.int16)
    ref[5:15, 5:15, 1:4] = 2
    ref[8:10, 8:10, 2] = 4
    pred = np.zeros_like(ref)
    pred[7:17, 5:15, 1:5] = 1
    return pred, ref


def test_metrics_command_on_files_with_header_spacing(tmp_path):
    pred, ref = volumes()
    p = write_nifti(tmp_path / "pred.nii.gz", pred)
    g = write_nifti(tmp_path / "gt.nii.gz", ref)
    out = tmp_path / "scores.csv"
    result = invoke_cli("metrics", str(p), str(g), "--out", str(out))
    assert result.code == 0, result.output
    scores = pd.read_csv(out)
    volume = scores[scores["scope"] == "volume"].iloc[0]
    assert volume["dice"] == pytest.approx(M.dice(pred > 0, ref > 0))
    assert volume["hd"] == pytest.approx(M.hd(pred > 0, ref > 0, spacing=(1.0, 1.0, 2.0)))
    slices = scores[scores["scope"] == "slice"]
    assert slices["z"].astype(int).tolist() == [1, 2, 3, 4]  # slices with foreground in either mask
    assert slices["hd95"].iloc[0] == pytest.approx(M.hd95(pred[:, :, 1] > 0, ref[:, :, 1] > 0))
    assert slices["case"].tolist()[-1] == "ref_empty" and np.isnan(slices["hd95"].iloc[-1])


def test_metrics_command_on_folders_with_options(tmp_path):
    pred, ref = volumes()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for name in ("case1.nii.gz", "case2.nii.gz"):
        write_nifti(tmp_path / "pred" / name, pred)
        write_nifti(tmp_path / "gt" / name, ref)
    out = tmp_path / "scores.csv"
    result = invoke_cli(
        "metrics",
        str(tmp_path / "pred"),
        str(tmp_path / "gt"),
        "--spacing",
        "1,1,1",
        "--labels",
        "4",
        "--empty",
        "brats",
        "--metrics",
        "dice,hd95",
        "--out",
        str(out),
    )
    assert result.code == 0, result.output
    scores = pd.read_csv(out)
    assert sorted(set(scores["file"])) == ["case1.nii.gz", "case2.nii.gz"]
    assert list(scores.columns[3:5]) == ["dice", "hd95"]
    # label 4 only: the prediction (label 1) is empty -> BraTS penalty
    assert (scores[scores["scope"] == "volume"]["hd95"] == 373.0).all()


def test_metrics_command_errors_name_the_file(tmp_path):
    pred, ref = volumes()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_nifti(tmp_path / "pred" / "lonely.nii.gz", pred)
    result = invoke_cli("metrics", str(tmp_path / "pred"), str(tmp_path / "gt"))
    assert result.code == 2 and "lonely.nii.gz" in result.err
    small = write_nifti(tmp_path / "small.nii.gz", ref[:10])
    result = invoke_cli("metrics", str(small), str(write_nifti(tmp_path / "g.nii.gz", ref)))
    assert result.code == 2 and "small.nii.gz" in result.err
    prob = tmp_path / "prob.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 2), 0.5, np.float32), np.eye(4)), str(prob))
    result = invoke_cli("metrics", str(prob), str(prob))
    assert result.code == 2 and "prob.nii.gz: not a label map" in result.err


@pytest.mark.slow
def test_metrics_command_on_real_labels(shared_data):
    seg = shared_data / "brats2013-deepmedic" / "brats_2013_pat0001_1" / "OTMultiClass.nii.gz"
    result = invoke_cli("metrics", str(seg), str(seg), "--metrics", "dice,hd95")
    assert result.code == 0, result.output
    assert "100.00" in result.output


def test_metrics_pairs_segment_output_with_a_dataset_by_case(tmp_path):
    pred, ref = volumes()
    seg, data = tmp_path / "seg", tmp_path / "data"
    for folder in (seg, data / "BraTS-GLI-00001-000", data / "BraTS-GLI-00002-000", data / "brats_2013_pat0001_1"):
        folder.mkdir(parents=True)
    for pid in ("BraTS-GLI-00001-000", "BraTS-GLI-00002-000"):
        write_nifti(seg / f"{pid}-label.nii.gz", pred)
        write_nifti(seg / f"{pid}-prob.nii.gz", pred.astype(np.float32) * 0.7)
        write_nifti(data / pid / f"{pid}-seg.nii.gz", ref)
        write_nifti(data / pid / f"{pid}-t2f.nii.gz", ref.astype(np.float32))
    write_nifti(data / "brats_2013_pat0001_1" / "OTMultiClass.nii.gz", ref)
    write_nifti(seg / "brats_2013_pat0001_1-label.nii.gz", pred)
    result = invoke_cli("metrics", seg, data, "--out", tmp_path / "scores.csv")
    assert result.code == 0, result.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert set(scores.loc[scores["scope"] == "volume", "file"]) == {
        "BraTS-GLI-00001-000",
        "BraTS-GLI-00002-000",
        "brats_2013_pat0001_1",
    }
    write_nifti(seg / "BraTS-GLI-00003-000-label.nii.gz", pred)
    result = invoke_cli("metrics", seg, data)
    assert result.code == 2 and "BraTS-GLI-00003-000-label.nii.gz" in result.err


@pytest.mark.slow
def test_compare_warns_when_runs_were_scored_on_different_data(tmp_path):
    a = make_run(tmp_path / "a", model="pathogan")
    b = make_run(tmp_path / "b", model="unet", seed=1)
    info = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**info, "data": "/elsewhere"}))
    result = invoke_cli("compare", a, b, "--out", tmp_path / "cmp")
    assert result.code == 0, result.output
    assert "different data" in result.err and "/elsewhere" in result.err
    text = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "**Warning:**" in text and "| steps |" in text


def _variant(run_dir: Path, model_options: str = "", steps: int = 1000, seed: int = 0) -> ComparedRun:
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(
        f'model = "pathogan"\npreset = "quick"\n[model_options]\nwidth = 0.125\n{model_options}\n'
        f"[train]\nsteps = {steps}\nthreads = {seed + 1}\n[data]\nimage_size = 64\nfold = {seed + 1}\n"
    )
    return ComparedRun("pathogan", seed, 1.0, run_dir, "weak")


def test_runs_of_one_model_trained_differently_are_told_apart_by_what_differs(tmp_path):
    from pathogan_bench.comparison.runs import mark_variants

    plain = [_variant(tmp_path / f"plain{s}", seed=s) for s in range(2)]  # folds and threads differ: not variants
    field = _variant(
        tmp_path / "field", 'discriminator_field = "reference"\n[model_options.discriminator_options]\nlayers = 2'
    )
    longer = _variant(tmp_path / "longer", steps=3000)
    names = [r.model for r in mark_variants([*plain, field, longer])]
    assert names[:2] == ["pathogan", "pathogan"]  # the usual settings: the plain model's row
    assert names[2] == "pathogan (discriminator_field=reference, discriminator_options.layers=2)"
    assert names[3] == "pathogan (steps=3000)"
    assert [r.model for r in mark_variants([longer, *plain])][
        0
    ] == "pathogan (steps=3000)"  # the majority, not the first
    assert [r.model for r in mark_variants(plain)] == ["pathogan", "pathogan"]  # nothing differs: nothing named
    other = ComparedRun("unet", 0, 1.0, tmp_path / "plain0", "full")  # another model is never compared with these
    assert mark_variants([other, field])[0].model == "unet"


@pytest.mark.slow
def test_an_ablations_variants_are_rows_of_their_own_in_the_comparison(tmp_path):
    runs = []
    for variant, options in (("plain", ""), ("field", 'discriminator_field = "reference"')):
        for seed in (0, 1):
            run_dir = make_run(tmp_path / f"{variant}{seed}", model="pathogan", seed=seed)
            (run_dir / "config.toml").write_text(f'model = "pathogan"\n[model_options]\n{options}\n')
            runs.append(str(run_dir))
    result = invoke_cli("compare", *runs, "--out", str(tmp_path / "cmp"))
    assert result.code == 0, result.output
    policies = pd.read_csv(tmp_path / "cmp" / "comparison_policies.csv")
    assert set(policies["group"]) == {"pathogan", "pathogan (discriminator_field=reference)"}
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| pathogan (discriminator_field=reference) | 2 |" in markdown


def test_the_pooled_translation_table_averages_each_variants_runs():
    from pathogan_bench.comparison.pooled import Pooled, translation_table
    from pathogan_bench.comparison.runs import LoadedRun
    from pathogan_bench.record.facts import RunFacts
    from pathogan_bench.record.summary import Summary

    def loaded(model: str, seed: int, outside: float | None) -> LoadedRun:
        facts = RunFacts(model="pathogan", seed=seed)
        summary = Summary(facts, [], "default", "mm")
        if outside is not None:
            summary.translation = {"test": {"pathological": outside, "healthy": 2 * outside}}
        empty = pd.DataFrame()
        return LoadedRun(
            ComparedRun(model, seed, 1.0, Path(f"r{seed}"), "weak"), facts, summary, empty, empty, empty, empty
        )

    runs = [loaded("pathogan", 0, 0.010), loaded("pathogan", 1, 0.020), loaded("pathogan (ema=0.999)", 2, 0.004)]
    header, rows = translation_table(Pooled.of([*runs, loaded("threshold", 3, None)]))
    assert header[2] == "outside the lesion, pathological slices"
    assert rows == [
        ["pathogan", "2", "0.015 ± 0.007", "0.030 ± 0.014"],
        ["pathogan (ema=0.999)", "1", "0.004", "0.008"],
    ]
