"""``pathogan-bench compare``: finished runs side by side, or train several models on one split and compare."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..config.ranges import FOLDS, N_SEEDS
from ..errors import UserError
from ..utils.terminal import message_console
from .options import CommaList, common_run_options, executor_options, registry_name


@click.command("compare")
@click.argument("run_dirs", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("comparison"),
    show_default=True,
    help="Folder for comparison.md, comparison.csv, the figures (and, with --models, the runs).",
)
@click.option(
    "--models",
    type=CommaList(kind="model", example="pathogan,unet"),
    help="Comma-separated models to train on one patient split and compare.",
)
@click.option(
    "--n-seeds",
    type=N_SEEDS.click_type(),
    default=1,
    show_default=True,
    help="Trainings per model, with seeds --seed, --seed + 1, ...",
)
@click.option(
    "--folds",
    type=FOLDS.click_type(),
    help="Patient-level K-fold cross-validation: every patient is "
    "tested once; per-fold and pooled tables. Rerun the same command to continue a stopped comparison.",
)
@click.option(
    "--label-fractions",
    type=CommaList(float, example="0.1,0.5,1"),
    help="For fully supervised models: fractions of training patients with pixel labels, e.g. 0.05,0.1,0.25,0.5,1.",
)
@click.option(
    "--reuse/--no-reuse",
    default=True,
    show_default=True,
    help="Reuse finished runs found under --out. --no-reuse trains them again only with --move-aside.",
)
@click.option(
    "--move-aside",
    is_flag=True,
    help="Rename finished runs under --out whose training settings differ (or all, with --no-reuse) to "
    "NAME.replaced-<date>-<time> and train them again; without it such runs stop the command before it trains. "
    "Runs are never deleted.",
)
@click.option(
    "--loss-set", shell_complete=registry_name("loss-set"), help="Loss set for models that use one (default: full)."
)
@click.option(
    "--reference",
    help="The model the others are tested against, patient by patient (default: threshold, when compared).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the comparison's statistics (comparison_statistics.json: every endpoint's mean, interval, test "
    "and ranks) on stdout instead of the tables.",
)
@executor_options
@common_run_options
def compare_command(
    run_dirs: tuple[Path, ...],
    out_dir: Path,
    models: list[str] | None,
    n_seeds: int,
    folds: int | None,
    label_fractions: list[float] | None,
    reuse: bool,
    move_aside: bool,
    reference: str | None,
    as_json: bool,
    workers: int | None,
    ray_address: str | None,
    config_file: Path | None,
    **options: Any,
) -> None:
    """Compare models on identical patients, slices and metrics.

    Either put finished runs side by side, or train several models (weakly,
    fully and un-supervised) on one patient split first. Writes a markdown
    and a CSV table with a supervision column, a box plot of per-slice test
    Dice per model, a figure of the same test slices segmented by every
    model, and with --label-fractions the Dice-versus-annotation curve.

    \b
    Examples:
        pathogan-bench compare runs/20261202-101500-pathogan-full runs/20261202-103000-unet --out comparison
        pathogan-bench compare --models pathogan,cyclegan,mdgru,unet,threshold --out comparison
        pathogan-bench compare --models pathogan,unet --label-fractions 0.1,0.5,1 --n-seeds 3
        pathogan-bench compare --models pathogan,mdgru,threshold --data DIR --folds 4 --n-seeds 3
    The same grid as Ray tasks, two at a time, one thread each:
        pathogan-bench compare --models pathogan,cyclegan --folds 2 --workers 2 --threads 1
    """
    from ..comparison import compare_models
    from ..comparison.executors import executor_for
    from ..config import resolve_config
    from ..engine.rundir import refuse_foreign_run_dir
    from ..registry import get_registry

    refuse_foreign_run_dir(out_dir, "--out")

    if models:
        if run_dirs:
            raise UserError("give either RUN_DIR... or --models, not both")
        base = resolve_config(config_file, **options)
        compare_models(
            base,
            models,
            out_dir,
            get_registry(),
            seeds=n_seeds,
            label_fractions=label_fractions,
            reuse=reuse,
            folds=folds or 0,
            console=message_console(),
            move_aside=move_aside,
            executor=executor_for(workers, ray_address),
            reference=reference,
            quiet=as_json,
        )
        _print_statistics(out_dir, as_json)
        return
    _compare_run_dirs(
        run_dirs, out_dir, folds, move_aside or bool(workers or ray_address), bool(move_aside), reference, as_json
    )
    _print_statistics(out_dir, as_json)


def _print_statistics(out_dir: Path, as_json: bool) -> None:
    if as_json:
        path = out_dir / "comparison_statistics.json"
        click.echo(path.read_text(encoding="utf-8") if path.is_file() else "{}")


def _compare_run_dirs(
    run_dirs: tuple[Path, ...],
    out_dir: Path,
    folds: int | None,
    trains: bool,
    moves: bool,
    reference: str | None,
    quiet: bool,
) -> None:
    """``compare RUN_DIR...``: finished runs side by side, or, when a model has several runs (folds, seeds), the
    study's report over them (options that train or move runs are refused)."""
    from ..comparison import compare_runs
    from ..comparison.models import report_comparison
    from ..comparison.runs import compared_runs, is_study
    from ..registry import get_registry
    from ..utils.terminal import result_console

    if trains and not moves:
        raise UserError("--workers and --ray-address run the runs that --models trains; RUN_DIR... are only read")
    if moves:
        raise UserError("--move-aside applies to runs that --models trains; RUN_DIR... are only read")
    if not run_dirs:
        raise UserError("nothing to compare: give RUN_DIR... or --models a,b,c")
    if folds:
        raise UserError("--folds trains the models itself: give --models a,b,c, not run directories")
    seen: dict[str, Path] = {}
    for run_dir in run_dirs:
        key = os.path.realpath(run_dir)
        if key in seen:
            raise UserError(f"{run_dir}: given twice (also as {seen[key]}); name each run once")
        seen[key] = run_dir
    runs = compared_runs([Path(d) for d in run_dirs])
    if is_study(runs):
        out_dir.mkdir(parents=True, exist_ok=True)
        seeds = ", ".join(str(s) for s in sorted({r.seed for r in runs}))
        folds = len({r.fold for r in runs if r.fold})
        note = f"{len(runs)} finished runs; training seeds {seeds}" + (f"; {folds} folds" if folds else "") + "."
        report_comparison(runs, out_dir, get_registry(), None if quiet else result_console(), note, reference)
        return
    compare_runs(run_dirs, out_dir, get_registry(), console=None if quiet else Console(), reference=reference)
