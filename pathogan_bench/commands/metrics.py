"""``pathogan-bench metrics`` (score NIfTI label maps) and ``pathogan-bench evaluate`` (re-score a run)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from ..io import write_csv
from ..metrics import CASE_NAMES, CONVENTIONS, PAIR_METRICS, score_batch
from ..report import Stat, format_stat, is_ratio, print_table

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


def find_pairs(pred: Path, gt: Path) -> list[tuple[str, Path, Path]]:
    """(name, prediction, ground truth) for two files, or two folders matched by file name."""
    if pred.is_file() and gt.is_file():
        return [(pred.name, pred, gt)]
    if pred.is_dir() and gt.is_dir():
        preds = {p.name: p for p in sorted(pred.iterdir()) if p.is_file() and _is_nifti(p)}
        gts = {p.name: p for p in sorted(gt.iterdir()) if p.is_file() and _is_nifti(p)}
        if not preds:
            raise UserError(f"{pred}: no .nii or .nii.gz files")
        missing = sorted(set(preds) - set(gts))
        if missing:
            raise UserError(f"{gt}: no ground truth for {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        return [(name, preds[name], gts[name]) for name in preds]
    for path in (pred, gt):
        if not path.exists():
            raise UserError(f"{path}: does not exist")
    raise UserError(f"{pred}, {gt}: give two files or two folders")


def load_labels(path: Path, labels: Sequence[int] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    """A boolean foreground mask (label > 0, or one of ``labels``) and the voxel size."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:
        raise UserError(f"{path}: cannot read as NIfTI: {exc}") from None
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3):
        raise UserError(f"{path}: expected a 2D or 3D label map, got shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise UserError(f"{path}: not a label map (non-integer values; threshold probabilities first)")
    mask = np.isin(data, list(labels)) if labels else data > 0
    zooms = tuple(float(z) for z in image.header.get_zooms()[: data.ndim])
    return mask, zooms


def parse_spacing(text: str, ndim: int, path: Path | None = None) -> tuple[float, ...] | None:
    """``auto`` -> None (use the header); ``1`` or ``1,1,2.5`` -> a tuple."""
    if text == "auto":
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--spacing {text}: expected 'auto' or numbers like 1,1,1") from None
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim or not all(v > 0 for v in values):
        raise UserError(f"--spacing {text}: needs {ndim} positive numbers" + (f" for {path}" if path else ""))
    return values


def score_volume(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], metrics: Sequence[str],
                 empty: str, axis: int = 2) -> tuple[dict[str, float], pd.DataFrame]:
    """Volumetric scores and per-slice scores along ``axis`` (slices where either mask has foreground)."""
    whole = score_batch(pred[None], ref[None], metrics, spacing, empty)
    volume = {m: float(whole.values[m][0]) for m in metrics}
    volume["case"] = CASE_NAMES[int(whole.case[0])]
    if pred.ndim == 2:
        return volume, pd.DataFrame(columns=["z", *metrics, "case"])
    stack_p, stack_r = np.moveaxis(pred, axis, 0), np.moveaxis(ref, axis, 0)
    keep = np.flatnonzero(stack_p.reshape(len(stack_p), -1).any(1) | stack_r.reshape(len(stack_r), -1).any(1))
    in_plane = tuple(s for i, s in enumerate(spacing) if i != axis)
    scores = score_batch(np.ascontiguousarray(stack_p[keep]), np.ascontiguousarray(stack_r[keep]), metrics,
                         in_plane, empty)
    frame = pd.DataFrame({"z": keep, **scores.values, "case": scores.case_names()})
    return volume, frame


@click.command("metrics")
@click.argument("pred", type=click.Path(exists=True, path_type=Path))
@click.argument("gt", type=click.Path(exists=True, path_type=Path))
@click.option("--spacing", default="auto", show_default=True,
              help="Voxel size: 'auto' reads it from the NIfTI header; or e.g. 1,1,1.")
@click.option("--empty", type=click.Choice(list(CONVENTIONS)), default="default", show_default=True,
              help="Empty-mask convention (see docs/METRICS.md).")
@click.option("--metrics", "metric_names", default=",".join(PAIR_METRICS), show_default=True,
              help="Comma-separated metrics.")
@click.option("--labels", default=None, help="Comma-separated labels counted as foreground (default: every label > 0).")
@click.option("--axis", type=click.IntRange(0, 2), default=2, show_default=True,
              help="Slice axis for the slice-wise scores (2 = axial for BraTS, slice = volume[:, :, z]).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write every score to this CSV.")
def metrics_command(pred: Path, gt: Path, spacing: str, empty: str, metric_names: str, labels: str | None,
                    axis: int, out: Path | None) -> None:
    """Score predicted label maps against ground truth, volume-wise and slice-wise.

    PRED and GT are two NIfTI files or two folders of them, matched by file
    name. Slice-wise statistics cover the slices where either mask has
    foreground.

    \b
    Examples:
        pathogan-bench metrics pred.nii.gz seg.nii.gz
        pathogan-bench metrics predictions/ labels/ --empty brats --out scores.csv
    """
    metrics = [m.strip() for m in metric_names.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in PAIR_METRICS]
    if unknown:
        raise UserError(f"--metrics: unknown {', '.join(unknown)}; choose from {', '.join(PAIR_METRICS)}")
    try:
        wanted = [int(v) for v in labels.split(",")] if labels else None
    except ValueError:
        raise UserError(f"--labels {labels}: expected integers like 1,2,4") from None
    rows = []
    table = Table(title=f"volume and per-slice scores (mean ± std (median)); empty masks: {empty}")
    table.add_column("file", no_wrap=True)
    table.add_column("scope")
    for m in metrics:
        table.add_column(m + (" (%)" if is_ratio(m) else ""), justify="right", no_wrap=True)
    err = Console(stderr=True)
    for name, pred_path, gt_path in find_pairs(pred, gt):
        p, p_zoom = load_labels(pred_path, wanted)
        g, g_zoom = load_labels(gt_path, wanted)
        if p.shape != g.shape:
            raise UserError(f"{pred_path}: shape {p.shape} differs from {gt_path} {g.shape}")
        steps = parse_spacing(spacing, g.ndim, gt_path) or g_zoom
        if spacing == "auto" and not np.allclose(p_zoom, g_zoom, rtol=1e-3):
            err.print(f"warning: {pred_path} voxel size {p_zoom} differs from {gt_path} {g_zoom}; using the latter")
        volume, slices = score_volume(p, g, steps, metrics, empty, axis=min(axis, g.ndim - 1))
        rows.append({"file": name, "scope": "volume", "z": "", **volume})
        rows += [{"file": name, "scope": "slice", **r} for r in slices.to_dict("records")]
        scale = lambda m, v: f"{100 * v:.2f}" if is_ratio(m) else f"{v:.3f}"  # noqa: E731
        table.add_row(name, "volume", *[scale(m, volume[m]) for m in metrics])
        if len(slices):
            table.add_row("", f"{len(slices)} slices",
                          *[format_stat(Stat.of(slices[m].to_numpy(float)), is_ratio(m), 2) for m in metrics])
    print_table(table, Console())
    if out is not None:
        write_csv(out, pd.DataFrame(rows))
        err.print(f"scores written to {out}")


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--metrics", "metric_names", default=None,
              help="Comma-separated metrics (default: the run's config, else dice,hd95,avd,dice_pp).")
@click.option("--empty", type=click.Choice(list(CONVENTIONS)), default=None,
              help="Empty-mask convention (default: the run's config, else 'default').")
def evaluate_command(run_dir: Path, metric_names: str | None, empty: str | None) -> None:
    """Re-score a finished run from its predictions.npz and rewrite its reports.

    Writes metrics_slices.csv, metrics_patients.csv, summary.json and
    report.md in RUN_DIR and prints the Table-1 summary.

    \b
    Examples:
        pathogan-bench evaluate runs/20260101-120000-pathogan-full
        pathogan-bench evaluate runs/RUN --metrics dice,hd95,hd,assd,avd,avd_mean,dice_pp --empty brats
    """
    from ..evaluation import evaluate_run, parse_metric_names
    from ..report import print_summary

    summary = evaluate_run(run_dir, metrics=parse_metric_names(metric_names), empty=empty)
    print_summary(summary, console=Console())
    print(f"reports written to {run_dir}", file=sys.stderr)
