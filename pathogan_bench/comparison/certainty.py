"""The comparison's statistics as it writes them: comparison.md's section on how sure it is, the CSV files, the
JSON of ``compare --json`` and ``ranking.png`` (one panel per headline endpoint, challengeR's blob plot: each
model's bootstrap rank distribution as circles sized by frequency, its median and 95 % interval)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..reporting.format import markdown_table
from ..utils.io import save_figure, write_csv, write_json
from .runs import LoadedRun
from .statistics import (
    CONFIDENCE,
    DEFAULT_REFERENCE,
    RESAMPLES,
    Endpoint,
    confidence_table,
    endpoints_of,
    patient_scores,
    rank_table,
)

#: the endpoints comparison.md shows first (those the runs have), in this order
HEADLINE = ("dice_3d", "dice_3d fpr:1 none", "dice_3d val-dice none", "auprc", "hd95_3d")


@dataclass
class Certainty:
    """A comparison's statistics over its test patients."""

    reference: str | None
    scores: pd.DataFrame
    confidence: pd.DataFrame
    ranks: pd.DataFrame
    endpoints: list[Endpoint] = field(default_factory=list)
    #: the bootstrap ranks of the headline endpoints (resamples x models), for the figure
    distributions: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @property
    def headline(self) -> list[Endpoint]:
        by_key = {e.key: e for e in self.endpoints}
        return [by_key[key] for key in HEADLINE if key in by_key]

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "resamples": RESAMPLES,
            "confidence": CONFIDENCE,
            "endpoints": _records(self.confidence),
            "ranks": _records(self.ranks),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def assess(runs: list[LoadedRun], reference: str | None = None, seed: int = 0) -> Certainty:
    """The statistics of a comparison's runs; the reference defaults to the FLAIR threshold when it is compared."""
    scores = patient_scores(runs)
    if not len(scores):
        return Certainty(None, scores, pd.DataFrame(), pd.DataFrame())
    models = list(dict.fromkeys(scores["model"]))
    if reference is None and DEFAULT_REFERENCE in models:
        reference = DEFAULT_REFERENCE
    confidence = confidence_table(scores, reference if reference in models else None, seed)
    endpoints = endpoints_of(scores)
    certainty = Certainty(reference if reference in models else None, scores, confidence, pd.DataFrame(), endpoints)
    tables = []
    for endpoint in endpoints:
        table, ranks = rank_table(scores, endpoint, seed)
        if len(table):
            tables.append(table)
            if endpoint.key in HEADLINE:
                certainty.distributions[endpoint.key] = (list(table.sort_index()["model"]), ranks)
    certainty.ranks = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return certainty


def _value(row: Any, key: str) -> str:
    value = float(row[key])
    return "–" if math.isnan(value) else f"{100 * value if row['percent'] else value:.1f}"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def certainty_markdown(certainty: Certainty) -> str:
    """comparison.md's section: intervals, tests against the reference and ranks of the headline endpoints."""
    if not len(certainty.confidence):
        return ""
    frame = certainty.confidence.set_index(["endpoint", "model"])
    scored = set(frame.index.get_level_values(0))
    headline = [e for e in (certainty.headline or certainty.endpoints[:3]) if e.key in scored]
    if not headline:  # no headline endpoint could be scored on any test patient
        return ""
    models = list(dict.fromkeys(certainty.confidence["model"]))
    patients = {e.key: int(frame.loc[e.key]["patients"].iloc[0]) for e in headline}
    header = ["model", *(f"{e.label} ({patients[e.key]} patients)" for e in headline)]
    rows = []
    for model in models:
        cells = [model]
        for e in headline:
            if (e.key, model) not in frame.index:
                cells.append("–")
                continue
            row = frame.loc[(e.key, model)]
            cell = f"{_value(row, 'mean')} [{_value(row, 'ci_low')}, {_value(row, 'ci_high')}]"
            if not math.isnan(row["p"]):
                cell += f"; {_signed(row)} vs {certainty.reference}, p {_p(row['p_adjusted'])}"
            cells.append(cell)
        rows.append(cells)
    text = (
        "## How sure the comparison is (test patients)\n\n"
        + markdown_table(header, rows)
        + f"\nMean over the test patients (each patient's score averaged over the training seeds) and its "
        f"{CONFIDENCE:.0%} percentile bootstrap interval over patients ({RESAMPLES:,} resamples, "
        "scipy.stats.bootstrap). "
        + (
            f"Against {certainty.reference}: the mean paired difference over the same patients and the two-sided "
            "Wilcoxon signed-rank p-value (scipy.stats.wilcoxon), adjusted for the comparisons of one column with "
            "Benjamini-Hochberg (scipy.stats.false_discovery_control). "
            if certainty.reference
            else "No reference model compared (--reference): no paired tests. "
        )
        + "Every endpoint, with unadjusted p-values: comparison_statistics.csv.\n\n"
    )
    return text + _rank_markdown(certainty, headline)


def _signed(row: Any) -> str:
    value = 100 * row["difference"] if row["percent"] else row["difference"]
    return f"{value:+.1f}"


def _rank_markdown(certainty: Certainty, headline: list[Endpoint]) -> str:
    if not len(certainty.ranks):
        return ""
    text = "### Ranks\n\n"
    for endpoint in headline:
        table = certainty.ranks[certainty.ranks["endpoint"] == endpoint.key]
        rows = [
            [
                str(r.rank),
                r.model,
                f"{r.median_rank:g}",
                f"{r.rank_low:g}-{r.rank_high:g}",
                f"{100 * r.p_first:.0f} %",
            ]
            for r in table.itertuples()
        ]
        text += f"{endpoint.label}:\n\n" + markdown_table(
            ["rank", "model", "median bootstrap rank", f"{CONFIDENCE:.0%} of ranks", "ranked first"], rows
        )
        text += "\n"
    return text + (
        "Rank by the mean over the test patients (1: best); the bootstrap resamples the patients "
        f"({RESAMPLES:,} times, the same resample for every model) and ranks the models again: a model whose rank "
        "interval overlaps another's cannot be said to rank above it on these patients. ranking.png draws the "
        "distributions.\n\n"
    )


def write_certainty(certainty: Certainty, out_dir: Path) -> None:
    """comparison_statistics.json (what ``compare --json`` prints), comparison_statistics.csv, comparison_ranks.csv,
    comparison_patients.csv and ranking.png."""
    if not len(certainty.confidence):
        return
    write_json(out_dir / "comparison_statistics.json", certainty.to_json())
    write_csv(out_dir / "comparison_statistics.csv", certainty.confidence)
    write_csv(out_dir / "comparison_ranks.csv", certainty.ranks)
    write_csv(out_dir / "comparison_patients.csv", certainty.scores)
    if certainty.distributions:
        ranking_figure(certainty, out_dir / "ranking.png")


def ranking_figure(certainty: Certainty, path: Path) -> Path:
    """One panel per headline endpoint: each model's bootstrap ranks as circles sized by their frequency (a blob
    plot), its median rank and its 95 % interval; models ordered by their observed rank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [e for e in certainty.headline if e.key in certainty.distributions]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 0.6, 3.6), squeeze=False)
    for ax, endpoint in zip(axes[0], panels):
        models, ranks = certainty.distributions[endpoint.key]
        order = certainty.ranks[certainty.ranks["endpoint"] == endpoint.key]["model"].tolist()
        n = len(models)
        for x, model in enumerate(order):
            column = ranks[:, models.index(model)]
            counts = np.bincount(column.astype(int), minlength=n + 1)[1:]
            shown = counts > 0
            ax.scatter(
                np.full(shown.sum(), x), np.arange(1, n + 1)[shown], s=400 * counts[shown] / len(column), color="C0"
            )
            low, high = np.percentile(column, [2.5, 97.5])
            ax.plot([x, x], [low, high], color="black", linewidth=1)
            ax.plot([x], [np.median(column)], marker="_", color="black", markersize=14)
        ax.set_xticks(range(n), order, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(1, n + 1))
        ax.set_ylim(n + 0.6, 0.4)
        ax.set_ylabel("rank (1: best)", fontsize=8)
        ax.set_title(endpoint.label, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(
        f"bootstrap rank distributions over test patients ({RESAMPLES:,} resamples); line: median and 95 % interval",
        fontsize=8,
    )
    fig.tight_layout()
    return save_figure(path, fig)
