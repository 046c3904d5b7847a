"""Table 1 of the paper for a run: every metric as ``mean ± std (median)`` per split.

Dice values are shown in %, distances in mm (the voxel spacing of the
images as scored, i.e. after any resizing) or in pixels when no spacing is
known. Statistics are over the slices
(or patients, for ``dice_pp``) whose value is defined; undefined values (NaN,
e.g. a distance with one empty mask) are left out of the statistics and
counted. The standard deviation is the sample one (``ddof=1``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..record.facts import RunFacts
from ..record.summary import Summary
from ..utils.io import write_json, write_text
from .format import SPLIT_LABELS, format_stat, markdown_table
from .policy_section import policy_markdown


def row_label(summary: Summary, split: str) -> str:
    return f"{summary.model} ({SPLIT_LABELS.get(split, split)})"


def table_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Table-1 layout, one row per split."""
    header = ["model (split)"] + [summary.facts(m).column(summary.unit) for m in summary.metrics]
    header += ["slices", "undefined"]
    rows = []
    for split, per in summary.splits.items():
        cells = [format_stat(per[m], summary.facts(m).is_ratio) if m in per else "–" for m in summary.metrics]
        rows.append(
            [row_label(summary, split)]
            + cells
            + [str(summary.slices.get(split, 0)), str(summary.undefined_slices.get(split, 0))]
        )
    return header, rows


def _undefined_note(summary: Summary) -> str:
    parts = []
    for split, per in summary.splits.items():
        counts = ", ".join(f"{m} {st.undefined}" for m, st in per.items() if st.undefined)
        if counts:
            parts.append(f"{SPLIT_LABELS.get(split, split)}: {counts}")
    return "; ".join(parts) if parts else "none"


def _training_lines(run: RunFacts) -> list[str]:
    lines = []
    if run.steps is not None:
        done = run.steps_done if run.steps_done is not None else run.steps
        seconds = run.train_seconds
        lines.append(
            f"- training: {done} of {run.steps} steps"
            + (f" in {seconds:.0f} s" if seconds else "")
            + (f" on {run.device}" if run.device else "")
        )
    lines += _selection_lines(run)
    for split, found in (run.slice_classification or {}).items():
        lines.append(
            f"- slice classifier ({split}): AUROC {found['auroc']:.3f} for {found['pathological']} pathological vs "
            f"{found['healthy']} healthy slices"
        )
    if run.budget_note:
        lines.append(f"- budget: {run.budget_note}")
    if run.threshold_rule:
        lines.append(f"- the model's threshold: {run.threshold_rule}")
    lines += [f"- note: {note}" for note in run.model_notes or ()]
    if run.pseudo_labels:
        found = run.pseudo_labels
        lines.append(
            f"- pixel labels: the masks of {found['model']} ({found['run']}, threshold {found['threshold']:.3f}) on "
            f"its {found['slices']} training slices ({found['slices_with_lesion']} with a lesion; healthy slices empty "
            "by their slice label); no patient's pixel label was read"
        )
    skipped = {k: v for k, v in run.skipped_updates.items() if v}
    if skipped:
        lines.append(
            "- optimizer updates skipped (non-finite loss or gradients): "
            + ", ".join(f"{k} {v}" for k, v in skipped.items())
        )
    for split, sizes in run.split_sizes.items():
        lines.append(
            f"- {split}: {_count(sizes.get('patients', 0), 'patient')}, {sizes.get('healthy', 0)} healthy and "
            f"{sizes.get('pathological', 0)} pathological slices"
        )
    if run.healthy_data:
        lines.append(
            f"- training data: {run.training_data or run.healthy_data}. Training and test data come "
            "from different scanners (and sites): the healthy training slices are those of the healthy cohort "
            f"{run.healthy_data}, the test patients those of {run.data}"
        )
    if run.skipped_cases:
        reasons = run.skip_reasons
        listed = ", ".join(f"{c} ({reasons[c]})" if c in reasons else c for c in run.skipped_cases)
        lines.append(f"- {len(run.skipped_cases)} case(s) left out: {listed}")
    if run.unlabelled_cases:
        lines.append(f"- kept without a segmentation (never trained on or scored): {', '.join(run.unlabelled_cases)}")
    lines += _level_lines(run)
    return lines


def _selection_lines(run: RunFacts) -> list[str]:
    """Which weights the run segments with, when it selected them by validation."""
    chosen = run.selection
    if not chosen:
        return []
    line = (
        f"- weights: the best {chosen['criterion']} on the validation patients, {chosen['best_score']:.3f} at step "
        f"{chosen['best_step']:,} ({chosen['validations']} validations, one every {chosen['every']:,} steps)"
    )
    if run.stopped_early_at is not None:
        line += f"; training stopped at step {run.stopped_early_at:,}: no gain in {chosen['patience']} validations"
    return [line]


def _level_lines(run: RunFacts) -> list[str]:
    """The anatomical-level shortcut of the training data, and what level matching kept."""
    from ..data.levels import SHORTCUT_WARNING, bin_ranges

    lines = []
    separation = run.level_separation
    if separation:
        shared = separation.get("shared_bins")
        where = (
            f"both domains at normalised levels {bin_ranges(shared, separation['bins'])}"
            if shared
            else "no axial level holds both domains"
        )
        flag = (
            f" (at least {SHORTCUT_WARNING}: the level alone can tell the domains apart)"
            if (separation["auroc"] >= SHORTCUT_WARNING)
            else ""
        )
        lines.append(
            f"- anatomical level of the training slices: AUROC {separation['auroc']:.2f} of the axial level alone for "
            f"healthy vs pathological{flag}; {where}"
        )
    matching = run.level_matching
    if matching:
        lines.append(
            f"- level matching: both domains drawn with one distribution over levels {matching.get('levels')}; "
            f"left out {matching['healthy'] - matching['kept_healthy']} of "
            f"{matching['healthy']} healthy and {matching['pathological'] - matching['kept_pathological']} of "
            f"{matching['pathological']} pathological training slices"
        )
    return lines


def whole_scan_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the whole-scan scores, one row per split (empty when the run has none)."""
    unit = summary.unit
    maps = summary.map_metrics
    header = [
        "model (split)",
        "3D Dice (%)",
        f"3D HD95 ({unit})",
        f"3D AVD ({unit})",
        *(summary.facts(m).column(unit) for m in maps),
        "healthy slices with detection",
        "FP volume (ml)",
        "FP volume on healthy slices (ml)",
        "tumour-free patients: volume (ml)",
    ]
    rows = []
    for split in summary.scope:
        volumes, detection = summary.volumes.get(split, {}), summary.detection.get(split, {})
        scores = summary.threshold_free.get(split, {})
        cells = [format_stat(volumes[m], m == "dice") if m in volumes else "–" for m in ("dice", "hd95", "avd")]
        for m in maps:
            cell = summary.facts(m).cell(scores.get(m, math.nan))
            if m == "best_dice" and "best_threshold" in scores and cell != "–":
                cell += f" (at {scores['best_threshold']:.2f})"
            cells.append(cell)
        n = detection.get("healthy_slices", 0)
        cells.append(f"{detection.get('healthy_slices_with_detection', 0)} of {n}" if n else "no healthy slice")
        for key in ("fp_ml", "fp_ml_healthy"):
            cells.append(format_stat(detection[key], digits=2) if key in detection else "–")
        free = detection.get("tumour_free") or {}
        cells.append("; ".join(f"{ml:.2f} ({pid})" for pid, ml in free.items()) if free else "none")
        rows.append([row_label(summary, split)] + cells)
    return header, rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def scope_sentence(summary: Summary) -> str:
    """Which slices each split's scores cover."""
    parts = []
    for split, scope in summary.scope.items():
        z = scope.get("z") or []
        parts.append(
            f"{SPLIT_LABELS.get(split, split)}: {_count(scope.get('patients', 0), 'patient')}, "
            f"{scope.get('pathological', 0)} pathological, {scope.get('healthy', 0)} healthy and "
            f"{scope.get('minor', 0)} minor slices" + (f" (axial slices {z[0]}-{z[1]})" if z else "")
        )
    return "; ".join(parts)


def _whole_scan_markdown(summary: Summary) -> str:
    if not summary.scope:
        return ""
    header, rows = whole_scan_rows(summary)
    return (
        "\n## Whole scans\n\n"
        + markdown_table(header, rows)
        + "\nEvery labelled slice of each patient scored: "
        + scope_sentence(summary)
        + ". The Table 1 columns above "
        "score the pathological slices only (more than 20 tumour pixels, the paper's rule); minor slices have 1 to 20 "
        "tumour pixels. 3D scores: each patient's slices stacked into one volume with its voxel spacing, mean ± std "
        "(median) over the patients with tumour. AUROC, AUPRC and best-threshold Dice: all brain pixels of the split pooled; the best "
        "threshold is chosen on the scored data itself, so that Dice is an optimistic upper bound, not a result. "
        "FP volume: predicted outside the reference, per patient. Healthy slices with detection: at least one "
        "pixel predicted on a slice without tumour. Definitions: docs/METRICS.md.\n"
        + "".join(f"\nNote: {note}.\n" for note in summary.notes)
    )


def render_markdown(summary: Summary, figures: Sequence[str] = ()) -> str:
    header, rows = table_rows(summary)
    run = summary.run
    facts = ", ".join(
        f"{k} {getattr(run, k)}" for k in ("supervision", "loss_set", "dataset", "split_protocol") if getattr(run, k)
    )
    seeds = run.seeds
    facts += (
        "; seeds: " + ", ".join(f"{k} {v}" for k, v in seeds.items() if v is not None)
        if seeds
        else f", seed {run.seed}"
    )
    notes = [summary.facts(m).note for m in summary.metrics if summary.facts(m).note]
    text = (
        f"# {summary.model}\n\n{facts}\n\n"
        + "".join(f"{line}\n" for line in _training_lines(run))
        + "\n"
        + markdown_table(header, rows)
        + f"\nScores as mean ± std (median) over the evaluated pathological slices (Dice PP over patients); "
        f"Dice in %, distances in {summary.unit}. Empty-mask convention: {summary.empty}. Undefined values are "
        f"left out of the statistics; count per metric: {_undefined_note(summary)}. "
        + "".join(f"{note}. " for note in notes)
        + "Definitions: docs/METRICS.md.\n"
        + _whole_scan_markdown(summary)
        + policy_markdown(summary)
        + _translation_markdown(summary)
    )
    if figures:
        text += "\n## Figures\n\n" + "".join(f"- [{Path(f).name}]({f})\n" for f in figures)
    return text


TRANSLATION_HEADER = ["model (split)", "pathological slices: outside the lesion", "healthy slices: whole brain"]


def translation_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """What the translation to healthy changes where it should change nothing, per split (empty when the model
    does not translate)."""
    rows = []
    for split, per in summary.translation.items():
        rows.append(
            [row_label(summary, split)]
            + [
                f"{per[key]:.3f} ({int(per.get(key + '_slices', 0))} slices)" if per.get(key) == per.get(key) else "–"
                for key in ("pathological", "healthy")
            ]
        )
    return TRANSLATION_HEADER, rows


def _translation_markdown(summary: Summary) -> str:
    if not summary.translation:
        return ""
    return (
        "\n## What the translation changes outside the lesion\n\n"
        + markdown_table(*translation_rows(summary))
        + "\nMean |x - healed x| (channel mean, normalised intensities: the brain has std 1/3) over brain pixels "
        "outside the reference lesion of pathological slices, and over every brain pixel of healthy slices, where "
        "a faithful translation to healthy changes nothing (the identity behaviour of eq. 14).\n"
    )


def write_report(summary: Summary, run_dir: str | Path, figures: Sequence[str | Path] = ()) -> tuple[Path, Path]:
    """``summary.json`` and ``report.md`` in ``run_dir``; ``figures`` are linked relative to it."""
    run_dir = Path(run_dir)
    links = [os.path.relpath(f, run_dir) for f in figures]
    return (
        write_json(run_dir / "summary.json", summary.to_dict()),
        write_text(run_dir / "report.md", render_markdown(summary, links)),
    )


def print_summary(summary: Summary, console: Any = None) -> None:
    """Print Table 1 and the whole-scan scores, each fitted to the console's width (results: stdout by default)."""
    from ..utils.terminal import FittedTable, print_fitted, result_console

    console = console or result_console()
    header, rows = table_rows(summary)
    print_fitted(
        console,
        FittedTable(
            f"{summary.model}: mean ± std (median); Dice in %, distances in {summary.unit}",
            header,
            rows,
            caption=f"empty masks: {summary.empty}; undefined: {_undefined_note(summary)}",
        ),
    )
    if summary.scope:
        header, rows = whole_scan_rows(summary)
        print_fitted(
            console,
            FittedTable(
                "whole scans: every labelled slice (3D scores over patients; threshold-free in the brain)",
                header,
                rows,
                caption=scope_sentence(summary),
            ),
        )
    if summary.translation:
        header, rows = translation_rows(summary)
        print_fitted(
            console,
            FittedTable(
                "what the translation changes where it should not: mean |x - healed x| (brain std 1/3)", header, rows
            ),
        )
