"""Every run under every threshold policy and post-processing, side by side, with each model's margin over the
FLAIR threshold under the same policy (``comparison.md`` and ``comparison_policies.csv``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..report import Summary, markdown_table, policy_label

#: the model every other one is measured against
REFERENCE_MODEL = "threshold"
#: (grid key, column label, shown in %)
COLUMNS = (
    ("slice_dice", "slice Dice (%)", True),
    ("dice_3d", "3D Dice (%)", True),
    ("lesion_dice", "lesion-wise Dice (%)", True),
    ("lesion_hd95", "lesion-wise HD95 (mm)", False),
    ("fp_ml", "FP volume (ml)", False),
)


def _mean(value: Any) -> float:
    if isinstance(value, dict):
        return float(value.get("mean", math.nan)) if value.get("n") else math.nan
    return float(value) if value is not None else math.nan


def policy_frame(labels: Sequence[str], summaries: Sequence[Summary], split: str = "test") -> pd.DataFrame:
    """One row per run, post-processing chain and policy of ``split``: means, detection, and the margin over the
    threshold model's run under the same policy and chain (NaN when there is no such run)."""
    rows = []
    for label, summary in zip(labels, summaries):
        for row in summary.policies.get(split, []):
            n = row.get("healthy_slices", 0)
            entry: dict[str, Any] = {
                "run": label,
                "model": summary.model,
                "test_set": test_set(summary),
                "supervision": summary.run.get("supervision", ""),
                "policy": policy_label(row),
                "postprocess": row.get("postprocess", "none"),
                "threshold": row.get("threshold", math.nan),
                "healthy_detection": (row.get("healthy_slices_with_detection", 0) / n) if n else math.nan,
                "lesion_sensitivity": row.get("lesion_sensitivity", math.nan),
            }
            entry.update({key: _mean(row.get(key)) for key, _, _ in COLUMNS})
            rows.append(entry)
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    reference = frame[frame["model"] == REFERENCE_MODEL].drop_duplicates(["test_set", "policy", "postprocess"])
    for key in ("slice_dice", "dice_3d", "lesion_dice"):
        base = {(r.test_set, r.policy, r.postprocess): getattr(r, key) for r in reference.itertuples()}
        frame[f"{key}_margin"] = [
            value - base.get((tested, policy, chain), math.nan)
            for value, tested, policy, chain in zip(
                frame[key], frame["test_set"], frame["policy"], frame["postprocess"]
            )
        ]
    return frame


def test_set(summary: Summary) -> str:
    """What identifies the patients a run was scored on: its data, split protocol (fold) and split seed; a
    margin compares runs scored on the same patients only."""
    run = summary.run
    return json.dumps(
        [run.get("data"), run.get("test_data"), run.get("split_protocol"), (run.get("seeds") or {}).get("split")]
    )


def _cell(value: float, percent: bool, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    value = 100 * value if percent else value
    return f"{value:+.1f}" if signed else f"{value:.1f}" if percent else f"{value:.2f}"


def policy_comparison_markdown(labels: Sequence[str], summaries: Sequence[Summary], split: str = "test") -> str:
    """The runs under every policy (empty when no run has policy scores)."""
    frame = policy_frame(labels, summaries, split)
    if not len(frame):
        return ""
    has_reference = bool((frame["model"] == REFERENCE_MODEL).any())
    header = ["run", "policy", "post-processing"] + [label for _, label, _ in COLUMNS]
    header += ["healthy slices with detection (%)", "lesions detected (%)"]
    if has_reference:
        header += ["3D Dice over threshold (points)", "slice Dice over threshold (points)"]
    rows = []
    for r in frame.itertuples():
        cells = [r.run, r.policy, r.postprocess] + [_cell(getattr(r, key), pct) for key, _, pct in COLUMNS]
        cells += [_cell(r.healthy_detection, True), _cell(r.lesion_sensitivity, True)]
        if has_reference:
            cells += [_cell(r.dice_3d_margin, True, True), _cell(r.slice_dice_margin, True, True)]
        rows.append(cells)
    return (
        f"\n### Threshold policies ({split})\n\n"
        + markdown_table(header, rows)
        + "\nMeans over the split (slice Dice over pathological slices; 3D Dice over patients with tumour; "
        "lesion-wise scores over patients). The margin is each run's score minus the FLAIR threshold's "
        "(`threshold` model) on the same test patients, under the same policy and post-processing. oracle reads the scored patients' "
        "labels: an upper bound, not a result; val-dice reads the validation patients' labels.\n"
    )
