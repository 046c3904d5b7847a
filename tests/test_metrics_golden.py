"""Every row of the golden table: the metrics equal the named reference columns to 1e-6 relative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_golden

from pathogan_bench.metrics import dice_pp, score_batch

#: toolkit metric -> golden column it must match (see metrics-golden/README.md)
REFERENCE = {
    "dice": "medpy_dice",
    "hd95": "medpy_hd95",
    "hd": "medpy_hd",
    "assd": "medpy_assd",
    "avd": "evalseg_avd_max",
    "avd_mean": "evalseg_avgdist_tool",
}
RTOL = 1e-6


@pytest.fixture(scope="module")
def golden():
    loaded = load_golden()
    table, pairs, pred, ref = loaded["table"], loaded["pairs"], loaded["pred"], loaded["ref"]
    index = {
        (str(p), str(int(z)), str(t)): i
        for i, (p, z, t) in enumerate(zip(pairs["patient"], pairs["z"], pairs["perturbation"]))
    }
    slices = table[table["z"] != "60-100"].reset_index(drop=True)
    slices["i"] = [index[(p, z, t)] for p, z, t in zip(slices["patient"], slices["z"], slices["perturbation"])]
    volumes = table[table["z"] == "60-100"].reset_index(drop=True)
    return {"slices": slices, "volumes": volumes, "pred": pred, "ref": ref, "pairs": pairs}


@pytest.fixture(scope="module")
def scores(golden):
    return {
        empty: score_batch(golden["pred"], golden["ref"], tuple(REFERENCE), spacing=(1.0, 1.0), empty=empty)
        for empty in ("default", "brats")
    }


def _mismatches(ours: np.ndarray, expected: np.ndarray, rows: pd.DataFrame) -> list[str]:
    close = np.isclose(ours, expected, rtol=RTOL, atol=0.0)
    return [
        f"{r.patient} z={r.z} {r.perturbation} ({r.case}): ours {o!r}, reference {e!r}"
        for r, o, e, ok in zip(rows.itertuples(), ours, expected, close)
        if not ok
    ]


@pytest.mark.slow
def test_golden_has_every_row(golden):
    assert len(golden["slices"]) + len(golden["volumes"]) == 1008
    assert len(golden["slices"]) == len(golden["pred"]) == 984


@pytest.mark.slow
@pytest.mark.parametrize("metric", list(REFERENCE))
def test_metric_matches_reference_on_every_defined_row(golden, scores, metric):
    rows = golden["slices"]
    expected = rows[REFERENCE[metric]].to_numpy(np.float64)
    defined = ~np.isnan(expected)
    assert defined.sum() >= 780  # every pair with both masks non-empty, and Dice everywhere
    ours = scores["default"].values[metric][rows["i"].to_numpy()]
    bad = _mismatches(ours[defined], expected[defined], rows[defined])
    assert not bad, f"{len(bad)} rows differ:\n" + "\n".join(bad[:20])


def test_undefined_reference_rows_are_the_empty_cases(golden, scores):
    rows = golden["slices"]
    case = scores["default"].case_names()[rows["i"].to_numpy()]
    undefined = rows["medpy_hd95"].isna().to_numpy()
    assert set(rows.loc[undefined, "case"]) <= {"pred_empty", "gt_empty", "both_empty"}
    # our case names agree with the golden ones
    assert (np.where(case == "ref_empty", "gt_empty", case) == rows["case"].to_numpy()).all()


def test_default_convention_on_empty_rows(golden, scores):
    rows = golden["slices"]
    values = {m: v[rows["i"].to_numpy()] for m, v in scores["default"].values.items()}
    both = (rows["case"] == "both_empty").to_numpy()
    one = rows["case"].isin(["pred_empty", "gt_empty"]).to_numpy()
    assert both.any() and one.any()
    assert (values["dice"][both] == 1.0).all() and (values["dice"][one] == 0.0).all()
    for metric in ("hd95", "hd", "assd", "avd", "avd_mean"):
        assert (values[metric][both] == 0.0).all()
        assert np.isnan(values[metric][one]).all()


def test_brats_convention_matches_brats_evaluation(golden, scores):
    rows = golden["slices"]
    ours = {m: v[rows["i"].to_numpy()] for m, v in scores["brats"].values.items()}
    for metric, column in (("hd95", "brats_hd95"), ("dice", "brats_dice")):
        expected = rows[column].to_numpy(np.float64)
        same = np.isclose(ours[metric], expected, rtol=RTOL, atol=0.0, equal_nan=True)
        bad = [
            f"{r.patient} z={r.z} {r.perturbation} ({r.case}): {o!r} vs {e!r}"
            for r, o, e, ok in zip(rows.itertuples(), ours[metric], expected, same)
            if not ok
        ]
        assert not bad, f"{metric}: {len(bad)} rows differ:\n" + "\n".join(bad[:20])
    assert (ours["hd95"][(rows["case"] == "no_overlap").to_numpy()] == 373.0).all()


def test_dice_pp_matches_every_volumetric_row(golden):
    pairs, volumes = golden["pairs"], golden["volumes"]
    assert len(volumes) == 24
    bad = []
    for row in volumes.itertuples():
        sel = (pairs["patient"] == row.patient) & (pairs["perturbation"] == row.perturbation)
        assert sel.sum() == 41
        ours = dice_pp(golden["pred"][sel], golden["ref"][sel])
        if not np.isclose(ours, row.medpy_dice, rtol=RTOL, atol=0.0):
            bad.append(f"{row.patient} {row.perturbation}: {ours!r} vs {row.medpy_dice!r}")
    assert not bad, "\n".join(bad)


def test_dice_pp_grouped_equals_per_patient_stacks(golden):
    pairs = golden["pairs"]
    sel = pairs["perturbation"] == "flair_lcc"
    grouped = dice_pp(golden["pred"][sel], golden["ref"][sel], pairs["patient"][sel])
    expected = golden["volumes"].query("perturbation == 'flair_lcc'").set_index("patient")["medpy_dice"]
    assert list(grouped) == list(dict.fromkeys(pairs["patient"][sel]))
    for patient, value in grouped.items():
        assert value == pytest.approx(expected[patient], rel=RTOL)
