"""The MSD, nnU-Net, BIDS and IXI readers and the healthy-cohort protocol, on nibabel's real brain scan."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import invoke_cli
from layout_builders import (
    ANATOMICAL,
    CENTRES,
    NIBABEL_DATA,
    SHAPE,
    bids,
    contrasts,
    ixi,
    lesion,
    msd,
    nnunet,
    real_anatomy,
    save,
)

from pathogan_bench.config import RunConfig
from pathogan_bench.data import PreprocessConfig, prepare_slices
from pathogan_bench.data.slices import HEALTHY, PATHOLOGICAL
from pathogan_bench.engine.datasets import detect_layout, read_dataset
from pathogan_bench.errors import UserError
from pathogan_bench.registry import create, get_registry

BUILDERS = {"msd": msd, "nnunet": nnunet, "bids": bids, "ixi": ixi}


@pytest.fixture
def anatomy():
    """nibabel's anatomical.nii (skips when this nibabel build lacks it)."""
    return real_anatomy()


# -- each reader on real anatomy ----------------------------------------------------------------------------------
def test_msd_reads_channels_by_dataset_json_and_labels_by_its_table(tmp_path, anatomy):
    root = msd(tmp_path / "Task01_BrainTumour", n=4, n_test=1)
    cases = create("dataset", "msd", root)
    assert cases.scheme == "msd" and len(cases) == 4 and cases.modalities == ("flair", "t1", "t1c", "t2")
    case = cases.cases[0]
    stack, info = case.load_all(cases.modalities)
    expected = contrasts(lesion(CENTRES[0]))
    for i, m in enumerate(cases.modalities):  # the 4th-axis channel that dataset.json names
        np.testing.assert_array_equal(stack[i], expected[m])
    np.testing.assert_allclose(info.affine, anatomy[1])
    assert info.spacing == (2.0, 2.0, 2.0)
    tumour = case.load_label()
    assert tumour is not None and tumour.sum() == (lesion(CENTRES[0]) > 0).sum()  # labels 1-3 are the whole tumour
    # channels in another order in dataset.json follow it
    other = msd(tmp_path / "reordered", n=1, n_test=0, channels=("T2w", "t1gd", "FLAIR", "T1w"))
    stack2, _ = create("dataset", "msd", other, modalities=["flair", "t2"]).cases[0].load_all(("flair", "t2"))
    np.testing.assert_array_equal(stack2, stack[[0, 3]])
    # imagesTs is left out unless asked for, then kept unlabelled
    with_tests = create("dataset", "msd", root, test_images=True)
    assert len(with_tests) == 5 and with_tests.unlabelled == ["BRATS_005"]


def test_nnunet_reads_channel_files_and_labels(tmp_path, anatomy):
    root = nnunet(tmp_path / "Dataset001_BrainTumour", n=3, n_test=1)
    cases = create("dataset", "nnunet", root)
    assert cases.scheme == "nnunet" and len(cases) == 3 and cases.modalities == ("flair", "t1", "t1c", "t2")
    case = cases.cases[1]
    assert case.images["t1c"].name == "BRATS_002_0002.nii.gz" and case.label.name == "BRATS_002.nii.gz"
    stack, info = case.load_all(("t1c",))
    np.testing.assert_array_equal(stack[0], contrasts(lesion(CENTRES[1]))["t1c"])
    np.testing.assert_allclose(info.affine, anatomy[1])
    assert case.load_label().sum() == (lesion(CENTRES[1]) > 0).sum()
    assert len(create("dataset", "nnunet", root, test_images=True)) == 4


def test_nnunet_refuses_a_channel_name_that_is_no_mri_modality(tmp_path):
    root = nnunet(tmp_path / "ds", n=1, channels=("FLAIR", "T1w"))
    desc = json.loads((root / "dataset.json").read_text())
    desc["channel_names"]["1"] = "CT"
    (root / "dataset.json").write_text(json.dumps(desc))
    with pytest.raises(UserError, match='channel 1 "CT"'):
        create("dataset", "nnunet", root)


def test_bids_sessions_contrast_entity_and_derivative_lesion_masks(tmp_path, anatomy):
    root = bids(tmp_path / "bids", n=3)
    cases = create("dataset", "bids", root)
    assert [c.patient_id for c in cases] == ["sub-01_ses-1", "sub-02", "sub-03_ses-1"]
    assert cases.modalities == ("flair", "t1", "t1c", "t2")
    case = cases.cases[0]
    assert case.images["t1c"].name == "sub-01_ses-1_ce-gadolinium_T1w.nii.gz"
    assert case.label is not None and "derivatives" in case.label.parts
    stack, info = case.load_all(cases.modalities)
    np.testing.assert_array_equal(stack[2], contrasts(lesion(CENTRES[0]))["t1c"])
    np.testing.assert_allclose(info.affine, anatomy[1])
    assert case.load_label().sum() == (lesion(CENTRES[0]) > 0).sum()
    healthy = create("dataset", "bids", bids(tmp_path / "healthy", n=2, lesions=False, sessions=False))
    assert len(healthy) == 2 and healthy.unlabelled == ["sub-01", "sub-02"]


def test_ixi_naming_in_per_modality_folders(tmp_path, anatomy):
    root = ixi(tmp_path / "IXI", n=3)
    cases = create("dataset", "ixi", root)
    assert [c.patient_id for c in cases] == ["IXI001-Guys-0801", "IXI002-Guys-0802", "IXI003-Guys-0803"]
    assert cases.modalities == ("t1", "t2") and cases.unlabelled == [c.patient_id for c in cases]  # PD not read
    stack, info = cases.cases[0].load_all(("t1", "t2"))
    np.testing.assert_array_equal(stack[0], anatomy[0])
    np.testing.assert_allclose(info.affine, anatomy[1])


def test_auto_detection_recognises_every_layout(tmp_path):
    for name, build in BUILDERS.items():
        root = build(tmp_path / name)
        assert detect_layout(get_registry(), root) == name
        assert read_dataset(get_registry(), "auto", root).scheme == name


@pytest.mark.parametrize("layout", list(BUILDERS))
def test_data_prepare_prints_the_table_of_each_layout(layout, tmp_path):
    root = BUILDERS[layout](tmp_path / layout)
    code, out, err = invoke_cli("data", "prepare", root, "--cache", tmp_path / "cache")
    assert code == 0, err
    assert f"({layout};" in out and "pathological slices" in out
    rows = [re.match(r"^\W*all\W+(\d+)", line) for line in out.splitlines()]
    patients = int(next(m for m in rows if m)[1])
    assert patients == {"msd": 4, "nnunet": 4, "bids": 3, "ixi": 3}[layout]


def test_real_anatomy_preprocesses_into_healthy_and_pathological_slices(tmp_path, anatomy):
    cases = create("dataset", "msd", msd(tmp_path / "msd", n=4, n_test=0))
    table = prepare_slices(cases, PreprocessConfig(slice_range=(0, SHAPE[2] - 1), image_size=32), progress=False)
    assert table.images.shape == (4 * SHAPE[2], 4, 32, 32) and np.isfinite(table.images).all()
    assert (table.domain == HEALTHY).sum() > 0 and (table.domain == PATHOLOGICAL).sum() > 0
    assert table.spacing == pytest.approx((2.0 * 41 / 32, 2.0 * 41 / 32))
    assert set(table.patient[table.domain == PATHOLOGICAL]) == {"BRATS_001", "BRATS_002", "BRATS_004"}


def test_nibabel_copies_of_the_scan_are_read_as_they_are(anatomy):
    """The resampled (4 x 4 x 8 mm) and reoriented (RAS) copies: the readers keep each one's own geometry."""
    from pathogan_bench.data import read_volume

    for name, codes in (("reoriented_anat_moved.nii", ("R", "A", "S")), ("resampled_anat_moved.nii", None)):
        path = NIBABEL_DATA / name
        if not path.is_file():
            continue
        if codes is None:  # NaN outside its field of view: refused in one line
            with pytest.raises(UserError, match="NaN"):
                read_volume(path)
            continue
        volume = read_volume(path)
        assert nib.aff2axcodes(volume.affine) == codes and volume.spacing == (4.0, 4.0, 4.0)
    assert nib.aff2axcodes(nib.load(str(ANATOMICAL)).affine) == ("L", "A", "S")


# -- the healthy-cohort protocol ------------------------------------------------------------------------------------
def cohort_config(data: Path, healthy: Path, tmp_path: Path, model: str = "pathogan", **data_options) -> RunConfig:
    config = RunConfig(model=model, device="cpu", seed=0)
    return dataclasses.replace(
        config,
        data=dataclasses.replace(
            config.data,
            **{
                "path": str(data),
                "healthy_path": str(healthy),
                "modalities": ["t1", "t2"],
                "image_size": 32,
                "cache_dir": str(tmp_path / "cache"),
                **data_options,
            },
        ),
    )


def test_healthy_cohort_joins_the_training_split_only(tmp_path, anatomy):
    from pathogan_bench.engine.prepare import prepare_data

    data = prepare_data(
        cohort_config(msd(tmp_path / "msd", n=4, n_test=0), ixi(tmp_path / "ixi"), tmp_path), get_registry()
    )
    cohort = ["IXI001-Guys-0801", "IXI002-Guys-0802", "IXI003-Guys-0803"]
    assert data.healthy_patients == cohort and set(cohort) <= set(data.splits["train"])
    assert not set(cohort) & set(data.splits["test"] + data.splits["val"])  # the test split stays the labelled data's
    source = data.healthy_source()
    assert source is not None and set(data.table.patient[source]) == set(cohort)
    assert (data.table.domain[source] == HEALTHY).all() and not data.table.masks[source].any()


@pytest.mark.parametrize("supervision_model", ["anoddpm", "pathogan"])
def test_healthy_training_slices_come_from_the_cohort_alone(supervision_model, tmp_path, anatomy):
    from pathogan_bench.engine.batches import training_batches
    from pathogan_bench.engine.plan import plan_run
    from pathogan_bench.engine.prepare import prepare_data

    config = cohort_config(msd(tmp_path / "msd", n=4, n_test=0), ixi(tmp_path / "ixi"), tmp_path, supervision_model)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, augment=False))
    data = prepare_data(config, get_registry())
    batches = training_batches(plan_run(config), data.table, data.indices("train"), data.healthy_source())
    cohort_images = data.table.images[data.healthy_source()]
    assert len(batches.healthy) == len(cohort_images)
    np.testing.assert_array_equal(np.sort(np.asarray(batches.healthy), axis=0), np.sort(cohort_images, axis=0))
    if supervision_model == "anoddpm":
        assert batches.pathological is None
    else:
        assert batches.pathological is not None and len(batches.pathological) > 0


@pytest.mark.parametrize(
    "change, expected",
    [
        ("modalities", "has no flair"),
        ("orientation", "orientation"),
        ("voxel size", "voxel size"),
    ],
)
def test_healthy_cohort_that_cannot_match_is_refused(change, expected, tmp_path, anatomy):
    from pathogan_bench.engine.prepare import prepare_data

    labelled = msd(tmp_path / "msd", n=4, n_test=0)
    affine = anatomy[1].copy()
    if change == "orientation":
        affine[:, 0] *= -1  # the first axis runs the other way: RAS instead of LAS
    if change == "voxel size":
        affine[:3, :3] *= 2
    cohort = ixi(tmp_path / "ixi", affine=affine)
    options = {"modalities": ["flair", "t1"]} if change == "modalities" else {}
    config = cohort_config(labelled, cohort, tmp_path, **options)
    with pytest.raises(UserError, match=expected) as err:
        prepare_data(config, get_registry())
    assert str(cohort) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_run_with_a_healthy_cohort_records_and_reports_it(tmp_path, anatomy):
    labelled, cohort = msd(tmp_path / "msd", n=4, n_test=0), ixi(tmp_path / "ixi")
    config = tmp_path / "run.toml"
    config.write_text(
        "[data]\nimage_size = 32\nn_healthy = 40\nn_pathological = 40\n"
        "[train]\nlog_every = 2\ncheckpoint_every = 1000\nsample_every = 0\n[eval]\nfigure_slices = 0\n"
    )
    code, out, err = invoke_cli(
        "run",
        "--config",
        config,
        "--model",
        "anoddpm",
        "--model-option",
        "width=0.0625",
        "--model-option",
        "sampling_steps=2",
        "--data",
        labelled,
        "--healthy-data",
        cohort,
        "--modalities",
        "t1,t2",
        "--steps",
        "2",
        "--out",
        tmp_path / "runs",
        "--name",
        "cohort",
    )
    assert code == 0, out + err
    run_dir = tmp_path / "runs" / "cohort"
    facts = json.loads((run_dir / "run.json").read_text())
    assert facts["healthy_data"] == str(cohort) and "healthy cohort" in facts["training_data"]
    splits = json.loads((run_dir / "splits.json").read_text())
    assert not any(p.startswith("IXI") for p in splits["test"])
    report = (run_dir / "report.md").read_text()
    assert "different scanners" in report and str(cohort) in report


def test_every_builder_saves_on_the_anatomy_grid(tmp_path, anatomy):
    path = save(tmp_path / "x.nii.gz", contrasts()["t1"])
    assert nib.load(str(path)).shape == SHAPE
