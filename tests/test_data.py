"""Data: naming schemes, preprocessing, slice selection, augmentation, cache, synthetic data, bad input."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import invoke_cli

from pathogan_bench.data import (
    AugmentConfig,
    Augmenter,
    PreprocessConfig,
    prepare_slices,
    split_patients,
    synthesize,
)
from pathogan_bench.data.intensity import normalise_volume
from pathogan_bench.data.slices import MINOR
from pathogan_bench.engine.batches import select_training
from pathogan_bench.engine.datasets import read_dataset
from pathogan_bench.errors import UserError
from pathogan_bench.registry import create, get_registry

SHAPE = (32, 32, 12)


def write(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def volume(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.zeros(SHAPE, np.float32)
    data[6:26, 6:26, :] = rng.normal(100, 20, (20, 20, SHAPE[2]))
    return data


def label(tumour_slices=(5, 6, 7)) -> np.ndarray:
    seg = np.zeros(SHAPE, np.uint8)
    for z in tumour_slices:
        seg[10:16, 10:16, z] = 2
        seg[12:14, 12:14, z] = 4
    seg[10, 10, 9] = 1  # one tumour pixel: neither healthy nor pathological
    return seg


def brats2021_case(root: Path, pid: str, mods=("t1n", "t1c", "t2w", "t2f"), seg=True) -> Path:
    for i, m in enumerate(mods):
        write(root / pid / f"{pid}-{m}.nii.gz", volume(i))
    if seg:
        write(root / pid / f"{pid}-seg.nii.gz", label())
    return root / pid


def test_brats2021_scheme(tmp_path):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    brats2021_case(tmp_path, "BraTS-GLI-00002-000")
    cases = read_dataset(get_registry(), "auto", tmp_path)
    assert cases.scheme == "brats2021" and len(cases) == 2
    assert cases.modalities == ("flair", "t1", "t1c", "t2")
    assert cases.cases[0].label is not None


def test_brats2017_scheme_in_hgg_lgg_folders(tmp_path):
    for grade, pid in (("HGG", "Brats17_TCIA_101_1"), ("LGG", "Brats17_2013_5_1")):
        for m in ("flair", "t1", "t1ce", "t2"):
            write(tmp_path / grade / pid / f"{pid}_{m}.nii.gz", volume())
        write(tmp_path / grade / pid / f"{pid}_seg.nii.gz", label())
    cases = read_dataset(get_registry(), "auto", tmp_path, modalities=["flair", "t1ce"])
    assert cases.scheme == "brats2017" and len(cases) == 2 and cases.modalities == ("flair", "t1c")


def test_brats2013_deepmedic_scheme(tmp_path):
    for pid in ("brats_2013_pat0001_1", "brats_2013_pat0002_1"):
        write(tmp_path / pid / "Flair_subtrMeanDivStd.nii.gz", volume())
        write(tmp_path / pid / "T1c_subtrMeanDivStd.nii.gz", volume(1))
        write(tmp_path / pid / "brainmask.nii.gz", (volume() > 0).astype(np.uint8))
        write(tmp_path / pid / "OTMultiClass.nii.gz", label())
    cases = read_dataset(get_registry(), "auto", tmp_path)
    assert cases.scheme == "brats2013" and cases.modalities == ("flair", "t1c")
    assert cases.cases[0].brain_mask is not None


def test_unlabelled_case_is_kept_with_domain_minus_one(tmp_path):
    brats2021_case(tmp_path, "BraTS-GLI-00003-000", seg=False)
    table = prepare_slices(create("dataset", "brats2021", tmp_path), PreprocessConfig(slice_range=None), None, False)
    assert (table.domain == -1).all() and len(table) == SHAPE[2] and not table.masks.any()


def test_preprocessing_statistics_and_selection(tmp_path):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    cases = create("dataset", "brats2021", tmp_path, modalities=["flair"])
    table = prepare_slices(cases, PreprocessConfig(slice_range=(2, 10), pathological_min_pixels=20), None, False)
    # slices 5-7 have 36 tumour pixels (pathological), 9 has one (minor: scored, never trained on), the rest none
    assert table.z[table.domain == 1].tolist() == [5, 6, 7]
    assert table.z[table.domain == 0].tolist() == [2, 3, 4, 8, 10]
    assert table.z[table.domain == MINOR].tolist() == [9]
    assert table.images.min() >= -1 and table.images.max() <= 1
    assert table.images.shape == (9, 1, 32, 32)
    raw = np.random.default_rng(0).normal(50, 10, (20, 20, 20)).astype(np.float32)
    brain = np.ones_like(raw, bool)
    norm = normalise_volume(raw, brain, std=1 / 3, clip=10.0)
    # statistics of the winsorised intensities: within 0.5% of the plain ones on normal data
    assert abs(norm.mean()) < 1e-3 and abs(norm.std() - 1 / 3) < 0.005 * (1 / 3)
    clipped = normalise_volume(raw, brain)
    assert clipped.max() <= 1 and clipped.min() >= -1 and (np.abs(clipped) == 1).any()


def test_resize_keeps_masks_aligned(tmp_path):
    """A FLAIR-bright tumour off the centre and longer in one axis than the other: after resizing, the mask still
    covers the bright pixels (a flip or transpose of the mask alone would move it off them)."""
    pid = "BraTS-GLI-00001-000"
    brats2021_case(tmp_path, pid)
    seg = np.zeros(SHAPE, np.uint8)
    seg[8:20, 10:14, 4:8] = 2
    flair = volume(3)
    flair[seg > 0] += 400
    write(tmp_path / pid / f"{pid}-t2f.nii.gz", flair)
    write(tmp_path / pid / f"{pid}-seg.nii.gz", seg)
    table = prepare_slices(
        create("dataset", "brats2021", tmp_path), PreprocessConfig(slice_range=None, image_size=16), None, False
    )
    assert table.images.shape[-2:] == (16, 16) and table.masks.shape[-2:] == (16, 16)
    flair_channel = table.modalities.index("flair")
    for i in np.flatnonzero(table.domain == 1):
        mask = table.masks[i].astype(bool).reshape(16, 16)
        bright = table.images[i, flair_channel] > 0.5
        assert mask.any() and bright.any()
        assert (mask & bright).sum() / (mask | bright).sum() > 0.6, f"slice {i}: mask and bright tumour apart"
        assert (mask & bright).sum() / (mask.T & bright).sum() > 2, f"slice {i}: a transposed mask fits as well"


def test_cache_is_reused_and_invalidated(tmp_path):
    root = tmp_path / "data"
    brats2021_case(root, "BraTS-GLI-00001-000")
    cache = tmp_path / "cache"
    config = PreprocessConfig(slice_range=None)
    prepare_slices(create("dataset", "brats2021", root), config, cache, False)
    assert len(list(cache.iterdir())) == 1
    again = prepare_slices(create("dataset", "brats2021", root), config, cache, False)
    assert isinstance(again.images, np.memmap)  # served from the cache
    prepare_slices(create("dataset", "brats2021", root), PreprocessConfig(slice_range=(0, 5)), cache, False)
    assert len(list(cache.iterdir())) == 2  # a new config, a new entry
    write(root / "BraTS-GLI-00001-000" / "BraTS-GLI-00001-000-t2f.nii.gz", volume(7) * 2)
    prepare_slices(create("dataset", "brats2021", root), config, cache, False)
    assert len(list(cache.iterdir())) == 3  # changed input file, a new entry


def test_splits_are_by_patient_and_reproducible():
    patients = [f"p{i}" for i in range(10)]
    a, b = split_patients(patients, (0.6, 0.2, 0.2), seed=3), split_patients(patients, (0.6, 0.2, 0.2), seed=3)
    assert a == b and [len(a[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(sum(a.values(), [])) == sorted(patients)
    assert split_patients(patients, (0.6, 0.2, 0.2), seed=4) != a
    four = split_patients(patients[:4], (0.6, 0.2, 0.2), seed=0)
    assert [len(four[k]) for k in ("train", "val", "test")] == [2, 1, 1]


def test_stratified_split_gives_every_split_pathological_patients():
    patients = [f"p{i}" for i in range(6)]
    pathological = set(patients[2:])  # p0 and p1 are tumour-free
    for seed in range(20):
        split = split_patients(patients, (0.6, 0.2, 0.2), seed=seed, pathological=pathological)
        assert sorted(sum(split.values(), [])) == patients
        assert set(split["test"]) & pathological
        assert set(split["val"]) & pathological and set(split["train"]) & pathological
        # 4 pathological patients give 2 / 1 / 1, the 2 tumour-free ones 1 / 0 / 1 (largest remainders)
        assert [len(split[k]) for k in ("train", "val", "test")] == [3, 1, 2]
        assert len({"p0", "p1"} & set(split["train"])) == 1


def test_select_training_caps_each_domain():
    from pathogan_bench.data.slices import SliceTable

    domain = np.array([0] * 10 + [1] * 20 + [-1] * 3, np.int8)
    table = SliceTable(
        np.zeros((33, 1, 4, 4), np.float32),
        np.zeros((33, 4, 4), bool),
        domain,
        np.array(["p"] * 33),
        np.arange(33),
        ("flair",),
    )
    healthy, patho = select_training(table, 4, 50, seed=0)
    assert len(healthy) == 4 and (domain[healthy] == 0).all()
    assert len(patho) == 20 and (domain[patho] == 1).all()


def test_augmentation_identity_when_disabled_and_aligned_otherwise():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(3, 2, 64, 64, generator=gen) * 2 - 1
    masks = torch.zeros(3, 64, 64, dtype=torch.bool)
    masks[:, 20:34, 24:40] = True
    images[:, 0][masks] = 5.0  # a distinctive value marks the lesion in channel 0
    off = Augmenter(AugmentConfig(mirror=False, rotation=0, scale_base=1, elastic_std=0))
    same, same_masks = off(images, masks)
    assert torch.equal(same, images) and torch.equal(same_masks, masks)
    out, out_masks = Augmenter()(images, masks, generator=torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out_masks.dtype == torch.bool
    inside = out[:, 0][out_masks]
    assert inside.numel() > 0 and (inside > 3.0).float().mean() > 0.9  # the mask still covers the lesion
    a, _ = Augmenter()(images, None, generator=torch.Generator().manual_seed(2))
    b, _ = Augmenter()(images, None, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_synthetic_is_deterministic_and_plausible(tmp_path):
    synthesize(tmp_path / "a", patients=3, size=32, seed=5, healthy_fraction=0.34, progress=False)
    synthesize(tmp_path / "b", patients=3, size=32, seed=5, healthy_fraction=0.34, progress=False)
    for f in ("SYN-00002/SYN-00002-t2f.nii.gz", "SYN-00003/SYN-00003-seg.nii.gz"):
        assert np.array_equal(
            nib.load(str(tmp_path / "a" / f)).get_fdata(), nib.load(str(tmp_path / "b" / f)).get_fdata()
        )
    seg = nib.load(str(tmp_path / "a/SYN-00003/SYN-00003-seg.nii.gz")).get_fdata()
    assert set(np.unique(seg)) <= {0, 1, 2, 4} and {2, 4} <= set(np.unique(seg))
    per_slice = (seg > 0).sum((0, 1))
    assert (per_slice > 0).any() and (per_slice == 0).any()
    assert nib.load(str(tmp_path / "a/SYN-00001/SYN-00001-seg.nii.gz")).get_fdata().max() == 0  # tumour-free subject
    flair = nib.load(str(tmp_path / "a/SYN-00003/SYN-00003-t2f.nii.gz")).get_fdata()
    t1c = nib.load(str(tmp_path / "a/SYN-00003/SYN-00003-t1c.nii.gz")).get_fdata()
    assert np.median(flair[seg == 2]) > 1.3 * np.median(flair[(seg == 0) & (flair > 0)])  # edema bright on FLAIR
    assert np.median(t1c[seg == 4]) > 1.3 * np.median(t1c[(seg == 0) & (t1c > 0)])  # enhancing rim bright on T1c
    assert (flair[0] == 0).all()  # skull stripped: nothing at the border


@pytest.mark.slow
def test_slice_counts_on_real_data(shared_data):
    cases = read_dataset(get_registry(), "auto", shared_data / "brats2013-deepmedic")
    assert cases.scheme == "brats2013" and len(cases) == 4
    table = prepare_slices(cases, PreprocessConfig(), None, False)
    for pid in table.patients():
        seg = nib.load(str(shared_data / "brats2013-deepmedic" / pid / "OTMultiClass.nii.gz")).get_fdata()[:, :, 60:101]
        area = (seg > 0).sum((0, 1))
        mine = table.patient == pid
        assert (table.domain[mine] == 0).sum() == (area == 0).sum()
        assert (table.domain[mine] == 1).sum() == (area > 20).sum()
        assert (table.domain[mine] == MINOR).sum() == ((area > 0) & (area <= 20)).sum()
    assert len(table) == 164 and table.images.shape[1:] == (2, 240, 240)


# -- bad input -----------------------------------------------------------------
def test_missing_modality(tmp_path, capsys):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000", mods=("t1n", "t2f"))
    code, _, err = invoke_cli("data", "prepare", str(tmp_path), "--modalities", "flair,t1c")
    assert code == 2 and "modality t1c missing" in err and "BraTS-GLI-00001-000" in err and err.count("\n") == 1


def test_mismatched_shapes(tmp_path, capsys):
    case = brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    write(case / "BraTS-GLI-00001-000-t1c.nii.gz", np.zeros((16, 16, 12), np.float32))
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and "t1c.nii.gz" in err and "differs" in err


def test_truncated_and_non_nifti_files(tmp_path, capsys):
    case = brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    target = case / "BraTS-GLI-00001-000-t2f.nii.gz"
    target.write_bytes(target.read_bytes()[:200])
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and "t2f.nii.gz" in err and "not a readable NIfTI" in err
    with gzip.open(target, "wb") as fh:
        fh.write(b"hello, not an image")
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and "not a readable NIfTI" in err


def test_4d_image_and_nans(tmp_path, capsys):
    case = brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    write(case / "BraTS-GLI-00001-000-t1n.nii.gz", np.zeros(SHAPE + (2,), np.float32))
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and "t1n.nii.gz" in err and "expected a 3D volume" in err
    bad = volume()
    bad[3, 3, 3] = np.nan
    write(case / "BraTS-GLI-00001-000-t1n.nii.gz", bad)
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and "NaN" in err


def test_empty_folder(tmp_path, capsys):
    code, _, err = invoke_cli("data", "prepare", str(tmp_path))
    assert code == 2 and str(tmp_path) in err and "no BraTS-style NIfTI cases" in err


def test_label_values_outside_the_scheme_and_skipping(tmp_path, capsys):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    case = brats2021_case(tmp_path, "BraTS-GLI-00002-000")
    seg = label()
    seg[0, 0, 0] = 7
    write(case / "BraTS-GLI-00002-000-seg.nii.gz", seg)
    code, _, err = invoke_cli("data", "prepare", str(tmp_path), "--slices", "0-11")
    assert code == 2 and "seg.nii.gz" in err and "outside the scheme" in err
    table = prepare_slices(
        create("dataset", "brats2021", tmp_path), PreprocessConfig(slice_range=None, skip_bad_cases=True), None, False
    )
    assert table.skipped == ("BraTS-GLI-00002-000",) and table.patients() == ["BraTS-GLI-00001-000"]
    with pytest.raises(UserError):
        prepare_slices(create("dataset", "brats2021", tmp_path), PreprocessConfig(slice_range=None), None, False)


@pytest.mark.slow
def test_show_and_synth_commands(tmp_path, capsys):
    code, _, _ = invoke_cli("data", "synth", "--out", str(tmp_path / "syn"), "--patients", "3", "--size", "32")
    assert code == 0 and len([p for p in (tmp_path / "syn").iterdir() if p.is_dir()]) == 3
    code, _, _ = invoke_cli(
        "data", "show", str(tmp_path / "syn"), "--out", str(tmp_path / "grid.png"), "--cache", str(tmp_path / "cache")
    )
    assert code == 0 and (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = invoke_cli("data", "synth", "--out", str(tmp_path / "x"), "--size", "50")
    assert code == 2


# -- normalisation never corrupts values -----------------------------------------------
def test_normalisation_near_the_float32_limit_is_finite_and_scale_invariant():
    raw = volume(3)
    brain = raw != 0
    reference = normalise_volume(raw, brain)
    huge = (raw / raw.max() * np.float32(3.0e38)).astype(np.float32)  # float32 statistics overflow here
    out = normalise_volume(huge, brain)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_one_hot_voxel_does_not_flatten_a_modality():
    raw = volume(3)
    brain = raw != 0
    reference = normalise_volume(raw, brain)
    hot = raw.copy()
    hot[12, 12, 6] = 1e30
    out = normalise_volume(hot, brain)
    assert out[12, 12, 6] == 1.0  # the outlier is clipped ...
    others = brain.copy()
    others[12, 12, 6] = False
    assert np.abs(out[others] - reference[others]).max() < 0.01  # ... and the rest keeps its contrast
    assert out[others].std() > 0.3


def test_normalisation_refuses_non_finite_input_and_a_mask_of_another_shape():
    raw = volume()
    raw[1, 1, 1] = np.inf
    with pytest.raises(UserError, match="img.nii.gz: contains NaN or infinite"):
        normalise_volume(raw, raw != 0, name="img.nii.gz")
    with pytest.raises(UserError, match="brain mask shape"):
        normalise_volume(volume(), np.ones((4, 4, 4), bool))


@pytest.mark.slow
def test_robust_normalisation_barely_changes_real_scans(shared_data):
    from pathogan_bench.data.cases import read_volume

    folder = shared_data / "brats2013-deepmedic" / "brats_2013_pat0001_1"
    flair = read_volume(folder / "Flair_subtrMeanDivStd.nii.gz").data
    brain = read_volume(folder / "brainmask.nii.gz").data > 0
    values = flair[brain].astype(np.float64)
    plain = np.clip((values - values.mean()) / values.std() / 3, -1, 1)
    assert np.abs(normalise_volume(flair, brain)[brain] - plain).max() < 0.01


def test_values_near_the_float32_limit_give_a_finite_cache(tmp_path):
    case = brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    big = volume(3)
    write(case / "BraTS-GLI-00001-000-t2f.nii.gz", (big / big.max() * np.float32(3.0e38)).astype(np.float32))
    code, _, err = invoke_cli("data", "prepare", tmp_path / "data", "--slices", "0-11", "--cache", tmp_path / "cache")
    assert code == 0, err
    images = np.load(next((tmp_path / "cache").glob("*/images.npy")))
    assert np.isfinite(images).all() and images.min() >= -1 and images.max() <= 1


# -- nothing is dropped silently ---------------------------------------------------------
def test_a_case_missing_a_modality_is_an_error_unless_allowed(tmp_path):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    brats2021_case(tmp_path, "BraTS-GLI-00002-000", mods=("t1n", "t2w", "t2f"))
    with pytest.raises(UserError, match="modality t1c missing for BraTS-GLI-00002-000"):
        read_dataset(get_registry(), "auto", tmp_path)
    cases = read_dataset(get_registry(), "auto", tmp_path, allow_missing_modalities=True)
    assert cases.modalities == ("flair", "t1", "t1c", "t2")  # the case is dropped, not the modality
    assert [c.patient_id for c in cases] == ["BraTS-GLI-00001-000"]
    assert cases.skipped == ["BraTS-GLI-00002-000"]
    assert cases.skip_reasons == {"BraTS-GLI-00002-000": "modality t1c missing"}
    table = prepare_slices(cases, PreprocessConfig(slice_range=None), None, False)
    assert table.skipped == ("BraTS-GLI-00002-000",)
    code, out, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11")
    assert code == 2 and err.count("\n") == 1 and "BraTS-GLI-00002-000" in err and "t1c missing" in err
    code, out, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11", "--allow-missing-modalities")
    assert code == 0, err
    assert "skipped 1 case(s): BraTS-GLI-00002-000 (modality t1c missing)" in " ".join(out.split())


def test_a_labelled_dataset_with_a_case_without_segmentation_is_an_error_unless_allowed(tmp_path):
    brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    brats2021_case(tmp_path, "BraTS-GLI-00002-000", seg=False)
    with pytest.raises(UserError, match="no segmentation for BraTS-GLI-00002-000"):
        create("dataset", "brats2021", tmp_path)
    cases = create("dataset", "brats2021", tmp_path, allow_unlabelled=True)
    assert len(cases) == 2 and cases.unlabelled == ["BraTS-GLI-00002-000"] and not cases.skipped
    code, _, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11")
    assert code == 2 and err.count("\n") == 1 and "BraTS-GLI-00002-000" in err
    code, out, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11", "--allow-unlabelled")
    assert code == 0 and "BraTS-GLI-00002-000" in out, err


# -- more bad input: one line, exit 2, nothing cached --------------------------------------
def test_complex_image_is_refused(tmp_path):
    case = brats2021_case(tmp_path, "BraTS-GLI-00001-000")
    write(case / "BraTS-GLI-00001-000-t1c.nii.gz", volume().astype(np.complex64))
    code, _, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11")
    assert code == 2 and err.count("\n") == 1 and "t1c.nii.gz: complex-valued image" in err


def test_reversed_slice_range_is_refused_before_anything_is_cached(tmp_path):
    brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    code, _, err = invoke_cli("data", "prepare", tmp_path / "data", "--slices", "100-60", "--cache", tmp_path / "cache")
    assert code == 2 and "--slices" in err and "100-60" in err and "FIRST <= LAST" in err
    assert not (tmp_path / "cache").exists()
    with pytest.raises(UserError, match="slice range"):
        PreprocessConfig(slice_range=(100, 60))


def test_slices_with_few_tumour_pixels_are_kept_as_minor_and_never_trained_on(tmp_path):
    case = brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    seg = np.zeros(SHAPE, np.uint8)
    seg[10:13, 10:13, :] = 2  # 9 tumour pixels per slice: neither healthy nor pathological
    write(case / "BraTS-GLI-00001-000-seg.nii.gz", seg)
    table = prepare_slices(
        create("dataset", "brats2021", tmp_path / "data"), PreprocessConfig(slice_range=None), tmp_path / "cache", False
    )
    assert (table.domain == MINOR).all() and len(table) == SHAPE[2]
    healthy, pathological = select_training(table, 10, 10)
    assert len(healthy) == 0 and len(pathological) == 0


def test_brainmask_of_another_shape_is_one_line(tmp_path):
    folder = tmp_path / "brats_2013_pat0001_1"
    write(folder / "Flair_subtrMeanDivStd.nii.gz", volume())
    write(folder / "brainmask.nii.gz", np.ones((16, 16, 12), np.uint8))
    write(folder / "OTMultiClass.nii.gz", label())
    code, _, err = invoke_cli("data", "prepare", tmp_path, "--slices", "0-11")
    assert code == 2 and err.count("\n") == 1 and "brainmask.nii.gz: brain mask shape" in err


def test_unreadable_folder_is_named(tmp_path, monkeypatch):
    brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    brats2021_case(tmp_path / "data", "BraTS-GLI-00002-000")
    locked = tmp_path / "data" / "BraTS-GLI-00002-000"
    real_scandir = os.scandir

    def scandir(path="."):  # what a user without read permission gets
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, _, err = invoke_cli("data", "prepare", tmp_path / "data", "--slices", "0-11")
    assert code == 2 and err.count("\n") == 1 and f"{locked}: cannot read the folder (permission denied)" in err


def test_unreadable_folder_with_chmod(tmp_path):
    root = tmp_path / "data"
    brats2021_case(root, "BraTS-GLI-00001-000")
    root.chmod(0)
    try:
        try:
            os.listdir(root)
        except PermissionError:
            pass
        else:
            pytest.skip("folder permissions are not enforced for this user (root)")
        code, _, err = invoke_cli("data", "prepare", root)
    finally:
        root.chmod(0o755)
    assert code == 2 and err.count("\n") == 1 and str(root) in err and "permission denied" in err


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    config = PreprocessConfig(slice_range=None)
    first = prepare_slices(create("dataset", "brats2021", tmp_path / "data"), config, tmp_path / "cache", False)
    entry = next((tmp_path / "cache").iterdir())
    (entry / "images.npy").write_bytes((entry / "images.npy").read_bytes()[:100])
    again = prepare_slices(create("dataset", "brats2021", tmp_path / "data"), config, tmp_path / "cache", False)
    np.testing.assert_array_equal(np.asarray(again.images), first.images)


# -- cache folders are as shared as the umask allows ---------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_cache_folders_follow_the_umask(tmp_path, umask):
    from pathogan_bench.data import synthetic_root

    brats2021_case(tmp_path / "data", "BraTS-GLI-00001-000")
    old = os.umask(umask)
    try:
        prepare_slices(
            create("dataset", "brats2021", tmp_path / "data"),
            PreprocessConfig(slice_range=None),
            tmp_path / "cache",
            False,
        )
        synthetic = synthetic_root(tmp_path / "syn", patients=2, size=32)
    finally:
        os.umask(old)
    entry = next((tmp_path / "cache").iterdir())
    for folder in (entry, synthetic, synthetic / "SYN-00001"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask, folder
    for file in [
        *entry.iterdir(),
        synthetic / ".complete",
        synthetic / "dataset.json",
        synthetic / "SYN-00001" / "SYN-00001-t2f.nii.gz",
    ]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file
