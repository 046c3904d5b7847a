"""Tables over many runs of one comparison: pooled over folds and seeds, per fold, and which spread is which.

Every run of a comparison is one model (and label fraction) trained with one
training seed on one patient split (one fold of a cross-validation, or the
one fixed split). Scores are read back from the run directories:

- *pooled*: the Table 1 columns over every slice of every run, the
  per-patient and 3D scores over every (patient, seed), the threshold-free
  scores over runs;
- *spread*: the headline test Dice split into its sources: the standard
  deviation over folds (of each fold's mean over seeds), over training
  seeds (of each seed's mean over all folds) and over patients (of each
  patient's mean over seeds);
- *per fold*: each fold's test patients and test scores, mean ± std over
  seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.slices import HEALTHY, MINOR, PATHOLOGICAL
from ..record.facts import RunFacts
from ..record.summary import Stat
from ..reporting.format import format_stat, markdown_table
from .runs import ComparedRun, LoadedRun

SLICE_METRICS = (("dice", "Dice (%)", True), ("hd95", "HD95", False), ("avd", "AVD", False))
VOLUME_METRICS = (("dice", "3D Dice (%)", True), ("hd95", "3D HD95", False))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _cell(values: Any, percent: bool) -> str:
    return format_stat(Stat.of(np.asarray(values, dtype=np.float64)), percent)


@dataclass
class Pooled:
    """Every run's tables concatenated once, each row tagged with its run's label, fold and seed."""

    scores: list[LoadedRun]
    slices: pd.DataFrame
    patients: pd.DataFrame
    volumes: pd.DataFrame

    @classmethod
    def of(cls, scores: list[LoadedRun]) -> Pooled:
        return cls(
            scores,
            _concat([s.tagged(s.slices) for s in scores]),
            _concat([s.tagged(s.patients) for s in scores]),
            _concat([s.tagged(s.tumour_volumes) for s in scores]),
        )

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(s.run.label for s in self.scores))

    def runs(self, label: str) -> list[LoadedRun]:
        return [s for s in self.scores if s.run.label == label]

    @staticmethod
    def part(frame: pd.DataFrame, label: str, split: str) -> pd.DataFrame:
        return frame[(frame["label"] == label) & (frame["split"] == split)] if len(frame) else frame


def pooled_table(pooled: Pooled, splits: tuple[str, ...] = ("train", "test")) -> tuple[list[str], list[list[str]]]:
    """Per model and split: every scored slice (and patient) of every fold and seed together."""
    header = (
        ["model (split)", "runs"]
        + [name for _, name, _ in SLICE_METRICS]
        + ["Dice PP (%)"]
        + [name for _, name, _ in VOLUME_METRICS]
        + ["AUROC (%)", "AUPRC (%)", "healthy slices with detection"]
    )
    rows = []
    for label in pooled.labels:
        mine = pooled.runs(label)
        for split in splits:
            part = pooled.part(pooled.slices, label, split)
            if not len(part):
                continue
            row = [f"{label} ({'Tr' if split == 'train' else 'Te' if split == 'test' else split})", str(len(mine))]
            row += [_cell(part[m], pct) if m in part else "–" for m, _, pct in SLICE_METRICS]
            pp = pooled.part(pooled.patients, label, split)
            row.append(_cell(pp["dice_pp"], True) if "dice_pp" in pp else "–")
            vol = pooled.part(pooled.volumes, label, split)
            row += [_cell(vol[m], pct) if m in vol else "–" for m, _, pct in VOLUME_METRICS]
            free = [s.summary.threshold_free.get(split, {}) for s in mine]
            for key in ("auroc", "auprc"):
                values = [f[key] for f in free if not math.isnan(f.get(key, math.nan))]
                row.append(_cell(values, True) if values else "–")
            detection = [s.summary.detection.get(split, {}) for s in mine]
            healthy = sum(d.get("healthy_slices", 0) or 0 for d in detection)
            hits = sum(d.get("healthy_slices_with_detection", 0) or 0 for d in detection)
            row.append(f"{hits} of {healthy} ({100 * hits / healthy:.0f} %)" if healthy else "–")
            rows.append(row)
    return header, rows


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _spread(part: pd.DataFrame) -> list[str]:
    """Mean Dice, and its standard deviation over folds, over seeds and over patients (in %)."""
    if not len(part) or "dice" not in part:
        return ["–"] * 4
    folds = part.groupby(["fold", "seed"])["dice"].mean().groupby(level="fold").mean()
    seeds = part.groupby("seed")["dice"].mean()
    patients = part.groupby(["patient", "seed"])["dice"].mean().groupby(level="patient").mean()
    return [f"{100 * part['dice'].mean():.1f}"] + [
        "–" if math.isnan(v) else f"{100 * v:.1f}" for v in (_std(folds), _std(seeds), _std(patients))
    ]


def spread_table(pooled: Pooled, split: str = "test") -> tuple[list[str], list[list[str]]]:
    """The spread of the mean test Dice (slices) and 3D Dice (patients), by its source."""
    header = [
        "model",
        "folds",
        "seeds",
        "patients",
        "Dice (%)",
        "± folds",
        "± seeds",
        "± patients",
        "3D Dice (%)",
        "± folds",
        "± seeds",
        "± patients",
    ]
    rows = []
    for label in pooled.labels:
        slices = pooled.part(pooled.slices, label, split)
        counts = [str(slices[k].nunique()) for k in ("fold", "seed", "patient")] if len(slices) else ["–"] * 3
        rows.append([label, *counts, *_spread(slices), *_spread(pooled.part(pooled.volumes, label, split))])
    return header, rows


def per_fold_table(pooled: Pooled, split: str = "test") -> tuple[list[str], list[list[str]]]:
    """Per model and fold: its test patients, and the test scores as mean ± std over seeds."""
    header = ["model", "fold", "test patients", "seeds", "Dice (%)", "3D Dice (%)", "AUROC (%)"]
    rows = []
    for label in pooled.labels:
        for fold in sorted({s.run.fold for s in pooled.runs(label)}):
            mine = [s for s in pooled.runs(label) if s.run.fold == fold]
            tested = (
                sorted({p for s in mine for p in s.slices.loc[s.slices["split"] == split, "patient"]})
                if all(len(s.slices) for s in mine)
                else []
            )
            dice = [s.slices.loc[s.slices["split"] == split, "dice"].mean() for s in mine if len(s.slices)]
            vol = [
                s.tumour_volumes.loc[s.tumour_volumes["split"] == split, "dice"].mean()
                for s in mine
                if len(s.tumour_volumes)
            ]
            auroc = [s.summary.threshold_free.get(split, {}).get("auroc", math.nan) for s in mine]
            rows.append(
                [
                    label,
                    str(fold or "-"),
                    ", ".join(tested),
                    str(len(mine)),
                    _cell(dice, True),
                    _cell(vol, True) if vol else "–",
                    _cell([a for a in auroc if not math.isnan(a)], True),
                ]
            )
    return header, rows


def time_table(pooled: Pooled) -> tuple[list[str], list[list[str]]]:
    """Training and scoring time per model, summed over its runs."""
    header = ["model", "runs", "training (min)", "scoring (min)", "steps per run"]
    rows = []
    for label in pooled.labels:
        mine = pooled.runs(label)
        train = sum(s.facts.train_seconds or 0 for s in mine) / 60
        score = sum(s.facts.score_seconds or 0 for s in mine) / 60
        steps = sorted({str(_steps_done(s.facts)) for s in mine})
        rows.append([label, str(len(mine)), f"{train:.1f}", f"{score:.1f}", ", ".join(steps)])
    return header, rows


def translation_table(pooled: Pooled, split: str = "test") -> tuple[list[str], list[list[str]]]:
    """Per model that translates to healthy: what its translation changes where it should change nothing, mean ±
    std over its runs (no rows when no model translates)."""
    header = ["model", "runs", "outside the lesion, pathological slices", "healthy slices"]
    rows = []
    for label in pooled.labels:
        per = [s.summary.translation.get(split, {}) for s in pooled.runs(label)]
        per = [t for t in per if t]
        if per:
            cells = []
            for key in ("pathological", "healthy"):
                values = np.array([t.get(key, math.nan) for t in per], dtype=float)
                values = values[~np.isnan(values)]
                spread = f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else ""
                cells.append(f"{values.mean():.3f}{spread}" if len(values) else "–")
            rows.append([label, str(len(per)), *cells])
    return header, rows


def _ranges(values: list[int]) -> str:
    """Sorted integers as ranges: 0-28, 103-144."""
    parts: list[str] = []
    for v in sorted(values):
        if parts and int(parts[-1].split("-")[-1]) == v - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{v}"
        else:
            parts.append(str(v))
    return ", ".join(parts)


def data_table(runs: list[ComparedRun]) -> tuple[list[str], list[list[str]]]:
    """Per patient: its slices by kind, where its healthy slices lie, and the fold that tests it."""
    header = ["patient", "tested in", "slices", "healthy", "pathological", "minor", "healthy slices (axial z)"]
    seen: dict[str, list[str]] = {}
    for r in runs:
        path = r.run_dir / "predictions.npz"
        if not path.is_file() or r.seed != runs[0].seed or r.model != runs[0].model:
            continue
        with np.load(path, allow_pickle=False) as data:
            if "domain" not in data.files:
                continue
            patient, z, split, domain = (data[k] for k in ("patient", "z", "split", "domain"))
        for pid in sorted(set(patient.astype(str))):
            rows = patient.astype(str) == pid
            where = f"fold {r.fold}" if r.fold else "the test split"
            if (split[rows] == "test").any() and pid not in seen:
                kinds = [int((domain[rows] == d).sum()) for d in (HEALTHY, PATHOLOGICAL, MINOR)]
                seen[pid] = [
                    pid,
                    where,
                    str(int(rows.sum())),
                    *map(str, kinds),
                    _ranges(z[rows & (domain == HEALTHY)].tolist()) or "none",
                ]
    return header, [seen[p] for p in sorted(seen)]


def _steps_done(facts: RunFacts) -> int | str:
    if facts.steps_done is not None:
        return facts.steps_done
    return facts.steps if facts.steps is not None else "?"


def pooled_sections(pooled: Pooled, varied: str) -> list[str]:
    """The comparison's tables as markdown sections: pooled, spread, per fold (with several folds), test
    patients (when the runs kept slice domains) and time."""
    runs = [s.run for s in pooled.scores]
    folds = {r.fold for r in runs}
    sections = [
        "## Pooled over "
        + ("folds and seeds" if len(folds) > 1 else "seeds")
        + "\n\n"
        + markdown_table(*pooled_table(pooled))
        + "\nmean ± std (median) over every pathological slice of every run (Dice PP and 3D scores over every "
        "patient and seed; AUROC and AUPRC over runs); distances in mm. " + varied + "\n\n",
        "## Where the spread comes from (test)\n\n"
        + markdown_table(*spread_table(pooled))
        + "\nMean test Dice over all slices (3D Dice over all patients) of all runs, and its standard deviation "
        "over folds (each fold's mean over seeds), over training seeds (each seed's mean over all folds) and "
        "over patients (each patient's mean over seeds). '–': only one of that kind.\n\n",
    ]
    if len(folds) > 1:
        sections.append(
            "## Per fold (test)\n\n"
            + markdown_table(*per_fold_table(pooled))
            + "\nmean ± std (median) over seeds of each run's mean.\n\n"
        )
    optional = (
        (
            "Test patients",
            data_table(runs),
            "Every labelled slice of each test patient (healthy: no tumour pixel; minor: 1 to 20 tumour pixels, "
            "scored in the whole-scan columns only).",
        ),
        (
            "What the translation changes outside the lesion (test)",
            translation_table(pooled),
            "Mean |x - healed x| over brain pixels outside the reference lesion of pathological slices, and over "
            "every brain pixel of healthy slices (normalised intensities, brain std 1/3), mean ± std over each "
            "model's runs: a faithful translation to healthy changes nothing there.",
        ),
    )
    for title, (header, rows), caption in optional:
        if rows:  # a section only where some run has what it shows
            sections.append(f"## {title}\n\n" + markdown_table(header, rows) + f"\n{caption}\n\n")
    sections.append("## Time\n\n" + markdown_table(*time_table(pooled)) + "\n")
    return sections
