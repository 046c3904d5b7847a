"""Finished runs side by side: one table (markdown and CSV) and a box plot of per-slice Dice."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from ..contracts.metric import MetricFacts
from ..errors import UserError
from ..record.summary import Summary
from ..reporting.format import format_stat, markdown_table
from ..reporting.run_report import TRANSLATION_HEADER, row_label, translation_rows
from ..utils.io import write_csv, write_text
from ..utils.terminal import FittedTable, print_fitted
from .certainty import assess, certainty_markdown, write_certainty
from .policy_tables import policy_comparison_markdown, policy_frame
from .runs import ComparedRun, LoadedRun, compared_runs, load_runs

RUN_COLUMNS = ("model", "supervision", "loss_set", "data", "steps_done")


def _labels(run_dirs: Sequence[Path], groups: Sequence[str]) -> list[str]:
    """One label per run: its group (the model, with what tells its variants apart), with the folder name when
    groups repeat."""
    labels = list(groups)
    if len(set(labels)) < len(labels):
        labels = [f"{g} ({d.name})" for g, d in zip(groups, run_dirs)]
    if len(set(labels)) < len(labels):  # runs of one name in different folders
        labels = [f"{g} ({d.parent.name}/{d.name})" for g, d in zip(groups, run_dirs)]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


def comparison_table(run_dirs: Sequence[Path], summaries: Sequence[Summary]) -> tuple[pd.DataFrame, list[str]]:
    """One row per run and split: run facts and, per metric, mean, std, median and undefined count."""
    metrics = list(dict.fromkeys(m for s in summaries for m in s.metrics))
    rows = []
    for run_dir, summary in zip(run_dirs, summaries):
        for split, per in summary.splits.items():
            row = {
                "run": str(run_dir),
                **{k: _or_empty(getattr(summary.run, k)) for k in RUN_COLUMNS},
                "split": split,
                "unit": summary.unit,
                "empty": summary.empty,
                "slices": summary.slices.get(split, 0),
                "undefined_slices": summary.undefined_slices.get(split, 0),
            }
            for m in metrics:
                st = per.get(m)
                for stat in ("mean", "std", "median", "n", "undefined"):
                    row[f"{m}_{stat}"] = getattr(st, stat) if st is not None else float("nan")
            for m in map_metrics(summaries):
                row[m] = summary.threshold_free.get(split, {}).get(m, float("nan"))
            rows.append(row)
    return pd.DataFrame(rows), metrics


def _or_empty(value: Any) -> Any:
    return "" if value is None else value


def map_metrics(summaries: Sequence[Summary]) -> list[str]:
    """The map metrics of any of the runs."""
    return list(dict.fromkeys(m for s in summaries for m in s.map_metrics))


def _steps(summary: Summary) -> str:
    run = summary.run
    if run.supervision == "none":
        return "-"
    return str(run.steps_done if run.steps_done is not None else run.steps if run.steps is not None else "?")


def _display_rows(summaries: Sequence[Summary], metrics: Sequence[str], unit: str) -> tuple[list[str], list[list[str]]]:
    maps = map_metrics(summaries)
    header = (
        ["model (split)", "supervision", "loss set", "steps", "data"]
        + [_facts(summaries, m).column(unit) for m in metrics]
        + [_facts(summaries, m).column(unit) for m in maps]
        + ["slices", "undefined"]
    )
    rows = []
    for summary in summaries:
        for split, per in summary.splits.items():
            rows.append(
                [
                    row_label(summary, split),
                    summary.run.supervision,
                    summary.run.loss_set,
                    _steps(summary),
                    summary.run.data,
                ]
                + [format_stat(per[m], summary.facts(m).is_ratio) if m in per else "–" for m in metrics]
                + [summary.facts(m).cell(summary.threshold_free.get(split, {}).get(m, float("nan"))) for m in maps]
                + [str(summary.slices.get(split, 0)), str(summary.undefined_slices.get(split, 0))]
            )
    return header, rows


def _facts(summaries: Sequence[Summary], metric: str) -> MetricFacts:
    """A metric's facts as the first run that scored it holds them."""
    return next((s.metric_facts[metric] for s in summaries if metric in s.metric_facts), summaries[0].facts(metric))


def data_warning(summaries: Sequence[Summary], run_dirs: Sequence[Path]) -> str | None:
    """A warning when the runs were not scored on the same data (the comparison is then not like for like)."""
    data = {s.run.data for s in summaries}
    sizes = {str(s.run.split_sizes) for s in summaries if s.run.split_sizes}
    if len(data) > 1:
        listing = "; ".join(f"{d.name}: {s.run.data}" for s, d in zip(summaries, run_dirs))
        return f"the runs were trained and scored on different data ({listing}); their scores are not comparable"
    folds = {s.run.folds or 0 for s in summaries}
    one_cross_validation = len(folds) == 1 and 0 not in folds  # its folds split the patients differently by design
    if len(sizes) > 1 and not one_cross_validation:
        return "the runs split the same data differently (patients per split differ); their scores are not comparable"
    return None


@dataclasses.dataclass
class RunTable:
    """Finished runs side by side: their summaries, the numeric table and its rendered rows."""

    run_dirs: list[Path]
    summaries: list[Summary]
    #: one row per run and split (see :func:`comparison_table`)
    table: pd.DataFrame
    header: list[str]
    rows: list[list[str]]
    #: distance unit of every run, or "px or mm" when they differ
    unit: str
    #: why the runs are not comparable, or None
    warning: str | None
    #: per run, the row it is pooled into: its model, loss set, label fraction and variant (ComparedRun.label)
    groups: list[str]

    @property
    def labels(self) -> list[str]:
        return _labels(self.run_dirs, self.groups)

    def markdown(self) -> str:
        """The table with its warning, legend and the run directories, as markdown (no heading)."""
        empties = sorted({s.empty for s in self.summaries})
        return (
            (f"**Warning:** {self.warning}.\n\n" if self.warning else "")
            + markdown_table(self.header, self.rows)
            + f"\nmean ± std (median) over slices (Dice PP over patients); Dice in %, distances in {self.unit}; "
            f"empty-mask convention: {', '.join(empties)}; steps: training steps done. Runs:\n\n"
            + "".join(f"- {s.model}: `{d}`\n" for s, d in zip(self.summaries, self.run_dirs))
            + self.levels_markdown()
            + policy_comparison_markdown(self.labels, self.summaries, self.groups)
        )

    def levels_markdown(self) -> str:
        """The anatomical-level shortcut of each weakly supervised run's training data, and what each translating
        run changes outside the lesion (sections left out when no run has them)."""
        text = ""
        level_rows = [
            [
                label,
                f"{sep['auroc']:.2f}",
                _range(sep.get("shared_range")),
                "yes" if s.run.level_matched else "no",
            ]
            for label, s in zip(self.labels, self.summaries)
            if (sep := s.run.level_separation)
        ]
        if level_rows:
            text += (
                "\n### Anatomical level of the training slices\n\n"
                + markdown_table(["run", "level AUROC", "levels with both domains", "level-matched"], level_rows)
                + "\nAUROC of the axial level alone (normalised per patient, 10 bins) for healthy vs pathological "
                "training slices: 0.5, the domains share their levels; 1, no level holds both, and a model can tell "
                "them apart by anatomy instead of lesion.\n"
            )
        change_rows = [
            [label, *row[1:]]
            for label, s in zip(self.labels, self.summaries)
            for row in translation_rows(s)[1]
            if row[0].endswith("(Te)")
        ]
        if change_rows:
            text += (
                "\n### What the translation changes outside the lesion (test)\n\n"
                + markdown_table(["run", *TRANSLATION_HEADER[1:]], change_rows)
                + "\nMean |x - healed x| over brain pixels outside the reference lesion (normalised intensities, "
                "brain std 1/3); a faithful translation to healthy changes nothing there.\n"
            )
        return text


def _range(shared: Any) -> str:
    return f"{shared[0]:.1f}-{shared[1]:.1f}" if shared else "none"


def tabulate_runs(runs: Sequence[LoadedRun]) -> RunTable:
    """The comparison table of finished runs."""
    paths = [r.run_dir for r in runs]
    summaries = [r.summary for r in runs]
    units = {s.unit for s in summaries}
    unit = units.pop() if len(units) == 1 else "px or mm"
    table, metrics = comparison_table(paths, summaries)
    header, rows = _display_rows(summaries, metrics, unit)
    groups = [r.run.label for r in runs]
    return RunTable(paths, summaries, table, header, rows, unit, data_warning(summaries, paths), groups)


def _stderr_note(message: str) -> None:
    Console(stderr=True).print(message, style="yellow", markup=False, highlight=False, soft_wrap=True)


def _write_boxplot(compared: RunTable, runs: Sequence[LoadedRun], out_dir: Path, split: str) -> None:
    """Per-slice Dice of ``split`` per run (all slices when a run has none of that split)."""
    from ..figures.slices import dice_boxplot

    groups = {}
    for label, loaded in zip(compared.labels, runs):
        frame = loaded.slices
        chosen = frame[frame["split"] == split] if (frame["split"] == split).any() else frame
        groups[label] = chosen["dice"].to_numpy(float) if "dice" in chosen else []
    dice_boxplot(
        out_dir / "dice-boxplot.png", groups, title=f"per-slice Dice, {split} slices" if split else "per-slice Dice"
    )


def _write_same_slices(compared: RunTable, out_dir: Path, console: Console | None) -> None:
    """``same-slices.png``; notes go to stderr when there is a console."""
    from .figures import same_slices_figure

    runs = [
        ComparedRun(label, s.run.seed, 1.0, d, s.run.supervision)
        for label, s, d in zip(compared.labels, compared.summaries, compared.run_dirs)
    ]

    def note(message: str) -> None:
        if console is not None:
            _stderr_note(f"note: {message}")

    if same_slices_figure(runs, out_dir / "same-slices.png", note=note if console else None) is None:
        note(f"{compared.run_dirs[0]} has no test slices; no same-slices.png written")


def _print_comparison(compared: RunTable, console: Console) -> None:
    """The runs' table fitted to the console; what every run shares (data, split, ...) is said once below it."""
    print_fitted(
        console,
        FittedTable(
            f"mean ± std (median); Dice in %, distances in {compared.unit}",
            compared.header,
            compared.rows,
            label_columns=5,
        ),
    )


def write_policy_outputs(compared: RunTable, out_dir: Path, figure: bool = True) -> None:
    """``comparison_policies.csv`` and ``policies.png`` when the runs scored threshold policies."""
    policies = policy_frame(compared.labels, compared.summaries, compared.groups)
    if not len(policies):
        return
    write_csv(out_dir / "comparison_policies.csv", policies)
    if figure:
        from .figures import policy_figure

        policy_figure(policies, out_dir / "policies.png")


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    registry: Any,
    split: str = "test",
    console: Console | None = None,
    same_slices: bool = True,
    boxplot: bool = True,
    reference: str | None = None,
) -> pd.DataFrame:
    """Write ``comparison.md``, ``comparison.csv``, ``dice-boxplot.png``, ``same-slices.png`` and, when the runs
    scored threshold policies, ``comparison_policies.csv`` and ``policies.png`` for finished runs.

    The box plot shows per-slice Dice of ``split`` (all slices when a run
    has none of that split); ``same-slices.png`` the same test slices under
    every run (unless ``same_slices`` is false). Returns the numeric
    comparison table.
    """
    if not run_dirs:
        raise UserError("compare: give at least one run directory")
    runs = load_runs(compared_runs([Path(d) for d in run_dirs]), registry)
    compared = tabulate_runs(runs)
    out_dir = Path(out_dir)
    write_csv(out_dir / "comparison.csv", compared.table)
    write_policy_outputs(compared, out_dir, figure=boxplot)
    certainty = assess(runs, reference)
    write_certainty(certainty, out_dir)
    write_text(
        out_dir / "comparison.md", "# Comparison\n\n" + compared.markdown() + "\n" + certainty_markdown(certainty)
    )
    if compared.warning and console is not None:
        _stderr_note(f"warning: {compared.warning}")
    if boxplot:
        _write_boxplot(compared, runs, out_dir, split)
    if same_slices:
        _write_same_slices(compared, out_dir, console)
    if console is not None:
        _print_comparison(compared, console)
        console.print(f"comparison written to {out_dir}", soft_wrap=True)
    return compared.table
