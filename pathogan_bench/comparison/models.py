"""Weak versus full supervision on identical patients, slices and metrics.

:func:`compare_models` trains (or reuses, or resumes) one run per model,
fold, training seed and label fraction under one parent folder, every model
on the same patient splits, and writes one report over them: tables pooled
over folds and seeds, the spread by its source, per fold and per run,
per-slice Dice box plots, a figure of the same test slices segmented by every
model, and, with label fractions, Dice against the fraction of annotated
training patients with the weakly supervised models as horizontal lines.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ..config import RunConfig, to_toml
from ..engine import plan_run
from ..engine.prepare import data_seed, scan_data, split_seed
from ..engine.refine import REFINABLE, refine_config
from ..errors import UserError
from ..record.facts import recorded_status
from ..registry import Registry
from ..utils.io import write_csv, write_text
from ..utils.terminal import FittedTable, print_fitted, result_console
from .certainty import assess, certainty_markdown, write_certainty
from .executors import RayExecutor, Sequential
from .figures import label_efficiency_figure, same_slices_figure
from .pooled import Pooled, pooled_sections, pooled_table
from .reuse import check_replacements
from .runs import ComparedRun, load_runs, seed_summary
from .tables import tabulate_runs, write_policy_outputs


def compare_models(
    base: RunConfig,
    models: list[str],
    out_dir: Path,
    registry: Registry,
    seeds: int = 1,
    label_fractions: list[float] | None = None,
    reuse: bool = True,
    folds: int = 0,
    console: Console | None = None,
    move_aside: bool = False,
    executor: Sequential | RayExecutor | None = None,
    reference: str | None = None,
    quiet: bool = False,
) -> list[ComparedRun]:
    """Train every model (x folds, x seeds, x label fractions for fully supervised ones) and compare.

    Only the training seed varies with ``seeds``: the patient split (and the
    folds) and the generated synthetic data keep the base config's seeds.
    With ``folds``, every patient is tested in exactly one fold. Finished
    runs with the same settings are reused and unfinished ones resumed, so
    the same command continues a comparison that was stopped. A finished or
    checkpointed run whose training settings differ (or any, with
    ``reuse=False``) is never deleted: the call fails before training
    anything unless ``move_aside``, which renames it to
    ``NAME.replaced-<date>-<time>``. ``executor`` runs the runs: in this
    process one after another (the default) or as Ray tasks
    (:mod:`.executors`). ``reference``: the model the others are tested
    against (default: the FLAIR threshold when compared); ``quiet``: no
    tables on stdout (``compare --json`` prints the statistics instead).
    """
    console = console or Console(stderr=True)
    planned = plan_study(base, models, out_dir, registry, seeds, _fractions(label_fractions), folds)
    if base.data.path:  # a folder no layout reads fails here, once, not in every run (or Ray task)
        scan_data(base, registry)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    check_replacements([(config, r.run_dir) for config, r in planned], reuse, move_aside)
    runs = [r for _, r in planned]
    study = {"study": str(out_dir.resolve())}
    reused = sum(recorded_status(r.run_dir) == "done" for r in runs) if reuse else 0
    statuses = (executor or Sequential()).execute([(c, r.run_dir) for c, r in planned], reuse, study, console)
    stopped = sum(status != "done" for status in statuses)
    write_text(out_dir / "base-config.toml", to_toml(base))
    if stopped:
        console.print(
            f"{stopped} of {len(runs)} runs stopped before their last step (--stop-at); no comparison "
            "written yet. Run the same command again to continue them.",
            soft_wrap=True,
        )
        return runs
    # the comparison is the result (stdout); ``console`` carries the progress
    data = _fixed_data(base)
    report_comparison(
        runs,
        out_dir,
        registry,
        result_console() if console is not None and not quiet else None,
        seeds_note(base, data, seeds, folds),
        reference,
    )
    console.print(
        f"{len(runs) - reused} runs trained or resumed and {reused} reused in "
        f"{(time.perf_counter() - started) / 60:.1f} min",
        soft_wrap=True,
    )
    return runs


def _fractions(label_fractions: list[float] | None) -> list[float]:
    fractions = sorted(set(label_fractions or [1.0]))
    if any(not 0 < f <= 1 for f in fractions):
        raise UserError(f"--label-fractions must lie in (0, 1], got {fractions}")
    return fractions


def _fixed_data(base: RunConfig) -> Any:
    """The base config's data settings with its split and generated-data seeds fixed for every run."""
    return dataclasses.replace(base.data, split_seed=split_seed(base), synthetic_seed=data_seed(base))


def plan_study(
    base: RunConfig,
    models: list[str],
    out_dir: Path,
    registry: Registry,
    seeds: int,
    fractions: list[float],
    folds: int,
) -> list[tuple[RunConfig, ComparedRun]]:
    """Every run of the study, its config and where it lives; every model's plan is checked before anything
    trains."""
    if folds and (base.data.split_file or base.data.test_path):
        raise UserError("--folds chooses the test patients itself; leave out --split-file and --test-data")
    plans = {name: plan_run(dataclasses.replace(base, model=name), registry) for name in models}
    data = _fixed_data(base)
    planned = []
    for name in models:
        supervision = plans[name].supervision
        grid = [
            (fold, base.seed + offset, fraction)
            for fold in (range(1, folds + 1) if folds else [0])
            for offset in range(seeds)
            for fraction in (fractions if supervision == "full" else [1.0])
        ]
        for fold, seed, fraction in grid:
            tag = f"{name}" + (f"-fold{fold}" if fold else "") + f"-seed{seed}"
            tag += f"-labels{fraction:g}" if fraction < 1 else ""
            config = dataclasses.replace(
                base,
                model=name,
                seed=seed,
                out=str(out_dir / "runs"),
                name=tag,
                data=dataclasses.replace(data, label_fraction=fraction, folds=folds, fold=fold),
                train=dataclasses.replace(base.train, refine=False),  # the refining run is planned on its own
            )
            planned.append((config, ComparedRun(name, seed, fraction, out_dir / "runs" / tag, supervision, fold)))
            if base.train.refine and supervision in REFINABLE:
                refined = refine_config(config, out_dir / "runs" / tag)
                label = f"{refined.model} (refined {name})"
                planned.append((refined, ComparedRun(label, seed, 1.0, out_dir / "runs" / refined.name, "weak", fold)))
    return planned


def seeds_note(base: RunConfig, data: Any, seeds: int, folds: int) -> str:
    """Which seed varied across the runs and which stayed fixed, in words."""
    trained = ", ".join(str(base.seed + i) for i in range(seeds))
    split = (
        f"{folds}-fold patient cross-validation (split seed {data.split_seed})"
        if folds
        else f"one patient split (split seed {data.split_seed})"
    )
    generated = "" if base.data.path else f"; synthetic data fixed (data seed {data.synthetic_seed})"
    return f"Varied: the training seed ({trained}: initialisation, sampling, augmentation); fixed: {split}{generated}."


def report_comparison(
    runs: list[ComparedRun],
    out_dir: Path,
    registry: Registry,
    console: Console | None = None,
    varied: str = "",
    reference: str | None = None,
) -> None:
    """comparison.md (pooled, how sure, spread, per-fold and per-run tables), comparison.csv, the statistics,
    seeds.csv and figures; every run's folder is read once."""
    from ..figures.slices import dice_boxplot

    loaded = load_runs(runs, registry)
    per_run = tabulate_runs(loaded)
    write_csv(out_dir / "comparison.csv", per_run.table)
    write_policy_outputs(per_run, out_dir)
    certainty = assess(loaded, reference)
    write_certainty(certainty, out_dir)
    pooled = Pooled.of(loaded)
    headline, *rest = pooled_sections(pooled, varied)
    headline = "# Comparison\n\n" + (f"{varied}\n\n" if varied else "") + headline + certainty_markdown(certainty)
    write_text(out_dir / "comparison.md", headline + "".join(rest) + "## Every run\n\n" + per_run.markdown())
    write_csv(out_dir / "seeds.csv", seed_summary(loaded))
    groups: dict[str, list[float]] = {}
    for r in loaded:
        groups.setdefault(r.run.label, []).extend(r.test_dice().tolist())
    dice_boxplot(
        out_dir / "dice-boxplot.png",
        {k: np.asarray(v) for k, v in groups.items()},
        title="per-slice test Dice, every fold and seed",
    )
    if len({r.label_fraction for r in runs}) > 1:
        label_efficiency_figure(loaded, out_dir / "label-efficiency.png")
    first = runs[0]
    same_slices_figure(
        [r for r in runs if r.label_fraction >= 1.0 and r.seed == first.seed and r.fold == first.fold],
        out_dir / "same-slices.png",
    )
    if console is not None:
        header, rows = pooled_table(pooled)
        title = "pooled over every fold and seed: mean ± std (median); Dice in %, distances in mm"
        print_fitted(console, FittedTable(title, header, rows, caption=varied))
        console.print(f"comparison written to {out_dir}", highlight=False, soft_wrap=True)
