"""The evaluation protocol: split files, a separate test folder, patient cross-validation, seeds kept apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.data import fold_patients, fold_split, read_split_file, synthesize
from pathogan_bench.errors import UserError

PATIENTS = [f"P{i}" for i in range(1, 10)]
PATHOLOGICAL = set(PATIENTS[:6])


def test_folds_test_every_patient_once_and_keep_splits_apart():
    folds = fold_patients(PATIENTS, 3, seed=1, pathological=PATHOLOGICAL)
    assert sorted(p for fold in folds for p in fold) == sorted(PATIENTS)
    assert all(len(set(fold) & PATHOLOGICAL) == 2 for fold in folds)  # stratified: 6 pathological over 3 folds
    for k in (1, 2, 3):
        split = fold_split(PATIENTS, 3, k, (0.75, 0.25, 0.0), seed=1, pathological=PATHOLOGICAL)
        assert split["test"] == folds[k - 1]
        assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(split["test"])
        assert sorted(split["train"] + split["val"] + split["test"]) == sorted(PATIENTS)
        assert split["val"]  # the val fraction applies to the patients left for training
    assert fold_patients(PATIENTS, 3, seed=2, pathological=PATHOLOGICAL) != folds  # the split seed moves the folds


def test_folds_need_a_pathological_patient_each():
    with pytest.raises(UserError, match="--folds 7: only 6 patients have pathological slices"):
        fold_patients(PATIENTS, 7, pathological=PATHOLOGICAL)
    with pytest.raises(UserError, match="fold 4 of 3"):
        fold_split(PATIENTS, 3, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"train": ["P1"], "test": ["P9", "P10"]}', "patient(s) not in the data: P10"),
        ('{"train": ["P1", "P2"], "test": ["P2"]}', "patient P2 is in both train and test"),
        ('{"train": ["P1"], "holdout": ["P2"]}', "unknown split name(s) holdout"),
        ('{"train": [], "test": ["P2"]}', "the training split is empty"),
        ('["P1"]', "expected a JSON object of patient lists"),
        ('{"train": ["P1"', "cannot read the split file"),
    ],
)
def test_split_file_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "splits.json"
    path.write_text(content)
    with pytest.raises(UserError) as info:
        read_split_file(path, PATIENTS)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_split_file_lists_what_it_leaves_out(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"train": ["P3", "P1"], "val": [], "test": ["P2"]}))
    splits, left_out = read_split_file(path, PATIENTS)
    assert splits == {"train": ["P1", "P3"], "val": [], "test": ["P2"]}
    assert left_out == PATIENTS[3:]


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    return config


@pytest.mark.slow
def test_run_accepts_its_own_splits_json(tmp_path):
    config = _config(tmp_path)
    first = invoke_cli("run", "--config", config, "--model", "threshold", "--out", tmp_path / "runs", "--name", "a")
    assert first.code == 0, first.err
    splits = json.loads((tmp_path / "runs" / "a" / "splits.json").read_text())
    again = invoke_cli(
        "run",
        "--config",
        config,
        "--model",
        "threshold",
        "--out",
        tmp_path / "runs",
        "--name",
        "b",
        "--seed",
        "5",
        "--split-file",
        tmp_path / "runs" / "a" / "splits.json",
    )
    assert again.code == 0, again.err
    assert json.loads((tmp_path / "runs" / "b" / "splits.json").read_text()) == splits
    info = json.loads((tmp_path / "runs" / "b" / "run.json").read_text())
    assert info["split_protocol"].startswith("split file") and info["seeds"]["training"] == 5


def test_protocols_exclude_each_other(tmp_path):
    both = invoke_cli(
        "run",
        "--config",
        _config(tmp_path),
        "--data",
        tmp_path,
        "--split-file",
        tmp_path / "s.json",
        "--test-data",
        tmp_path,
    )
    assert both.code == 2 and "give one of them" in both.err and both.err.count("\n") == 1
    folds = invoke_cli("run", "--config", _config(tmp_path), "--split-file", tmp_path / "s.json", "--folds", "2")
    assert folds.code == 2 and "leave out --split-file" in folds.err and folds.err.count("\n") == 1


def _renamed_copy(source: Path, target: Path, prefix: str) -> Path:
    """A copy of a synthetic data folder whose patients are called PREFIX-... (another site's patients)."""
    target.mkdir(parents=True)
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        new = target / folder.name.replace("SYN", prefix)
        new.mkdir()
        for file in folder.iterdir():
            shutil.copy(file, new / file.name.replace("SYN", prefix))
    return target


def test_test_data_folder_is_the_test_split(tmp_path):
    train = synthesize(tmp_path / "site-a", patients=4, size=32, seed=1)
    test = _renamed_copy(synthesize(tmp_path / "raw-b", patients=2, size=32, seed=2), tmp_path / "site-b", "EXT")
    common = ("--config", _config(tmp_path), "--model", "threshold", "--out", tmp_path / "runs")
    result = invoke_cli("run", *common, "--name", "ext", "--data", train, "--test-data", test)
    assert result.code == 0, result.err
    splits = json.loads((tmp_path / "runs" / "ext" / "splits.json").read_text())
    assert splits["test"] == ["EXT-00001", "EXT-00002"]
    assert not any(p.startswith("EXT") for p in splits["train"] + splits["val"])
    slices = pd.read_csv(tmp_path / "runs" / "ext" / "metrics_slices.csv")
    assert set(slices.loc[slices["split"] == "test", "patient"]) <= {"EXT-00001", "EXT-00002"}
    clash = invoke_cli("run", *common, "--name", "clash", "--data", train, "--test-data", train)
    assert clash.code == 2 and "are also in" in clash.err and clash.err.count("\n") == 1


@pytest.mark.slow
def test_cross_validation_runs_every_fold_pools_and_resumes(tmp_path):
    args = ("run", "--config", _config(tmp_path), "--model", "threshold", "--out", tmp_path / "runs", "--folds", "2")
    first = invoke_cli(*args)
    assert first.code == 0, first.err
    folder = tmp_path / "runs" / "cv-threshold-2folds"
    tested = [
        json.loads((folder / "runs" / f"threshold-fold{k}-seed0" / "splits.json").read_text())["test"] for k in (1, 2)
    ]
    assert not set(tested[0]) & set(tested[1])
    report = (folder / "comparison.md").read_text()
    for heading in ("## Pooled over folds and seeds", "## Where the spread comes from", "## Per fold", "## Every run"):
        assert heading in report
    assert "2-fold patient cross-validation" in report
    assert "not comparable" not in report  # the folds of one cross-validation split the patients differently on purpose
    again = invoke_cli(*args)  # the same command continues: both folds are reused
    assert again.code == 0 and again.out.count("reusing finished run") + again.err.count("reusing finished run") == 2
    assert "0 runs trained or resumed and 2 reused" in again.err
    assert (folder / "comparison_policies.csv").is_file() and (folder / "policies.png").read_bytes()[:4] == b"\x89PNG"
    changed = invoke_cli(*args, "--slices", "7-14")  # finished folds are never replaced silently
    assert changed.code == 2 and "(data.slice_range)" in changed.err and "--move-aside" in changed.err
    moved = invoke_cli(*args, "--slices", "7-14", "--move-aside")
    assert moved.code == 0, moved.err
    assert "training threshold-fold1-seed0 again: data.slice_range" in moved.err
    assert len(list((folder / "runs").glob("threshold-fold1-seed0.replaced-*"))) == 1


@pytest.mark.slow
def test_compare_seeds_vary_training_only(tmp_path):
    result = invoke_cli(
        "compare",
        "--config",
        _config(tmp_path),
        "--models",
        "unet",
        "--n-seeds",
        "2",
        "--steps",
        "2",
        "--model-option",
        "width=0.0625",
        "--out",
        tmp_path / "cmp",
    )
    assert result.code == 0, result.err
    infos = [json.loads((tmp_path / "cmp" / "runs" / f"unet-seed{s}" / "run.json").read_text()) for s in (0, 1)]
    assert infos[0]["data"] == infos[1]["data"]  # one generated dataset
    assert [i["seeds"] for i in infos] == [
        {"training": 0, "split": 0, "data": 0},
        {"training": 1, "split": 0, "data": 0},
    ]
    splits = [(tmp_path / "cmp" / "runs" / f"unet-seed{s}" / "splits.json").read_text() for s in (0, 1)]
    assert splits[0] == splits[1]
    assert "Varied: the training seed (0, 1" in (tmp_path / "cmp" / "comparison.md").read_text()


@pytest.mark.slow
def test_stopped_folds_continue_with_the_same_command(tmp_path):
    args = (
        "run",
        "--config",
        _config(tmp_path),
        "--model",
        "unet",
        "--steps",
        "4",
        "--model-option",
        "width=0.0625",
        "--out",
        tmp_path / "runs",
        "--folds",
        "2",
        "--name",
        "cv",
    )
    stopped = invoke_cli(*args, "--stop-at", "2")
    assert stopped.code == 0, stopped.err
    assert "no comparison written yet" in stopped.out + stopped.err
    assert not (tmp_path / "runs" / "cv" / "comparison.md").exists()
    resumed = invoke_cli(*args)
    assert resumed.code == 0, resumed.err
    assert (resumed.out + resumed.err).count("(resumed)") == 2
    for k in (1, 2):
        info = json.loads((tmp_path / "runs" / "cv" / "runs" / f"unet-fold{k}-seed0" / "run.json").read_text())
        assert info["status"] == "done" and info["steps_done"] == 4
    assert (tmp_path / "runs" / "cv" / "comparison.md").is_file()


def test_whole_scans_are_scored_inside_the_brain(tmp_path):
    result = invoke_cli(
        "run", "--config", _config(tmp_path), "--model", "threshold", "--out", tmp_path / "runs", "--name", "w"
    )
    assert result.code == 0, result.err
    run_dir = tmp_path / "runs" / "w"
    with np.load(run_dir / "predictions.npz") as data:
        prob, brain, domain, mask = data["prob"], data["brain"], data["domain"], data["mask"]
        split, threshold = data["split"], float(data["threshold"])
    assert set(np.unique(domain)) >= {0, 1}  # healthy slices are segmented too
    assert (prob[~brain] == 0).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in ("train", "test"):
        rows = split == name
        healthy = rows & (domain == 0)
        detected = (prob[healthy] >= threshold).reshape(int(healthy.sum()), -1).any(axis=1)
        assert summary["detection"][name]["healthy_slices"] == int(healthy.sum())
        assert summary["detection"][name]["healthy_slices_with_detection"] == int(detected.sum())
        assert summary["scope"][name]["pathological"] == int((rows & (domain == 1)).sum())
        assert 0.0 <= summary["threshold_free"][name]["auroc"] <= 1.0
    slices = pd.read_csv(run_dir / "metrics_slices.csv")
    assert len(slices) == int((domain == 1).sum())  # Table 1 stays the paper's pathological slices
    volumes = pd.read_csv(run_dir / "metrics_volumes.csv")
    assert {"patient", "split", "dice", "hd95", "avd", "pred_ml", "ref_ml"} <= set(volumes)
    assert (volumes["ref_vox"] > 0).sum() >= 1 and mask.any()
    report = (run_dir / "report.md").read_text()
    assert "## Whole scans" in report and "healthy slices with detection" in report and "optimistic" in report


@pytest.mark.slow
def test_comparison_tables_include_the_label_fraction_runs(tmp_path):
    result = invoke_cli(
        "compare",
        "--config",
        _config(tmp_path),
        "--models",
        "unet,threshold",
        "--steps",
        "2",
        "--model-option",
        "width=0.0625",
        "--label-fractions",
        "0.5,1",
        "--out",
        tmp_path / "cmp",
    )
    assert result.code == 0, result.err
    report = (tmp_path / "cmp" / "comparison.md").read_text()
    pooled = report.split("## Where")[0]
    assert "| unet (50% labels) (Te) |" in pooled and "| unet (Te) |" in pooled and "| threshold (Te) |" in pooled
    assert (tmp_path / "cmp" / "label-efficiency.png").is_file()
