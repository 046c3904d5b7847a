"""The runs of a model comparison and their test Dice over seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd


@dataclasses.dataclass
class ComparedRun:
    model: str
    seed: int
    label_fraction: float
    run_dir: Path
    supervision: str
    #: cross-validation fold (1-based); 0 = no cross-validation
    fold: int = 0


def _test_dice(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "metrics_slices.csv")
    return frame[frame["split"] == "test"]


def seed_summary(runs: list[ComparedRun]) -> pd.DataFrame:
    """Mean test Dice per run, then mean and spread over seeds per (model, label fraction)."""
    rows = []
    for r in runs:
        test = _test_dice(r.run_dir)
        patients = pd.read_csv(r.run_dir / "metrics_patients.csv")
        rows.append(
            {
                "model": r.model,
                "supervision": r.supervision,
                "label_fraction": r.label_fraction,
                "seed": r.seed,
                "dice": float(test["dice"].mean()),
                "dice_pp": float(patients[patients["split"] == "test"]["dice_pp"].mean()),
            }
        )
    per_run = pd.DataFrame(rows)
    grouped = per_run.groupby(["model", "supervision", "label_fraction"], sort=False)
    out = grouped.agg(
        seeds=("seed", "count"),
        dice_mean=("dice", "mean"),
        dice_std=("dice", "std"),
        dice_pp_mean=("dice_pp", "mean"),
        dice_pp_std=("dice_pp", "std"),
    ).reset_index()
    return out.fillna({"dice_std": 0.0, "dice_pp_std": 0.0})
