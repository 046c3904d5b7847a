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
import json
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from ..config import RunConfig, to_toml
from ..engine import plan_run, run
from ..engine.prepare import data_seed, split_seed
from ..errors import UserError
from ..evaluation import evaluate_run
from ..io import write_csv, write_text
from ..terminal import FittedTable, print_fitted
from .comparison_figures import label_efficiency_figure, same_slices_figure
from .pooled import pool_runs, pooled_sections, pooled_table, run_label
from .summary import ComparedRun, seed_summary
from .tables import tabulate_runs

#: settings that may differ between a stored run and the one asked for without making it another run
NOT_COMPARED = {
    ("device",),
    ("out",),
    ("name",),
    ("train", "threads"),
    ("train", "stop_at"),
    ("train", "loggers"),
    ("train", "tracking_uri"),
}
#: scoring settings: a finished run that differs only in these is re-scored, not trained again
SCORING = {("eval", "metrics"), ("eval", "policies"), ("eval", "postprocess")}


def _run_status(run_dir: Path) -> str:
    info = run_dir / "run.json"
    try:
        return str(json.loads(info.read_text()).get("status", "")) if info.is_file() else ""
    except (OSError, json.JSONDecodeError):
        return ""


def _settings(config: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and key in ("data", "train", "eval"):
            flat.update({(key, k): v for k, v in value.items()})
        else:
            flat[(key,)] = value
    return {k: v for k, v in flat.items() if k not in NOT_COMPARED and k not in SCORING}


def _scoring_settings(run_dir: Path, config: RunConfig) -> bool:
    """Whether the run was scored with other metrics, policies or post-processing than ``config`` asks for."""
    try:
        stored = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8")).get("eval", {})
    except (OSError, tomllib.TOMLDecodeError):
        return True
    wanted = dataclasses.asdict(config.eval)
    defaults = dataclasses.asdict(type(config.eval)())
    return any(stored.get(key, defaults[key]) != wanted[key] for _, key in SCORING)


def settings_differ(run_dir: Path, config: RunConfig) -> str | None:
    """What differs between the run directory's config.toml and ``config`` (None: the same run)."""
    path = run_dir / "config.toml"
    if not path.is_file():
        return "no config.toml"
    try:
        stored = _settings(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return f"unreadable config.toml ({exc})"
    wanted = _settings(tomllib.loads(to_toml(config)))
    changed = [".".join(k) for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]
    return ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else "") if changed else None


def _has_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("step-*.json"))


def _has_progress(run_dir: Path) -> bool:
    """Whether the run finished or trained far enough to keep a checkpoint: work that must never be lost."""
    return _run_status(run_dir) == "done" or _has_checkpoint(run_dir)


def replaced_reason(config: RunConfig, run_dir: Path, reuse: bool) -> str | None:
    """Why the existing ``run_dir`` cannot serve as the run ``config`` asks for (None: reused or resumed as is)."""
    if not run_dir.exists():
        return None
    if not reuse:
        return "--no-reuse"
    differ = settings_differ(run_dir, config)
    if differ:
        return differ
    status = _run_status(run_dir)
    if status == "done" or (status in ("training", "interrupted", "stopped") and _has_checkpoint(run_dir)):
        return None
    return f"status {status!r}" if status else "no run.json"


def move_run_aside(run_dir: Path, console: Console) -> Path:
    """Rename ``run_dir`` to ``NAME.replaced-<date>-<time>`` next to it (never deleted); returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    run_dir.rename(target)
    console.print(f"moved {run_dir} aside to {target.name}", soft_wrap=True, highlight=False)
    return target


def check_replacements(planned: list[tuple[RunConfig, Path]], reuse: bool, move: bool) -> None:
    """Refuse (one line) when runs with training progress would be replaced and ``move`` was not asked for."""
    if move:
        return
    blocked = [
        (run_dir, reason)
        for config, run_dir in planned
        if (reason := replaced_reason(config, run_dir, reuse)) and _has_progress(run_dir)
    ]
    if not blocked:
        return
    named = "; ".join(f"{run_dir.name} ({reason})" for run_dir, reason in blocked[:6])
    more = f"; and {len(blocked) - 6} more" if len(blocked) > 6 else ""
    raise UserError(
        f"{len(blocked)} finished or checkpointed run(s) under {blocked[0][0].parent} differ from what is asked: "
        f"{named}{more}; nothing was changed. Keep the old settings, choose another --out, "
        "or add --move-aside to rename them to NAME.replaced-<date>-<time> and train them again"
    )


def run_or_reuse(
    config: RunConfig, run_dir: Path, reuse: bool, console: Console, tags: dict[str, str] | None = None
) -> str:
    """Reuse a finished run with the same settings, resume an unfinished one, or train it from the start.

    A run directory that cannot be reused or resumed is moved aside
    (:func:`move_run_aside`), never deleted; :func:`check_replacements` decides
    beforehand whether that is allowed. Returns the run's status: "done", or
    "stopped" at ``train.stop_at``.
    """
    reason = replaced_reason(config, run_dir, reuse)
    if run_dir.exists() and reason is None:
        if _run_status(run_dir) == "done":
            console.print(f"reusing finished run {run_dir}", soft_wrap=True)
            if _scoring_settings(run_dir, config):
                console.print(
                    f"re-scoring {run_dir} with the metrics, policies and post-processing asked for", soft_wrap=True
                )
                evaluate_run(
                    run_dir, config.eval.metrics, policies=config.eval.policies, postprocess=config.eval.postprocess
                )
            return "done"
        console.rule(f"{run_dir.name} (resumed)")
        return run(config, resume_dir=run_dir, console=console, tags=tags).status
    if run_dir.exists():
        console.print(f"training {run_dir.name} again: {reason}", soft_wrap=True, highlight=False)
        move_run_aside(run_dir, console)
    console.rule(run_dir.name)
    return run(config, console=console, tags=tags).status


def compare_models(
    base: RunConfig,
    models: list[str],
    out_dir: Path,
    seeds: int = 1,
    label_fractions: list[float] | None = None,
    reuse: bool = True,
    folds: int = 0,
    console: Console | None = None,
    move_aside: bool = False,
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
    ``NAME.replaced-<date>-<time>``.
    """
    console = console or Console(stderr=True)
    plans = {name: plan_run(dataclasses.replace(base, model=name)) for name in models}  # fail before anything trains
    fractions = sorted(set(label_fractions or [1.0]))
    if any(not 0 < f <= 1 for f in fractions):
        raise UserError(f"--label-fractions must lie in (0, 1], got {fractions}")
    if folds and (base.data.split_file or base.data.test_path):
        raise UserError("--folds chooses the test patients itself; leave out --split-file and --test-data")
    data = dataclasses.replace(base.data, split_seed=split_seed(base), synthetic_seed=data_seed(base))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    planned: list[tuple[RunConfig, ComparedRun]] = []
    for name in models:
        supervision = plans[name].supervision
        for fold in range(1, folds + 1) if folds else [0]:
            for offset in range(seeds):
                seed = base.seed + offset
                for fraction in fractions if supervision == "full" else [1.0]:
                    tag = (
                        f"{name}"
                        + (f"-fold{fold}" if fold else "")
                        + f"-seed{seed}"
                        + (f"-labels{fraction:g}" if fraction < 1 else "")
                    )
                    config = dataclasses.replace(
                        base,
                        model=name,
                        seed=seed,
                        out=str(out_dir / "runs"),
                        name=tag,
                        data=dataclasses.replace(data, label_fraction=fraction, folds=folds, fold=fold),
                    )
                    planned.append(
                        (config, ComparedRun(name, seed, fraction, out_dir / "runs" / tag, supervision, fold))
                    )
    check_replacements([(config, r.run_dir) for config, r in planned], reuse, move_aside)
    runs = [r for _, r in planned]
    study = {"study": str(out_dir.resolve())}
    stopped = sum(run_or_reuse(config, r.run_dir, reuse, console, study) != "done" for config, r in planned)
    write_text(out_dir / "base-config.toml", to_toml(base))
    if stopped:
        console.print(
            f"{stopped} of {len(runs)} runs stopped before their last step (--stop-at); no comparison "
            "written yet. Run the same command again to continue them.",
            soft_wrap=True,
        )
        return runs
    report_comparison(runs, out_dir, console, seeds_note(base, data, seeds, folds))
    console.print(
        f"{len(runs)} runs in {(time.perf_counter() - started) / 60:.1f} min (reused runs not counted)", soft_wrap=True
    )
    return runs


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


def report_comparison(runs: list[ComparedRun], out_dir: Path, console: Console | None = None, varied: str = "") -> None:
    """comparison.md (pooled, spread, per-fold and per-run tables), comparison.csv, seeds.csv and figures."""
    from ..slice_figures import dice_boxplot

    per_run = tabulate_runs([r.run_dir for r in runs])
    write_csv(out_dir / "comparison.csv", per_run.table)
    scores = pool_runs(runs)
    pooled, *rest = pooled_sections(runs, varied, scores)
    headline = "# Comparison\n\n" + (f"{varied}\n\n" if varied else "") + pooled
    write_text(out_dir / "comparison.md", headline + "".join(rest) + "## Every run\n\n" + per_run.markdown())
    write_csv(out_dir / "seeds.csv", seed_summary(runs))
    groups: dict[str, list[float]] = {}
    for r in runs:
        frame = pd.read_csv(r.run_dir / "metrics_slices.csv")
        groups.setdefault(run_label(r), []).extend(frame.loc[frame["split"] == "test", "dice"].tolist())
    dice_boxplot(
        out_dir / "dice-boxplot.png",
        {k: np.asarray(v) for k, v in groups.items()},
        title="per-slice test Dice, every fold and seed",
    )
    if len({r.label_fraction for r in runs}) > 1:
        label_efficiency_figure(runs, out_dir / "label-efficiency.png")
    first = runs[0]
    same_slices_figure(
        [r for r in runs if r.label_fraction >= 1.0 and r.seed == first.seed and r.fold == first.fold],
        out_dir / "same-slices.png",
    )
    if console is not None:
        header, rows = pooled_table(scores)
        title = "pooled over every fold and seed: mean ± std (median); Dice in %, distances in mm"
        print_fitted(console, FittedTable(title, header, rows, caption=varied))
        console.print(f"comparison written to {out_dir}", highlight=False, soft_wrap=True)
