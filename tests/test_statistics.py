"""How sure a comparison is: per-patient scores averaged over seeds, bootstrap intervals, paired tests against the
reference with the Benjamini-Hochberg adjustment, and bootstrap rank distributions, against scipy and hand-made
cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke_cli
from scipy import stats

from pathogan_bench.comparison.statistics import (
    BASE_ENDPOINTS,
    Endpoint,
    confidence_table,
    endpoints_of,
    per_patient,
    rank_table,
)

PATIENTS = [f"P{i}" for i in range(10)]


def scores_of(means: dict[str, float], seeds: int = 2, noise: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per-patient 3D Dice of each model: its mean plus a patient effect every model shares, plus noise."""
    rng = np.random.default_rng(seed)
    patient_effect = rng.normal(0, 0.1, len(PATIENTS))
    rows = []
    for model, mean in means.items():
        for s in range(seeds):
            values = mean + patient_effect + rng.normal(0, noise, len(PATIENTS))
            rows += [{"model": model, "seed": s, "patient": p, "dice_3d": v} for p, v in zip(PATIENTS, values)]
    return pd.DataFrame(rows)


def test_a_patients_score_is_its_mean_over_seeds_and_only_patients_every_model_has_count():
    scores = scores_of({"threshold": 0.6, "dae": 0.65})
    scores.loc[(scores["model"] == "dae") & (scores["patient"] == "P0"), "dice_3d"] = np.nan
    wide = per_patient(scores, "dice_3d")
    assert list(wide.columns) == ["threshold", "dae"] and "P0" not in wide.index and len(wide) == 9
    mine = scores[(scores["model"] == "threshold") & (scores["patient"] == "P3")]["dice_3d"].mean()
    assert wide.loc["P3", "threshold"] == pytest.approx(mine)


def test_intervals_tests_and_adjustment_are_scipys_on_the_patients():
    scores = scores_of({"threshold": 0.6, "dae": 0.7, "unet": 0.61, "pathogan": 0.4})
    table = confidence_table(scores, "threshold").set_index("model")
    wide = per_patient(scores, "dice_3d")
    for model in ("dae", "unet", "pathogan"):
        row = table.loc[model]
        assert row["patients"] == 10 and row["mean"] == pytest.approx(wide[model].mean())
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        differences = wide[model] - wide["threshold"]
        assert row["difference"] == pytest.approx(differences.mean())
        assert row["p"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    raw = [table.loc[m, "p"] for m in ("dae", "unet", "pathogan")]
    adjusted = stats.false_discovery_control(raw, method="bh")
    assert [table.loc[m, "p_adjusted"] for m in ("dae", "unet", "pathogan")] == pytest.approx(adjusted)
    assert np.isnan(table.loc["threshold", "p"])  # the reference is not tested against itself
    # a clear gap is significant on ten patients, a hair's breadth is not
    assert table.loc["dae", "p_adjusted"] < 0.01 and table.loc["unet", "p_adjusted"] > 0.05


def test_the_interval_narrows_with_agreeing_patients_and_is_a_point_for_identical_ones():
    wide = confidence_table(scores_of({"a": 0.6}, noise=0.2), None).iloc[0]
    narrow = confidence_table(scores_of({"a": 0.6}, noise=0.01), None).iloc[0]
    assert (narrow["ci_high"] - narrow["ci_low"]) < (wide["ci_high"] - wide["ci_low"])
    same = pd.DataFrame([{"model": "a", "seed": 0, "patient": p, "dice_3d": 0.5} for p in PATIENTS])
    row = confidence_table(same, None).iloc[0]
    assert row["ci_low"] == row["ci_high"] == 0.5


def test_ranks_follow_the_means_and_their_bootstrap_says_how_sure():
    scores = scores_of({"threshold": 0.6, "dae": 0.8, "unet": 0.605})
    table, ranks = rank_table(scores, Endpoint("dice_3d", "3D Dice"))
    order = table.set_index("model")
    assert list(table["model"])[0] == "dae" and order.loc["dae", "rank"] == 1
    assert order.loc["dae", "p_first"] > 0.99 and order.loc["dae", "rank_high"] == 1
    assert order.loc["threshold", "rank_low"] < order.loc["threshold", "rank_high"]  # the two close ones swap
    assert ranks.shape[1] == 3 and set(np.unique(ranks)) <= {1, 2, 3}
    lower = rank_table(scores, Endpoint("dice_3d", "3D Dice as a distance", higher_is_better=False))[0]
    assert lower.set_index("model").loc["dae", "rank"] == 3  # lower is better: the highest mean ranks last


def test_endpoints_are_the_base_scores_then_every_policy_unprocessed_first():
    frame = pd.DataFrame(
        {
            "dice_3d": [0.5],
            "auprc": [0.4],
            "dice_3d fpr:1 median:5": [0.3],
            "dice_3d fpr:1 none": [0.2],
            "lesion_dice model none": [0.1],
        }
    )
    keys = [e.key for e in endpoints_of(frame)]
    assert keys[:2] == ["dice_3d", "auprc"] and keys[2:] == [
        "dice_3d fpr:1 none",
        "dice_3d fpr:1 median:5",
        "lesion_dice model none",
    ]
    assert {e.key for e in BASE_ENDPOINTS} >= {"dice_3d", "hd95_3d", "auroc", "auprc"}


@pytest.mark.slow
def test_compare_json_prints_the_statistics_of_a_cross_validated_study(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[data]\nsynthetic_patients = 6\nsynthetic_size = 32\nimage_size = 32\nsynthetic_seed = 0\nsplit_seed = 0\n"
        "split_fractions = [0.7, 0.3, 0.0]\n[train]\nsteps = 2\n[eval]\nfigure_slices = 0\n"
    )
    code, out, err = invoke_cli(
        "compare", "--models", "threshold,unet", "--folds", "3", "--config", config, "--out", tmp_path / "s", "--json"
    )
    assert code == 0, err
    found = json.loads(out)
    assert found["reference"] == "threshold" and found["resamples"] == 10_000
    unet = [e for e in found["endpoints"] if e["model"] == "unet" and e["endpoint"] == "dice_3d"]
    assert len(unet) == 1 and unet[0]["patients"] >= 3 and unet[0]["p"] is not None
    assert (tmp_path / "s" / "ranking.png").read_bytes()[:4] == b"\x89PNG"
    text = (tmp_path / "s" / "comparison.md").read_text()
    assert "## How sure the comparison is (test patients)" in text and "vs threshold, p" in text
    runs = sorted((tmp_path / "s" / "runs").iterdir())
    code, out, err = invoke_cli("compare", *runs, "--out", tmp_path / "again")
    assert code == 0, err
    again = (tmp_path / "again" / "comparison.md").read_text()
    assert "## Pooled over folds and seeds" in again or "## Pooled over folds" in again
    assert "## How sure the comparison is" in again and "3 finished runs" not in again
