"""The threshold policies and post-processing of a run as report.md shows them: one row per policy and chain,
and Dice and detection per lesion-size stratum."""

from __future__ import annotations

import math
from typing import Any

from ..record.summary import Stat, Summary
from .format import SPLIT_LABELS, format_stat, markdown_table, percent_cell

POLICY_HEADER = [
    "policy",
    "post-processing",
    "threshold",
    "slice Dice (%)",
    "3D Dice (%)",
    "lesion-wise Dice (%)",
    "lesion-wise HD95 (mm)",
    "lesions detected (%)",
    "lesion precision (%)",
    "healthy slices with detection",
    "FP volume (ml)",
    "fitted on",
]


def _mean_cell(stat: Any, percent: bool = False, digits: int = 1) -> str:
    if not isinstance(stat, dict) or not stat.get("n"):
        return "–"
    return format_stat(
        Stat(stat["mean"], stat.get("std", math.nan), stat.get("median", math.nan), int(stat["n"]), 0),
        percent,
        digits,
    )


def _threshold_cell(row: dict[str, Any]) -> str:
    t = row.get("threshold", math.nan)
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "–"
    return f"per slice (median {t:.3g})" if row.get("per_slice") else f"{t:.3g}"


def policy_cells(row: dict[str, Any]) -> list[str]:
    """One policy row's cells in :data:`POLICY_HEADER` order (without policy and post-processing)."""
    if "missing" in row:
        return [_threshold_cell(row)] + ["–"] * 8 + [f"{row['looks_at']} ({row['missing']})"]
    n = row.get("healthy_slices", 0)
    return [
        _threshold_cell(row),
        _mean_cell(row.get("slice_dice"), True),
        _mean_cell(row.get("dice_3d"), True),
        _mean_cell(row.get("lesion_dice"), True),
        _mean_cell(row.get("lesion_hd95")),
        percent_cell(row.get("lesion_sensitivity")),
        percent_cell(row.get("lesion_precision")),
        f"{row.get('healthy_slices_with_detection', 0)} of {n}" if n else "no healthy slice",
        _mean_cell(row.get("fp_ml"), digits=2),
        row["looks_at"],
    ]


def policy_label(row: dict[str, Any]) -> str:
    return f"{row['policy']} (optimistic)" if row.get("optimistic") else str(row["policy"])


def strata_rows(summary: Summary, split: str) -> tuple[list[str], list[list[str]]]:
    """Per policy row: Dice and detection per lesion-size stratum."""
    table = summary.policies.get(split, [])
    labels = list(dict.fromkeys(label for row in table for label in (row.get("strata") or {})))
    header = ["policy", "post-processing"] + [f"{label}: Dice (%), detected" for label in labels]
    rows = []
    for row in table:
        strata = row.get("strata") or {}
        cells = []
        for label in labels:
            facts = strata.get(label) or {}
            n = int(facts.get("lesions", 0) or 0)
            cells.append(
                f"{percent_cell(facts.get('dice'))}, {int(facts.get('detected', 0) or 0)} of {n}" if n else "–"
            )
        rows.append([policy_label(row), str(row.get("postprocess", "none"))] + cells)
    return header, rows


def policy_markdown(summary: Summary) -> str:
    """The threshold policies side by side, before and after post-processing (empty when none were scored)."""
    if not summary.policies:
        return ""
    text = "\n## Threshold policies\n\n"
    for split, table in summary.policies.items():
        rows = [[policy_label(row), str(row.get("postprocess", "none"))] + policy_cells(row) for row in table]
        text += f"{SPLIT_LABELS.get(split, split)} ({split}):\n\n" + markdown_table(POLICY_HEADER, rows) + "\n"
        header, strata = strata_rows(summary, split)
        if len(header) > 2:
            text += "Lesion-size strata (reference lesions, ml):\n\n" + markdown_table(header, strata) + "\n"
    steps = ", ".join(summary.postprocess) if summary.postprocess else "none"
    return text + (
        f"Each policy turns the probability maps into masks; post-processing ({steps}) is applied per patient "
        "volume, map steps before the threshold (which is fitted on maps processed the same way) and mask steps "
        'after it. "fitted on" says which data each threshold looked at: fpr:Q flags Q % of the healthy-slice '
        "brain pixels of the validation patients; val-dice reads the validation patients' pixel labels; oracle "
        "reads the scored patients' own labels and is an upper bound, not a result. Slice Dice: mean over the "
        "pathological slices; 3D Dice: mean over patients with tumour; lesion-wise Dice and HD95: the BraTS "
        "2023+ definition (26-connected lesions, reference lesions merged within a 3-voxel dilation, lesions of at "
        "most 50 mm³ left out, a missed lesion or false positive scores Dice 0 and HD95 374 mm), mean over "
        "patients; lesions detected and precision pooled over the split's lesions. Definitions: docs/METRICS.md.\n"
    )
