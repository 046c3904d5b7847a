"""How sure a comparison is: per-patient test scores, each model's mean with a bootstrap confidence interval over
patients, a paired test of each model against a reference model, and each model's rank with its bootstrap
distribution (aggregate-then-rank, as the medical-imaging challenge ranking tools report it).

The unit is the test patient: a patient's score is its mean over the training seeds of the runs that tested it,
so seeds do not count as more patients. Every model is compared on the patients all models were tested on.
Statistics come from scipy: ``scipy.stats.bootstrap`` (percentile intervals), ``scipy.stats.wilcoxon`` (two-sided,
paired, on the patients' differences) and ``scipy.stats.false_discovery_control`` (Benjamini-Hochberg over the
models of one endpoint).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .runs import LoadedRun

#: resamples of the patients for the intervals and the rank distributions
RESAMPLES = 10_000
CONFIDENCE = 0.95
#: the model a comparison tests the others against, when it has one
DEFAULT_REFERENCE = "threshold"


@dataclass(frozen=True)
class Endpoint:
    """A per-patient test score a comparison reports: its column, its label, its direction and its unit."""

    key: str
    label: str
    higher_is_better: bool = True
    #: shown in % (ratios) rather than as they are (mm)
    percent: bool = True


#: the scores every run has per test patient, whatever policies it scored
BASE_ENDPOINTS = (
    Endpoint("dice_3d", "3D Dice, model rule"),
    Endpoint("hd95_3d", "3D HD95 (mm), model rule", higher_is_better=False, percent=False),
    Endpoint("dice_pp", "Dice PP, model rule"),
    Endpoint("slice_dice", "slice Dice, model rule"),
    Endpoint("auroc", "AUROC"),
    Endpoint("auprc", "AUPRC"),
)


def policy_endpoint(policy: str, postprocess: str, score: str = "dice_3d") -> Endpoint:
    what = {"dice_3d": "3D Dice", "lesion_dice": "lesion-wise Dice"}[score]
    chain = "" if postprocess == "none" else f" + {postprocess}"
    return Endpoint(f"{score} {policy} {postprocess}", f"{what}, {policy}{chain}")


def patient_scores(runs: list[LoadedRun]) -> pd.DataFrame:
    """One row per model (run label), seed and test patient: every endpoint's score (NaN where a run has none)."""
    rows = []
    for loaded in runs:
        table = _run_patients(loaded)
        if len(table):
            rows.append(table.assign(model=loaded.run.label, seed=loaded.run.seed, fold=loaded.run.fold))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _test(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["split"] == "test"] if len(frame) else frame


def _run_patients(loaded: LoadedRun) -> pd.DataFrame:
    volumes = _test(loaded.tumour_volumes)
    if not len(volumes):
        return pd.DataFrame()
    table = pd.DataFrame({"patient": volumes["patient"].astype(str), "dice_3d": volumes["dice"]})
    table["hd95_3d"] = volumes["hd95"].to_numpy()
    for key in ("auroc", "auprc"):
        table[key] = volumes[key].to_numpy() if key in volumes else math.nan
    patients = _test(loaded.patients)
    if len(patients):
        table = table.merge(patients[["patient", "dice_pp"]].astype({"patient": str}), on="patient", how="left")
    slices = _test(loaded.slices)
    if len(slices) and "dice" in slices:
        means = slices.groupby(slices["patient"].astype(str))["dice"].mean().rename("slice_dice")
        table = table.merge(means, left_on="patient", right_index=True, how="left")
    policies = _test(loaded.policy_patients)
    if len(policies):
        for score in ("dice_3d", "lesion_dice"):
            wide = policies.pivot_table(index="patient", columns=["policy", "postprocess"], values=score)
            wide.columns = [f"{score} {policy} {chain}" for policy, chain in wide.columns]
            table = table.merge(wide, left_on="patient", right_index=True, how="left")
    return table


def endpoints_of(scores: pd.DataFrame) -> list[Endpoint]:
    """The endpoints the runs' scores hold, base ones first, then each policy's (unprocessed chains first)."""
    found = [e for e in BASE_ENDPOINTS if e.key in scores and scores[e.key].notna().any()]
    policy_keys = [c for c in scores.columns if c.startswith(("dice_3d ", "lesion_dice "))]
    for key in sorted(policy_keys, key=lambda k: (k.split(" ")[0] != "dice_3d", k.split(" ", 2)[2] != "none")):
        score, policy, chain = key.split(" ", 2)
        found.append(policy_endpoint(policy, chain, score))
    return found


def per_patient(scores: pd.DataFrame, key: str) -> pd.DataFrame:
    """patient x model: each model's score of each patient, averaged over seeds; only the patients every model
    has a score for."""
    wide = scores.groupby(["patient", "model"], sort=False)[key].mean().unstack("model")
    models = list(dict.fromkeys(scores["model"]))
    return wide[models].dropna()


def _interval(values: np.ndarray, seed: int) -> tuple[float, float]:
    if len(values) < 2 or np.all(values == values[0]):
        return (float(values.mean()), float(values.mean())) if len(values) else (math.nan, math.nan)
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _paired_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1 when every difference is 0)."""
    if not np.any(differences):
        return 1.0
    with warnings.catch_warnings():  # small samples: scipy notes it uses the exact distribution
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(differences).pvalue)


def confidence_table(scores: pd.DataFrame, reference: str | None, seed: int = 0) -> pd.DataFrame:
    """Per endpoint and model: patients, mean and its 95 % bootstrap interval over patients, and against
    ``reference``: the mean paired difference, the Wilcoxon p-value and the Benjamini-Hochberg adjusted one."""
    rows: list[dict[str, Any]] = []
    for endpoint in endpoints_of(scores):
        wide = per_patient(scores, endpoint.key)
        if not len(wide):
            continue
        tested = []
        for model in wide.columns:
            values = wide[model].to_numpy(np.float64)
            low, high = _interval(values, seed)
            row = {
                "endpoint": endpoint.key,
                "label": endpoint.label,
                "model": model,
                "patients": len(values),
                "mean": float(values.mean()),
                "ci_low": low,
                "ci_high": high,
                "higher_is_better": endpoint.higher_is_better,
                "percent": endpoint.percent,
                "reference": reference or "",
                "difference": math.nan,
                "p": math.nan,
                "p_adjusted": math.nan,
            }
            if reference in wide.columns and model != reference:
                differences = values - wide[reference].to_numpy(np.float64)
                row["difference"] = float(differences.mean())
                row["p"] = _paired_p(differences)
                tested.append(len(rows))
            rows.append(row)
        if tested:
            adjusted = stats.false_discovery_control([rows[i]["p"] for i in tested], method="bh")
            for i, p in zip(tested, adjusted):
                rows[i]["p_adjusted"] = float(p)
    return pd.DataFrame(rows)


def rank_table(scores: pd.DataFrame, endpoint: Endpoint, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Per model: its rank by mean score over the patients, and the distribution of that rank over bootstrap
    resamples of the patients (the same resample for every model); also the (resamples x models) ranks."""
    wide = per_patient(scores, endpoint.key)
    if not len(wide):
        return pd.DataFrame(), np.zeros((0, 0))
    values = wide.to_numpy(np.float64)
    sign = -1.0 if endpoint.higher_is_better else 1.0  # rank 1 is the best
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[picks].mean(axis=1)  # (resamples, models)
    ranks = stats.rankdata(sign * means, axis=1, method="min")
    observed = stats.rankdata(sign * values.mean(axis=0), method="min")
    table = pd.DataFrame(
        {
            "endpoint": endpoint.key,
            "model": list(wide.columns),
            "rank": observed.astype(int),
            "median_rank": np.median(ranks, axis=0),
            "rank_low": np.percentile(ranks, 100 * (1 - CONFIDENCE) / 2, axis=0),
            "rank_high": np.percentile(ranks, 100 * (1 + CONFIDENCE) / 2, axis=0),
            "p_first": (ranks == 1).mean(axis=0),
            "patients": len(values),
        }
    ).sort_values(["rank", "median_rank"], kind="stable")
    return table, ranks
