"""Per-patient volumetric scores: stacking, the 3D metric functions, medpy in 3D, empty masks, golden volumes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import load_golden
from scipy import ndimage

from pathogan_bench.metrics import (
    BRATS_PENALTY,
    MetricInputError,
    assd,
    avd,
    avd_mean,
    dice,
    hd,
    hd95,
    stack_patient,
    volumetric_scores,
)

SPACING = (0.9, 1.1, 2.5)
FUNCTIONS = {"dice": dice, "hd95": hd95, "hd": hd, "assd": assd, "avd": avd, "avd_mean": avd_mean}


def blob(seed: int, shape=(36, 30, 14), level: float = 0.6) -> np.ndarray:
    """A smooth random (H, W, D) blob mask."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    smooth = ndimage.gaussian_filter(noise, sigma=(4, 4, 2))
    return smooth > level * smooth.std()


def as_slices(volume: np.ndarray, first_z: int) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W) slices of an (H, W, D) volume and their axial indices."""
    return np.moveaxis(volume, -1, 0), first_z + np.arange(volume.shape[-1])


def two_patients(seed: int = 0):
    """Slices of two blob patients, shuffled together; returns slices, ids, z and the volumes."""
    vols = {}
    parts = []
    for k, (name, z0) in enumerate((("pat_b", 40), ("pat_a", 7))):
        ref = blob(seed + 10 * k)
        pred = ndimage.binary_dilation(np.roll(ref, (2, -1, 1), axis=(0, 1, 2)), iterations=1)
        vols[name] = (pred, ref)
        (p, z), (r, _) = as_slices(pred, z0), as_slices(ref, z0)
        parts.append((p, r, np.full(len(z), name), z))
    pred, ref, patient, z = (np.concatenate(x) for x in zip(*parts))
    order = np.random.default_rng(seed).permutation(len(z))
    return pred[order], ref[order], patient[order], z[order], vols


def test_stack_patient_order_and_gaps():
    rng = np.random.default_rng(0)
    pred, ref = rng.random((3, 5, 4)) < 0.5, rng.random((3, 5, 4)) < 0.5
    p, r = stack_patient(pred, ref, np.array([15, 12, 13]))
    assert p.shape == r.shape == (5, 4, 4)  # D = 15 - 12 + 1
    for k, depth in enumerate((3, 0, 1)):
        assert (p[:, :, depth] == pred[k]).all() and (r[:, :, depth] == ref[k]).all()
    assert not p[:, :, 2].any() and not r[:, :, 2].any()  # the gap at z = 14 is empty in both


def test_stack_patient_refuses_repeated_or_non_integer_z():
    masks = np.ones((3, 4, 4), dtype=bool)
    with pytest.raises(MetricInputError, match="repeat"):
        stack_patient(masks, masks, [3, 4, 3])
    with pytest.raises(MetricInputError, match="integer"):
        stack_patient(masks, masks, [3.0, 4.0, 5.0])
    with pytest.raises(MetricInputError, match="one per slice"):
        stack_patient(masks, masks, [3, 4])


def test_equals_the_3d_metric_functions_on_the_volumes():
    pred, ref, patient, z, vols = two_patients()
    table = volumetric_scores(pred, ref, patient, z, SPACING, metrics=tuple(FUNCTIONS), workers=1)
    assert list(table["patient"]) == list(dict.fromkeys(patient))  # order of first appearance
    for row in table.itertuples():
        p, r = vols[row.patient]
        for name, function in FUNCTIONS.items():
            assert getattr(row, name) == function(p, r, spacing=SPACING), (row.patient, name)
        assert row.case == "normal"
        assert (row.pred_vox, row.ref_vox, row.slices) == (p.sum(), r.sum(), p.shape[-1])
        assert row.pred_ml == pytest.approx(p.sum() * 0.9 * 1.1 * 2.5 / 1000, rel=1e-15)
        assert row.ref_ml == pytest.approx(r.sum() * 0.9 * 1.1 * 2.5 / 1000, rel=1e-15)


def test_threads_give_the_same_table():
    pred, ref, patient, z, _ = two_patients(3)
    one = volumetric_scores(pred, ref, patient, z, SPACING, workers=1)
    pd.testing.assert_frame_equal(one, volumetric_scores(pred, ref, patient, z, SPACING, workers=2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_medpy_in_3d(seed):
    binary = pytest.importorskip("medpy.metric.binary")
    pred, ref, patient, z, vols = two_patients(seed)
    metrics = ("dice", "hd95", "hd", "assd")
    table = volumetric_scores(pred, ref, patient, z, SPACING, metrics=metrics).set_index("patient")
    for name, (p, r) in vols.items():
        row = table.loc[name]
        assert row["dice"] == pytest.approx(binary.dc(p, r), rel=1e-9)
        assert row["hd95"] == pytest.approx(binary.hd95(p, r, voxelspacing=SPACING), rel=1e-9)
        assert row["hd"] == pytest.approx(binary.hd(p, r, voxelspacing=SPACING), rel=1e-9)
        assert row["assd"] == pytest.approx(binary.assd(p, r, voxelspacing=SPACING), rel=1e-9)


def test_gaps_are_empty_slices_of_the_volume():
    pred, ref, patient, z, vols = two_patients(4)
    keep = ~((patient == "pat_a") & np.isin(z, (12, 13)))  # two slices of pat_a not evaluated
    table = volumetric_scores(
        pred[keep], ref[keep], patient[keep], z[keep], SPACING, metrics=("dice", "hd95")
    ).set_index("patient")
    p, r = (v.copy() for v in vols["pat_a"])
    p[:, :, 5:7] = r[:, :, 5:7] = False  # z = 12, 13 at depth 5, 6 (first z is 7)
    assert table.loc["pat_a", "hd95"] == hd95(p, r, spacing=SPACING)
    assert table.loc["pat_a", "dice"] == dice(p, r)
    assert table.loc["pat_a", "slices"] == vols["pat_a"][0].shape[-1] - 2


def test_empty_masks_follow_the_convention():
    shape = (4, 12, 12)
    tumour = np.zeros(shape, dtype=bool)
    tumour[1:3, 4:8, 4:8] = True
    none = np.zeros(shape, dtype=bool)
    pred = np.concatenate([none, none, tumour])  # healthy: empty prediction, missed, found
    ref = np.concatenate([none, tumour, tumour])
    patient = np.repeat(["healthy", "missed", "found"], 4)
    z = np.tile(np.arange(4), 3)
    default = volumetric_scores(pred, ref, patient, z, (1, 1, 1), metrics=("dice", "hd95", "avd")).set_index("patient")
    assert list(default["case"]) == ["both_empty", "pred_empty", "normal"]
    assert default.loc["healthy", "dice"] == 1.0 and default.loc["healthy", "hd95"] == 0.0
    assert default.loc["missed", "dice"] == 0.0 and math.isnan(default.loc["missed", "hd95"])
    assert default.loc["found", "dice"] == 1.0 and default.loc["found", "hd95"] == 0.0
    brats = volumetric_scores(pred, ref, patient, z, (1, 1, 1), metrics=("dice", "hd95"), empty="brats")
    brats = brats.set_index("patient")
    assert math.isnan(brats.loc["healthy", "dice"]) and math.isnan(brats.loc["healthy", "hd95"])
    assert brats.loc["missed", "dice"] == 0.0 and brats.loc["missed", "hd95"] == BRATS_PENALTY


@pytest.mark.parametrize("spacing", [(1.0, 1.0), 1.0, (1, 1, 1, 1)])
def test_refuses_spacing_without_slice_thickness(spacing):
    pred, ref, patient, z, _ = two_patients()
    with pytest.raises(MetricInputError, match="slice thickness"):
        volumetric_scores(pred, ref, patient, z, spacing)


def test_refuses_bad_options():
    pred, ref, patient, z, _ = two_patients()
    with pytest.raises(MetricInputError, match="positive"):
        volumetric_scores(pred, ref, patient, z, (1, 1, 0))
    with pytest.raises(MetricInputError, match="already"):
        volumetric_scores(pred, ref, patient, z, SPACING, metrics=("dice_pp",))
    with pytest.raises(MetricInputError, match="unknown metric"):
        volumetric_scores(pred, ref, patient, z, SPACING, metrics=("nope",))
    with pytest.raises(MetricInputError, match="patient"):
        volumetric_scores(pred, ref, patient[:-1], z, SPACING)
    with pytest.raises(MetricInputError, match="repeat"):
        volumetric_scores(pred, ref, np.full(len(z), "one"), np.zeros(len(z), dtype=int), SPACING)


@pytest.fixture(scope="module")
def golden():
    loaded = load_golden()
    return {**loaded, "volumes": loaded["table"][loaded["table"]["z"] == "60-100"]}


def _golden_tables(golden, metrics: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    pairs = golden["pairs"]
    out = {}
    for perturbation in np.unique(pairs["perturbation"]):
        sel = pairs["perturbation"] == perturbation
        out[str(perturbation)] = volumetric_scores(
            golden["pred"][sel],
            golden["ref"][sel],
            pairs["patient"][sel],
            pairs["z"][sel].astype(np.int64),
            (1.0, 1.0, 1.0),
            metrics=metrics,
        ).set_index("patient")
    return out


def test_golden_volumes_dice_and_voxels(golden):
    volumes = golden["volumes"]
    assert len(volumes) == 24
    tables = _golden_tables(golden, ("dice",))
    for row in volumes.itertuples():
        ours = tables[row.perturbation].loc[row.patient]
        assert ours["dice"] == pytest.approx(row.medpy_dice, rel=1e-6, abs=0)
        assert (ours["pred_vox"], ours["ref_vox"], ours["slices"]) == (row.pred_px, row.gt_px, 41)


def test_golden_volumes_distances(golden):
    volumes = golden["volumes"]
    columns = {"hd95": "medpy_hd95", "hd": "medpy_hd", "assd": "medpy_assd"}
    defined = {m: c for m, c in columns.items() if volumes[c].notna().any()}
    if not defined:
        pytest.skip("the golden volume rows have no 3D distance values (only Dice and voxel counts)")
    tables = _golden_tables(golden, tuple(defined))
    for row in volumes.itertuples():
        for metric, column in defined.items():
            expected = getattr(row, column)
            if not math.isnan(expected):
                assert tables[row.perturbation].loc[row.patient, metric] == pytest.approx(expected, rel=1e-6, abs=0)
