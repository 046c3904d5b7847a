"""``pathogan-bench run``: train, segment, score and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config.ranges import FOLDS
from ..errors import UserError
from ..utils.terminal import message_console, result_console
from .options import common_run_options, executor_options, run_only_options

if TYPE_CHECKING:
    from ..engine.run import RunResult

#: what ``--resume`` may change: the rest is fixed by the run's config.toml
RESUMABLE_OPTIONS = ("stop_at", "device", "threads")


@click.command("run")
@run_only_options
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue a stopped or interrupted run directory (may change --stop-at, --device, --threads).",
)
@click.option(
    "--folds",
    type=FOLDS.click_type(),
    help="Patient-level K-fold cross-validation: one run per "
    "fold in OUT/NAME (default runs/cv-MODEL[-LOSSSET]-Kfolds), per-fold and pooled tables; run the same "
    "command again to continue it fold by fold.",
)
@click.option(
    "--move-aside",
    is_flag=True,
    help="With --folds: rename finished folds whose training settings differ to NAME.replaced-<date>-<time> "
    "and train them again (without it the command refuses; folds are never deleted).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the final tables (and warnings): no progress, no notes.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run's summary (summary.json, with run_dir and status) on stdout instead of the tables.",
)
@executor_options
@common_run_options
def run_command(
    resume: Path | None,
    folds: int | None,
    move_aside: bool,
    quiet: bool,
    as_json: bool,
    workers: int | None,
    ray_address: str | None,
    config_file: Path | None,
    **options: Any,
) -> None:
    """Train a model, segment the test patients and write a Dice/HD95/AVD report.

    \b
    With no --data, runs on the built-in synthetic dataset (generated once):
        pathogan-bench run --model pathogan --loss-set full
    The paper's experiment on BraTS, on a GPU:
        pathogan-bench run --data /data/BraTS2017 --preset paper --device cuda
    Ablations and your own loss terms:
        pathogan-bench run --loss-set full --without relevancy --loss tv=0.2
    Score on another folder, a fixed split, or every patient by cross-validation:
        pathogan-bench run --data DIR --test-data OTHER_DIR
        pathogan-bench run --data DIR --split-file runs/RUN/splits.json
        pathogan-bench run --data DIR --folds 4
    Train on a healthy cohort (IXI, CamCAN) and test on the labelled data:
        pathogan-bench run --data BRATS_DIR --healthy-data IXI_DIR --model anoddpm
    Repeat a run, or continue one that stopped (Ctrl-C saves a checkpoint first):
        pathogan-bench run --config runs/RUN/config.toml
        pathogan-bench run --resume runs/RUN
    Results go to stdout, progress and warnings to stderr; for scripts:
        pathogan-bench run --model threshold --json > summary.json
    """
    from ..config import resolve_config
    from ..engine import run

    if resume is not None and folds:
        raise UserError(
            "--resume continues one run; to continue a cross-validation, repeat its command "
            "(finished folds are reused, an interrupted one resumed)"
        )
    if folds:
        _cross_validate(resolve_config(config_file, **options), folds, move_aside, workers, ray_address)
        return
    if workers or ray_address:
        raise UserError("--workers and --ray-address run the folds of --folds; a single run is one process")
    if move_aside:
        raise UserError("--move-aside applies to the folds of --folds; a single run gets a new directory anyway")
    if resume is None:
        _report(run(resolve_config(config_file, **options), console=message_console(quiet)), as_json)
        return
    _report(_resume(resume, config_file, quiet, options), as_json)


def _cross_validate(config: Any, folds: int, move_aside: bool, workers: int | None, ray_address: str | None) -> None:
    """``run --folds K``: one run per fold in OUT/NAME (default cv-MODEL[-LOSSSET]-Kfolds), compared."""
    from ..comparison import compare_models
    from ..comparison.executors import executor_for
    from ..engine.model_options import model_class
    from ..registry import get_registry

    registry = get_registry()
    uses_loss_set = model_class(registry.get("model", config.model)).uses_loss_set
    study = f"cv-{config.model}" + (f"-{config.loss_set}" if uses_loss_set else "") + f"-{folds}folds"
    compare_models(
        config,
        [config.model],
        Path(config.out) / (config.name or study),
        registry,
        folds=folds,
        console=message_console(),
        move_aside=move_aside,
        executor=executor_for(workers, ray_address),
    )


def _resume(resume: Path, config_file: Path | None, quiet: bool, options: dict[str, Any]) -> RunResult:
    """``run --resume RUN``: the run's own config.toml, with only the options a resumed run may change."""
    from ..config import resolve_config
    from ..engine import run
    from ..engine.rundir import existing_run_dir

    fixed = sorted(k for k, v in options.items() if k not in RESUMABLE_OPTIONS and v not in (None, (), [], False))
    if config_file is not None:
        fixed.insert(0, "config")
    if fixed:
        names = ", ".join("--" + k.replace("_", "-") for k in fixed)
        raise UserError(
            f"--resume continues {resume} with its own config.toml; {names} cannot change it "
            f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_OPTIONS)} can). "
            f"Start a new run from it instead: pathogan-bench run --config {resume}/config.toml ..."
        )
    run_dir = existing_run_dir(resume)
    # a stop_at stored in the run's config was for the first part; resume runs to the end unless told
    kept = {k: options.get(k) for k in RESUMABLE_OPTIONS}
    kept["stop_at"] = kept["stop_at"] or 0
    return run(resolve_config(run_dir / "config.toml", **kept), resume_dir=run_dir, console=message_console(quiet))


def _report(result: RunResult, as_json: bool) -> None:
    """The run's results on stdout: its tables and folder, or its summary as JSON."""
    from ..reporting.run_report import print_summary

    console = result_console()
    if as_json:
        summary = result.summary.to_dict() if result.summary is not None else {}
        click.echo(json.dumps({"run_dir": str(result.run_dir), "status": result.status, **summary}, indent=1))
        return
    if result.summary is not None:
        print_summary(result.summary, console)
    console.print(f"run directory: {result.run_dir}", soft_wrap=True, highlight=False)
