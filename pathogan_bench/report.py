"""Table 1 of the paper for a run: every metric as ``mean ± std (median)`` per split.

Dice values are shown in %, distances in mm (the voxel spacing of the
images as scored, i.e. after any resizing) or in pixels when no spacing is
known. Statistics are over the slices
(or patients, for ``dice_pp``) whose value is defined; undefined values (NaN,
e.g. a distance with one empty mask) are left out of the statistics and
counted. The standard deviation is the sample one (``ddof=1``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data.splits import SPLIT_NAMES
from .io import write_json, write_text
from .metrics import BUILTIN
from .metrics.registered import MetricFacts
from .metrics.registered import metric_facts as registered_facts
from .registry import get_registry

SPLIT_LABELS = {"train": "Tr", "val": "Va", "test": "Te"}
#: the map metrics of a summary written before map metrics were registered
DEFAULT_MAP_METRICS = ("auroc", "auprc", "best_dice")
#: run.json facts carried into the summary
RUN_FIELDS = (
    "model",
    "supervision",
    "loss_set",
    "dataset",
    "data",
    "modalities",
    "seed",
    "device",
    "spacing",
    "skipped_cases",
    "skip_reasons",
    "unlabelled_cases",
    "image_size",
    "steps",
    "steps_done",
    "train_seconds",
    "skipped_updates",
    "split_sizes",
    "threshold",
    "seeds",
    "split_protocol",
    "folds",
    "test_data",
    "healthy_data",
    "training_data",
    "level_separation",
    "level_matched",
    "level_matching",
    "policies",
    "postprocess",
)
#: what report.md says about the metrics whose names readers take for something else
METRIC_NOTES = {
    "avd": "AVD is the average Hausdorff distance (Taha & Hanbury 2015: the larger of the two directed mean "
    "distances over all foreground pixels), not the absolute volume difference",
    "avd_mean": "AVD (mean) is the mean of the two directed mean distances (EvaluateSegmentation's AVGDIST)",
    "dice_pp": "Dice PP is the Dice of each patient's evaluated slices stacked, averaged over patients",
}


@dataclass
class Stat:
    """Statistics of one metric over one split."""

    mean: float
    std: float
    median: float
    n: int
    undefined: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        ok = arr[~np.isnan(arr)]
        if not len(ok):
            return cls(math.nan, math.nan, math.nan, 0, int(len(arr)))
        std = float(np.std(ok, ddof=1)) if len(ok) > 1 else math.nan
        return cls(float(np.mean(ok)), std, float(np.median(ok)), int(len(ok)), int(len(arr) - len(ok)))


@dataclass
class Summary:
    """A run's scores: run facts and, per split, a :class:`Stat` per metric."""

    run: dict[str, Any]
    metrics: list[str]
    empty: str
    unit: str
    splits: dict[str, dict[str, Stat]] = field(default_factory=dict)
    #: per split: evaluated slices, and slices where at least one distance metric is undefined
    slices: dict[str, int] = field(default_factory=dict)
    undefined_slices: dict[str, int] = field(default_factory=dict)
    #: whole-scan scores (pathogan_bench.evaluation.clinical), per split: volumetric Stats over patients,
    #: false positives, threshold-free scores, and which slices were scored
    volumes: dict[str, dict[str, Stat]] = field(default_factory=dict)
    detection: dict[str, dict[str, Any]] = field(default_factory=dict)
    threshold_free: dict[str, dict[str, float]] = field(default_factory=dict)
    scope: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: per split, for a model that translates to healthy: the mean change outside the reference lesion on
    #: pathological slices and over the whole brain on healthy ones (pathogan_bench.engine.infer.change_outside_lesion)
    translation: dict[str, dict[str, float]] = field(default_factory=dict)
    #: metrics of probability maps (values per split in ``threshold_free``), by registry name
    map_metrics: list[str] = field(default_factory=list)
    #: per split: one row per (post-processing chain, threshold policy) (pathogan_bench.evaluation.policy_grid)
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the post-processing steps the "after" rows applied, in order
    postprocess: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.run.get("model", "?"))

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        splits = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("splits", {}).items()}
        volumes = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("volumes", {}).items()}
        detection = {
            s: {k: _stat(v) if k in ("fp_ml", "fp_ml_healthy") else _nan(v) for k, v in per.items()}
            for s, per in data.get("detection", {}).items()
        }
        threshold_free = {s: {k: _nan(v) for k, v in per.items()} for s, per in data.get("threshold_free", {}).items()}
        return cls(
            data.get("run", {}),
            list(data.get("metrics", [])),
            data.get("empty", "default"),
            data.get("unit", "px"),
            splits,
            dict(data.get("slices", {})),
            dict(data.get("undefined_slices", {})),
            volumes,
            detection,
            threshold_free,
            dict(data.get("scope", {})),
            list(data.get("notes", [])),
            translation={sp: {k: _nan(v) for k, v in per.items()} for sp, per in data.get("translation", {}).items()},
            map_metrics=list(data.get("map_metrics", [])),
            policies={sp: [_nan_tree(row) for row in rows] for sp, rows in data.get("policies", {}).items()},
            postprocess=list(data.get("postprocess", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> Summary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _stat(data: dict[str, Any]) -> Stat:
    return Stat(**{k: _nan(v) for k, v in data.items()})


def _nan(v: Any) -> Any:
    return math.nan if v is None else v


def _nan_tree(obj: Any) -> Any:
    """JSON's null back to NaN, in nested dicts."""
    if isinstance(obj, dict):
        return {k: _nan_tree(v) for k, v in obj.items()}
    return _nan(obj)


def _clean(obj: Any) -> Any:
    """JSON has no NaN: write null."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def distance_unit(spacing: Sequence[float] | None) -> str:
    """``mm`` when the images' voxel spacing is known (NIfTI headers give it in mm), ``px`` otherwise."""
    return "px" if spacing is None else "mm"


def metric_facts(metric: str) -> MetricFacts:
    """What the registry says of ``metric`` (a name no installed plugin registers: a ratio-less generic column)."""
    try:
        return registered_facts(get_registry(), metric)
    except Exception:  # a summary scored with a plugin that is not installed here
        entry = BUILTIN.get(metric)
        unit = entry.unit if entry is not None else ""
        higher = entry.higher_is_better if entry is not None else True
        return MetricFacts(metric, "mask", higher, unit, "pair", metric)


def is_ratio(metric: str) -> bool:
    return metric_facts(metric).unit == "ratio"


def summarise(
    slices: pd.DataFrame, patients: pd.DataFrame, run: dict[str, Any], metrics: Sequence[str], empty: str
) -> Summary:
    """Statistics per split of the per-slice and per-patient tables."""
    run = {k: run[k] for k in RUN_FIELDS if k in run}
    summary = Summary(run, list(metrics), empty, distance_unit(run.get("spacing")))
    present = [s for s in SPLIT_NAMES if s in set(slices["split"])] + sorted(set(slices["split"]) - set(SPLIT_NAMES))
    distance = [m for m in metrics if m in slices.columns and not is_ratio(m)]
    for split in present:
        rows = slices[slices["split"] == split]
        per = {}
        for m in metrics:
            if m in slices.columns:
                per[m] = Stat.of(rows[m].to_numpy(np.float64))
            elif m in patients.columns:
                per[m] = Stat.of(patients.loc[patients["split"] == split, m].to_numpy(np.float64))
        summary.splits[split] = per
        summary.slices[split] = int(len(rows))
        summary.undefined_slices[split] = int(rows[distance].isna().any(axis=1).sum()) if distance else 0
    return summary


def format_stat(stat: Stat, percent: bool = False, digits: int = 1) -> str:
    """``mean ± std (median)``; Dice-like values times 100 when ``percent``."""
    if stat.n == 0:
        return "–"
    scale = 100.0 if percent else 1.0
    std = "–" if math.isnan(stat.std) else f"{stat.std * scale:.{digits}f}"
    return f"{stat.mean * scale:.{digits}f} ± {std} ({stat.median * scale:.{digits}f})"


def column_label(metric: str, unit: str) -> str:
    """The column of a registered metric: its label and unit (% for ratios, ``unit`` for distances)."""
    return metric_facts(metric).column(unit)


def row_label(summary: Summary, split: str) -> str:
    return f"{summary.model} ({SPLIT_LABELS.get(split, split)})"


def table_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Table-1 layout, one row per split."""
    header = ["model (split)"] + [column_label(m, summary.unit) for m in summary.metrics] + ["slices", "undefined"]
    rows = []
    for split, per in summary.splits.items():
        cells = [format_stat(per[m], is_ratio(m)) if m in per else "–" for m in summary.metrics]
        rows.append(
            [row_label(summary, split)]
            + cells
            + [str(summary.slices.get(split, 0)), str(summary.undefined_slices.get(split, 0))]
        )
    return header, rows


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _undefined_note(summary: Summary) -> str:
    parts = []
    for split, per in summary.splits.items():
        counts = ", ".join(f"{m} {st.undefined}" for m, st in per.items() if st.undefined)
        if counts:
            parts.append(f"{SPLIT_LABELS.get(split, split)}: {counts}")
    return "; ".join(parts) if parts else "none"


def _training_lines(run: dict[str, Any]) -> list[str]:
    lines = []
    if "steps" in run:
        done = run.get("steps_done", run["steps"])
        seconds = run.get("train_seconds")
        lines.append(
            f"- training: {done} of {run['steps']} steps"
            + (f" in {seconds:.0f} s" if seconds else "")
            + (f" on {run['device']}" if run.get("device") else "")
        )
    skipped = {k: v for k, v in (run.get("skipped_updates") or {}).items() if v}
    if skipped:
        lines.append(
            "- optimizer updates skipped (non-finite loss or gradients): "
            + ", ".join(f"{k} {v}" for k, v in skipped.items())
        )
    for split, sizes in (run.get("split_sizes") or {}).items():
        lines.append(
            f"- {split}: {_count(sizes.get('patients', 0), 'patient')}, {sizes.get('healthy', 0)} healthy and "
            f"{sizes.get('pathological', 0)} pathological slices"
        )
    if run.get("healthy_data"):
        lines.append(
            f"- training data: {run.get('training_data') or run['healthy_data']}. Training and test data come "
            "from different scanners (and sites): the healthy training slices are those of the healthy cohort "
            f"{run['healthy_data']}, the test patients those of {run.get('data', 'the labelled data')}"
        )
    if run.get("skipped_cases"):
        reasons = run.get("skip_reasons") or {}
        listed = ", ".join(f"{c} ({reasons[c]})" if c in reasons else c for c in run["skipped_cases"])
        lines.append(f"- {len(run['skipped_cases'])} case(s) left out: {listed}")
    if run.get("unlabelled_cases"):
        lines.append(
            f"- kept without a segmentation (never trained on or scored): {', '.join(run['unlabelled_cases'])}"
        )
    lines += _level_lines(run)
    return lines


def _levels_text(matching: dict[str, Any]) -> str:
    levels = matching.get("levels")
    if isinstance(levels, list) and len(levels) == 2:  # runs matched before the bins were recorded
        return f"{levels[0]:.1f}-{levels[1]:.1f}"
    return str(levels)


def _level_lines(run: dict[str, Any]) -> list[str]:
    """The anatomical-level shortcut of the training data, and what level matching kept."""
    from .data.levels import SHORTCUT_WARNING, bin_ranges

    lines = []
    separation = run.get("level_separation")
    if separation:
        shared = separation.get("shared_bins")
        if shared is None and separation.get("shared_range"):  # runs scored before the bins were recorded
            lo, hi = separation["shared_range"]
            shared = list(range(round(lo * separation["bins"]), round(hi * separation["bins"])))
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
    matching = run.get("level_matching")
    if matching:
        lines.append(
            f"- level matching: both domains drawn with one distribution over levels {_levels_text(matching)}; "
            f"left out {matching['healthy'] - matching['kept_healthy']} of "
            f"{matching['healthy']} healthy and {matching['pathological'] - matching['kept_pathological']} of "
            f"{matching['pathological']} pathological training slices"
        )
    return lines


def _percent(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def whole_scan_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the whole-scan scores, one row per split (empty when the run has none)."""
    unit = summary.unit
    maps = summary.map_metrics or list(DEFAULT_MAP_METRICS)
    header = [
        "model (split)",
        "3D Dice (%)",
        f"3D HD95 ({unit})",
        f"3D AVD ({unit})",
        *(metric_facts(m).column(unit) for m in maps),
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
            cell = metric_facts(m).cell(scores.get(m, math.nan))
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
    facts = ", ".join(f"{k} {run[k]}" for k in ("supervision", "loss_set", "dataset", "split_protocol") if k in run)
    seeds = run.get("seeds") or {}
    facts += (
        "; seeds: " + ", ".join(f"{k} {v}" for k, v in seeds.items() if v is not None)
        if seeds
        else (f", seed {run['seed']}" if "seed" in run else "")
    )
    notes = [METRIC_NOTES[m] for m in summary.metrics if m in METRIC_NOTES]
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
        _percent(row.get("lesion_sensitivity")),
        _percent(row.get("lesion_precision")),
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
            cells.append(f"{_percent(facts.get('dice'))}, {int(facts.get('detected', 0) or 0)} of {n}" if n else "–")
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
    from .terminal import FittedTable, print_fitted, result_console

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
