"""Finished runs side by side: one table (markdown and CSV) and a box plot of per-slice Dice."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from ..errors import UserError
from ..evaluation import evaluate_run, load_run_info
from ..io import write_csv, write_text
from ..report import (
    DEFAULT_MAP_METRICS,
    TRANSLATION_HEADER,
    Summary,
    column_label,
    format_stat,
    is_ratio,
    markdown_table,
    metric_facts,
    row_label,
    translation_rows,
)
from ..terminal import FittedTable, print_fitted
from .policies import policy_comparison_markdown, policy_frame

RUN_COLUMNS = ("model", "supervision", "loss_set", "data", "steps_done")


def load_summary(run_dir: Path) -> Summary:
    """The run's summary.json, scoring the run first when it has none (or no per-slice table)."""
    if not (run_dir / "summary.json").is_file() or not (run_dir / "metrics_slices.csv").is_file():
        return evaluate_run(run_dir)
    try:
        return Summary.load(run_dir / "summary.json")
    except (ValueError, TypeError) as exc:
        raise UserError(f"{run_dir / 'summary.json'}: cannot read: {exc}") from None


def _labels(run_dirs: Sequence[Path], summaries: Sequence[Summary]) -> list[str]:
    """One label per run: the model, with the loss set or folder name when models repeat."""
    labels = [s.model for s in summaries]
    if len(set(labels)) < len(labels):
        labels = [f"{s.model} ({s.run.get('loss_set', '?')})" for s in summaries]
    if len(set(labels)) < len(labels):
        labels = [f"{s.model} ({d.name})" for s, d in zip(summaries, run_dirs)]
    return labels


def comparison_table(run_dirs: Sequence[Path], summaries: Sequence[Summary]) -> tuple[pd.DataFrame, list[str]]:
    """One row per run and split: run facts and, per metric, mean, std, median and undefined count."""
    metrics = list(dict.fromkeys(m for s in summaries for m in s.metrics))
    rows = []
    for run_dir, summary in zip(run_dirs, summaries):
        for split, per in summary.splits.items():
            row = {
                "run": str(run_dir),
                **{k: summary.run.get(k, "") for k in RUN_COLUMNS},
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


def map_metrics(summaries: Sequence[Summary]) -> list[str]:
    """The map metrics of any of the runs (those of the built-in list for summaries written before them)."""
    return list(dict.fromkeys(m for s in summaries for m in (s.map_metrics or DEFAULT_MAP_METRICS)))


def _steps(summary: Summary) -> str:
    run = summary.run
    if summary.run.get("supervision") == "none":
        return "-"
    return str(run.get("steps_done", run.get("steps", "?")))


def _display_rows(summaries: Sequence[Summary], metrics: Sequence[str], unit: str) -> tuple[list[str], list[list[str]]]:
    maps = map_metrics(summaries)
    header = (
        ["model (split)", "supervision", "loss set", "steps", "data"]
        + [column_label(m, unit) for m in metrics]
        + [column_label(m, unit) for m in maps]
        + ["slices", "undefined"]
    )
    rows = []
    for summary in summaries:
        for split, per in summary.splits.items():
            rows.append(
                [
                    row_label(summary, split),
                    str(summary.run.get("supervision", "")),
                    str(summary.run.get("loss_set", "")),
                    _steps(summary),
                    str(summary.run.get("data", "")),
                ]
                + [format_stat(per[m], is_ratio(m)) if m in per else "–" for m in metrics]
                + [metric_facts(m).cell(summary.threshold_free.get(split, {}).get(m, float("nan"))) for m in maps]
                + [str(summary.slices.get(split, 0)), str(summary.undefined_slices.get(split, 0))]
            )
    return header, rows


def data_warning(summaries: Sequence[Summary], run_dirs: Sequence[Path]) -> str | None:
    """A warning when the runs were not scored on the same data (the comparison is then not like for like)."""
    data = {str(s.run.get("data", "?")) for s in summaries}
    sizes = {str(s.run.get("split_sizes")) for s in summaries if s.run.get("split_sizes")}
    if len(data) > 1:
        listing = "; ".join(f"{d.name}: {s.run.get('data', '?')}" for s, d in zip(summaries, run_dirs))
        return f"the runs were trained and scored on different data ({listing}); their scores are not comparable"
    folds = {s.run.get("folds") or 0 for s in summaries}
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

    @property
    def labels(self) -> list[str]:
        return _labels(self.run_dirs, self.summaries)

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
            + policy_comparison_markdown(self.labels, self.summaries)
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
                "yes" if s.run.get("level_matched") else "no",
            ]
            for label, s in zip(self.labels, self.summaries)
            if (sep := s.run.get("level_separation"))
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


def tabulate_runs(run_dirs: Sequence[str | Path]) -> RunTable:
    """The comparison table of finished runs, scoring those not scored yet."""
    paths = [Path(d) for d in run_dirs]
    if not paths:
        raise UserError("compare: give at least one run directory")
    for d in paths:
        load_run_info(d)  # fails with the path when it is not a run
    summaries = [load_summary(d) for d in paths]
    units = {s.unit for s in summaries}
    unit = units.pop() if len(units) == 1 else "px or mm"
    table, metrics = comparison_table(paths, summaries)
    header, rows = _display_rows(summaries, metrics, unit)
    return RunTable(paths, summaries, table, header, rows, unit, data_warning(summaries, paths))


def _stderr_note(message: str) -> None:
    Console(stderr=True).print(message, style="yellow", markup=False, highlight=False, soft_wrap=True)


def _write_boxplot(compared: RunTable, out_dir: Path, split: str) -> None:
    """Per-slice Dice of ``split`` per run (all slices when a run has none of that split)."""
    from ..slice_figures import dice_boxplot

    groups = {}
    for label, run_dir in zip(compared.labels, compared.run_dirs):
        frame = pd.read_csv(run_dir / "metrics_slices.csv")
        chosen = frame[frame["split"] == split] if (frame["split"] == split).any() else frame
        groups[label] = chosen["dice"].to_numpy(float) if "dice" in chosen else []
    dice_boxplot(
        out_dir / "dice-boxplot.png", groups, title=f"per-slice Dice, {split} slices" if split else "per-slice Dice"
    )


def _write_same_slices(compared: RunTable, out_dir: Path, console: Console | None) -> None:
    """``same-slices.png``; notes go to stderr when there is a console."""
    from .comparison_figures import same_slices_figure
    from .summary import ComparedRun

    runs = [
        ComparedRun(label, int(s.run.get("seed", 0) or 0), 1.0, d, str(s.run.get("supervision", "")))
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
    policies = policy_frame(compared.labels, compared.summaries)
    if not len(policies):
        return
    write_csv(out_dir / "comparison_policies.csv", policies)
    if figure:
        from .policy_figure import policy_figure

        policy_figure(policies, out_dir / "policies.png")


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    split: str = "test",
    console: Console | None = None,
    same_slices: bool = True,
    boxplot: bool = True,
) -> pd.DataFrame:
    """Write ``comparison.md``, ``comparison.csv``, ``dice-boxplot.png``, ``same-slices.png`` and, when the runs
    scored threshold policies, ``comparison_policies.csv`` and ``policies.png`` for finished runs.

    The box plot shows per-slice Dice of ``split`` (all slices when a run
    has none of that split); ``same-slices.png`` the same test slices under
    every run (unless ``same_slices`` is false). Returns the numeric
    comparison table.
    """
    compared = tabulate_runs(run_dirs)
    out_dir = Path(out_dir)
    write_csv(out_dir / "comparison.csv", compared.table)
    write_policy_outputs(compared, out_dir, figure=boxplot)
    write_text(out_dir / "comparison.md", "# Comparison\n\n" + compared.markdown())
    if compared.warning and console is not None:
        _stderr_note(f"warning: {compared.warning}")
    if boxplot:
        _write_boxplot(compared, out_dir, split)
    if same_slices:
        _write_same_slices(compared, out_dir, console)
    if console is not None:
        _print_comparison(compared, console)
        console.print(f"comparison written to {out_dir}", soft_wrap=True)
    return compared.table
