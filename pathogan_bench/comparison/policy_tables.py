"""Every run under every threshold policy and post-processing, side by side, with each model's margin over the
FLAIR threshold under the same policy (``comparison.md`` and ``comparison_policies.csv``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..record.summary import Summary
from ..reporting.format import markdown_table
from ..reporting.policy_section import policy_label

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


def policy_frame(
    labels: Sequence[str], summaries: Sequence[Summary], groups: Sequence[str], split: str = "test"
) -> pd.DataFrame:
    """One row per run, post-processing chain and policy of ``split``: means, detection, and the margin over the
    threshold model's run under the same policy and chain (NaN when there is no such run). ``groups``: per run, the
    row of the pooled tables it joins (its model, loss set, label fraction and variant)."""
    rows = []
    for label, summary, group in zip(labels, summaries, groups, strict=True):
        for row in summary.policies.get(split, []):
            n = row.get("healthy_slices", 0)
            entry: dict[str, Any] = {
                "run": label,
                "model": summary.model,
                "group": group,
                "test_set": test_set(summary),
                "supervision": summary.run.supervision,
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
    return json.dumps([run.data, run.test_data, run.split_protocol, run.seeds.get("split")])


def _cell(value: float, percent: bool, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    value = 100 * value if percent else value
    return f"{value:+.1f}" if signed else f"{value:.1f}" if percent else f"{value:.2f}"


def pooled_policy_frame(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per post-processing chain, model group and policy: the mean, standard deviation and count of the
    runs' ``key`` over folds and seeds, the mean margin over the FLAIR threshold scored on the same patients and
    in how many of those runs the model was ahead. The reference model's groups come first."""
    rows = []
    for (chain, group, policy), runs in frame.groupby(["postprocess", "group", "policy"], sort=False):
        values, margins = runs[key].dropna(), runs[f"{key}_margin"].dropna()
        reference = bool((runs["model"] == REFERENCE_MODEL).all())
        rows.append(
            {
                "postprocess": chain,
                "group": group,
                "policy": policy,
                "reference": reference,
                "runs": runs["run"].nunique(),
                "mean": values.mean() if len(values) else math.nan,
                "std": values.std() if len(values) > 1 else math.nan,
                "margin": margins.mean() if len(margins) and not reference else math.nan,
                "ahead": int((margins > 0).sum()),
                "paired": 0 if reference else len(margins),
            }
        )
    pooled = pd.DataFrame(rows)
    if not len(pooled):
        return pooled
    return pooled.sort_values("reference", ascending=False, kind="stable").reset_index(drop=True)


def _pooled_cell(row: Any) -> str:
    if math.isnan(row.mean):
        return "–"
    cell = f"{100 * row.mean:.1f}" + ("" if math.isnan(row.std) else f" ± {100 * row.std:.1f}")
    return cell + ("" if math.isnan(row.margin) else f" ({100 * row.margin:+.1f}, {row.ahead}/{row.paired})")


def pooled_policy_markdown(frame: pd.DataFrame, key: str, label: str) -> str:
    """Every model (row) under every policy (column), one table per post-processing chain (see
    ``pooled_policy_frame``)."""
    text = ""
    policies = list(dict.fromkeys(frame["policy"]))
    for chain, pooled in pooled_policy_frame(frame, key).groupby("postprocess", sort=False):
        rows = []
        for group, cells in pooled.groupby("group", sort=False):
            by_policy = {r.policy: _pooled_cell(r) for r in cells.itertuples()}
            name = f"{group} (reference)" if cells["reference"].all() else str(group)
            rows.append([name, str(int(cells["runs"].max()))] + [by_policy.get(p, "–") for p in policies])
        text += f"\n{label} (%), post-processing: {chain}\n\n" + markdown_table(["model", "runs"] + policies, rows)
    return text


def policy_comparison_markdown(
    labels: Sequence[str], summaries: Sequence[Summary], groups: Sequence[str], split: str = "test"
) -> str:
    """Every model under every policy pooled over its runs, then every run (empty when no run has policy
    scores)."""
    frame = policy_frame(labels, summaries, groups, split)
    if not len(frame):
        return ""
    pooled = (
        f"\n### Threshold policies, pooled over folds and seeds ({split})\n"
        + pooled_policy_markdown(frame, "dice_3d", "3D Dice")
        + pooled_policy_markdown(frame, "slice_dice", "Slice Dice")
        + "\nmean ± std over each model's runs of the run's mean (3D Dice over the patients with tumour, slice "
        "Dice over the pathological slices); in brackets the mean margin over the FLAIR threshold (`threshold` "
        "model) scored on the same test patients under the same policy and post-processing, in points, and in "
        "how many of those runs the model was ahead. oracle reads the scored patients' labels: an upper bound, "
        "not a result.\n"
    )
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
        pooled
        + f"\n### Threshold policies, every run ({split})\n\n"
        + markdown_table(header, rows)
        + "\nMeans over the split (slice Dice over pathological slices; 3D Dice over patients with tumour; "
        "lesion-wise scores over patients). The margin is each run's score minus the FLAIR threshold's "
        "(`threshold` model) on the same test patients, under the same policy and post-processing. oracle reads the scored patients' "
        "labels: an upper bound, not a result; val-dice reads the validation patients' labels.\n"
    )
