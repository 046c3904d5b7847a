"""``pathogan-bench metrics`` (score NIfTI label maps) and ``pathogan-bench evaluate`` (re-score a run)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.console import Console

from ..config.schema import DEFAULT_METRICS
from ..contracts.metric import MaskMetric, MetricFacts
from ..errors import UserError
from ..metrics import CONVENTIONS, KERNEL_METRICS
from ..metrics.label_files import find_pairs, load_label_pair, parse_spacing, score_volume
from ..record.summary import Stat
from ..reporting.format import format_stat
from ..utils.io import write_csv
from ..utils.terminal import FittedTable, print_fitted, result_console
from .options import CommaList


@click.command("metrics")
@click.argument("pred", type=click.Path(exists=True, path_type=Path))
@click.argument("gt", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--spacing",
    default="auto",
    show_default=True,
    help="Voxel size in mm: 'auto' reads it from the NIfTI header; or e.g. 1,1,1.",
)
@click.option(
    "--empty",
    type=click.Choice(list(CONVENTIONS)),
    default="default",
    show_default=True,
    help="Empty-mask convention (see docs/METRICS.md).",
)
@click.option(
    "--metrics",
    "metrics",
    type=CommaList(kind="metric", example="dice,hd95"),
    default=",".join(KERNEL_METRICS),
    show_default=True,
    help="Comma-separated metrics.",
)
@click.option(
    "--labels",
    type=CommaList(int, example="1,2,4"),
    default=None,
    help="Comma-separated labels counted as foreground (default: every label > 0).",
)
@click.option(
    "--axis",
    type=click.IntRange(0, 2),
    default=2,
    show_default=True,
    help="Slice axis for the slice-wise scores (2 = axial for BraTS, slice = volume[:, :, z]).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write every score to this CSV.")
def metrics_command(
    pred: Path,
    gt: Path,
    spacing: str,
    empty: str,
    metrics: list[str],
    labels: list[int] | None,
    axis: int,
    out: Path | None,
) -> None:
    """Score predicted label maps against ground truth, volume-wise and slice-wise.

    PRED and GT are two NIfTI files or two folders of them, matched by file
    name (``segment``'s output folder holds PATIENT-label.nii.gz files).
    Slice-wise statistics cover the slices where either mask has foreground.
    Dice is in %, distances in mm (the voxel size).

    \b
    Examples:
        pathogan-bench metrics pred.nii.gz seg.nii.gz
        pathogan-bench metrics predictions/ labels/ --empty brats --out scores.csv
    """
    chosen = pair_metrics(metrics, empty)
    ratio = {name: MetricFacts.of(metric).is_ratio for name, metric in chosen.items()}
    rows = []
    header = ["file", "scope"] + [m + (" (%)" if ratio[m] else " (mm)") for m in metrics]
    shown: list[list[str]] = []
    err = Console(stderr=True)
    for name, pred_path, gt_path in find_pairs(pred, gt):
        volume, slices = _score_pair(pred_path, gt_path, spacing, labels, chosen, empty, axis, err)
        rows.append({"file": name, "scope": "volume", "z": "", **volume})
        rows += [{"file": name, "scope": "slice", **r} for r in slices.to_dict("records")]
        shown.append([name, "volume", *[f"{100 * volume[m]:.2f}" if ratio[m] else f"{volume[m]:.3f}" for m in metrics]])
        if len(slices):
            shown.append(
                [
                    name,
                    f"{len(slices)} slices",
                    *[format_stat(Stat.of(slices[m].to_numpy(float)), ratio[m], 2) for m in metrics],
                ]
            )
    title = f"volume and per-slice scores, mean ± std (median); empty masks: {empty}"
    print_fitted(result_console(), FittedTable(title, header, shown, label_columns=2))
    if out is not None:
        write_csv(out, pd.DataFrame(rows))
        err.print(f"scores written to {out}")


def pair_metrics(names: list[str], empty: str) -> dict[str, MaskMetric]:
    """The named metrics, each a registered mask metric scored per slice or volume (patient-level ones need a
    run's slices, map metrics its probability maps)."""
    from ..evaluation import create_metric
    from ..registry import get_registry

    registry = get_registry()
    created = {name: create_metric(registry, name, empty) for name in names}
    other = [n for n, m in created.items() if m.input != "mask" or m.level != "pair"]
    if other:
        pair = [
            n
            for n in registry.names("metric")
            if (m := create_metric(registry, n)).input == "mask" and m.level == "pair"
        ]
        raise UserError(
            f"--metrics: {', '.join(other)} scores a patient's slices or probability maps of a run (use "
            f"`evaluate`); here choose from {', '.join(pair)}"
        )
    return created  # type: ignore[return-value]


def _score_pair(
    pred_path: Path,
    gt_path: Path,
    spacing: str,
    labels: list[int] | None,
    metrics: dict[str, MaskMetric],
    empty: str,
    axis: int,
    err: Console,
) -> tuple[dict, pd.DataFrame]:
    p, g, p_zoom, g_zoom = load_label_pair(pred_path, gt_path, labels)
    if p.shape != g.shape:
        raise UserError(f"{pred_path}: shape {p.shape} differs from {gt_path} {g.shape}")
    steps = parse_spacing(spacing, g.ndim, gt_path) or g_zoom
    if spacing == "auto" and not np.allclose(p_zoom, g_zoom, rtol=1e-3):
        err.print(f"warning: {pred_path} voxel size {p_zoom} differs from {gt_path} {g_zoom}; using the latter")
    return score_volume(p, g, steps, metrics, empty, axis=min(axis, g.ndim - 1))


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--metrics",
    type=CommaList(kind="metric", example="dice,hd95"),
    default=None,
    help=f"Comma-separated metrics (default: the run's config, else {','.join(DEFAULT_METRICS)}).",
)
@click.option(
    "--empty",
    type=click.Choice(list(CONVENTIONS)),
    default=None,
    help="Empty-mask convention (default: the run's config, else 'default').",
)
@click.option(
    "--policies",
    type=CommaList(kind="threshold-policy", example="model,fixed:0.5,fpr:1"),
    default=None,
    help="Threshold policies scored side by side (default: the run's config).",
)
@click.option(
    "--postprocess",
    type=CommaList(kind="postprocess", example="median:5,min-component:0.1ml"),
    default=None,
    help="Post-processing steps per patient volume, in order (default: the run's config).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the tables and report here instead of replacing the run's own.",
)
def evaluate_command(
    run_dir: Path,
    metrics: list[str] | None,
    empty: str | None,
    policies: list[str] | None,
    postprocess: list[str] | None,
    out_dir: Path | None,
) -> None:
    """Re-score a finished run from its predictions.npz and write its reports.

    Writes metrics_slices.csv, metrics_patients.csv, summary.json and
    report.md into --out (default: RUN_DIR, replacing the run's own) and
    prints the Table-1 summary.

    \b
    Examples:
        pathogan-bench evaluate runs/20260101-120000-pathogan-full --out rescored
        pathogan-bench evaluate runs/RUN --metrics dice,hd95,hd,assd,avd,avd_mean,dice_pp --empty brats
        pathogan-bench evaluate runs/RUN --policies model,fixed:0.5,fpr:1 --out rescored
    """
    from ..engine.data_record import record_notes
    from ..engine.rundir import refuse_foreign_run_dir
    from ..evaluation import evaluate_run
    from ..registry import get_registry
    from ..reporting.run_report import print_summary

    registry = get_registry()
    for name in metrics or []:
        registry.get("metric", name)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: --out names a file, not a folder")
    if out_dir is not None:
        refuse_foreign_run_dir(out_dir, "--out", subject=run_dir)
    for note in record_notes(run_dir):
        click.echo(f"note: {note}", err=True)
    summary = evaluate_run(
        run_dir, registry, metrics=metrics, empty=empty, out_dir=out_dir, policies=policies, postprocess=postprocess
    )
    print_summary(summary, console=result_console())
    click.echo(f"reports written to {out_dir or run_dir}", err=True)
