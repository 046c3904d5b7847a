"""The run: plan -> data -> model -> training -> segmentation -> scores -> report.

Orchestration only; each stage lives in its own module of this package. It
wires components together by registry name and never imports a model, loss,
dataset or metric implementation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from rich.console import Console

from ..config import RunConfig, to_table, to_toml
from ..contracts.logger import LoggerContext
from ..data.fingerprint import read_record
from ..errors import DiskFullError, TooManySkippedUpdatesError, TrainingInterrupted, disk_full
from ..evaluation import score_and_report
from ..record.facts import RunFacts, recorded_status
from ..record.lock import run_lock
from ..record.summary import Summary
from ..utils.device import configure_threads
from ..utils.io import write_json, write_text
from .batches import training_batches
from .build import build_model, total_steps
from .calibration_maps import calibration_maps, fit_model_rule, save_calibration_maps
from .data_record import check_resumed_data, with_recorded_roots, write_record
from .facts import budget, run_facts
from .infer import calibrate, predict_splits, slice_classification
from .loggers import RunLoggers, report_files, summary_scores
from .plan import RunPlan, plan_run
from .prepare import PreparedData, prepare_data
from .refine import REFINABLE, apply_pseudo_labels, refine_config
from .run_figures import write_examples
from .rundir import RunRecord, attach_log, detach_log, new_run_dir, resume_command
from .selection import make_selection
from .trainer import Trainer

if TYPE_CHECKING:
    from ..contracts.model import SegmentationModel

log = logging.getLogger("pathogan_bench")


@dataclass
class RunResult:
    run_dir: Path
    summary: Summary | None = None
    #: "done" or "stopped" (at ``train.stop_at``)
    status: str = "done"
    #: the refining run (``train.refine``), when one was trained
    refined: Path | None = None


def run(
    config: RunConfig,
    resume_dir: Path | None = None,
    console: Console | None = None,
    tags: dict[str, str] | None = None,
) -> RunResult:
    """Train, segment, score and report; returns the run directory and summary.

    A run that fails is marked "failed" (with the error) in its run.json; one
    stopped by SIGINT or SIGTERM saves a checkpoint, is marked "interrupted"
    and says how to resume it. ``tags`` go to the experiment loggers with the
    run's model, seed and fold (a study's runs add ``study``: its folder).
    """
    console = console or Console(stderr=True)
    if resume_dir is not None and recorded_status(resume_dir) == "done":
        return _already_finished(resume_dir, console)
    if resume_dir is not None:  # the folders the run read, wherever the command is launched
        config = with_recorded_roots(config, read_record(resume_dir))
    plan = plan_run(config)  # every name and option is checked before any data is read or generated
    if resume_dir is not None:
        check_resumed_data(config, plan.registry, resume_dir)
    configure_threads(config.train.threads)
    if config.train.deterministic:
        # cuBLAS is deterministic only with a fixed workspace, set before its first use (torch's documentation)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(config.seed)
    rank0 = plan.dist.rank == 0
    run_dir = plan.dist.broadcast_path(
        resume_dir if resume_dir is not None else (new_run_dir(config, plan.uses_loss_set) if rank0 else None)
    )
    announce = partial(console.print, soft_wrap=True, markup=False, highlight=False)
    with run_lock(run_dir, announce) if rank0 else contextlib.nullcontext():
        result = _run_locked(plan, run_dir, resume_dir, console, tags)
    if config.train.refine and result.status == "done" and rank0:
        result.refined = _refine(plan, run_dir, console, tags)
    return result


def _refine(plan: RunPlan, run_dir: Path, console: Console, tags: dict[str, str] | None) -> Path | None:
    """``--refine``: a unet trained on the run's masks of its training slices, as RUN-refined beside it."""
    if plan.supervision not in REFINABLE:
        console.print(
            f"--refine: {plan.config.model} is {plan.supervision}ly supervised; nothing to refine", soft_wrap=True
        )
        return None
    config = refine_config(plan.config, run_dir)
    console.rule(f"{config.name} (a unet on the masks of {run_dir.name})")
    return run(config, console=console, tags=tags).run_dir


def _run_locked(
    plan: RunPlan, run_dir: Path, resume_dir: Path | None, console: Console, tags: dict[str, str] | None
) -> RunResult:
    """The run, its directory held by this process: logging, the run record and the experiment loggers around
    :func:`_run`."""
    config, rank0 = plan.config, plan.dist.rank == 0
    handler = attach_log(run_dir) if rank0 else None
    record = RunRecord(run_dir, enabled=rank0)
    loggers = RunLoggers()
    try:
        if rank0 and resume_dir is None:
            write_text(run_dir / "config.toml", to_toml(config))
        log.info("device %s, %d torch thread(s)", plan.device, torch.get_num_threads())
        if rank0:
            context = logger_context(plan, run_dir, tags or {}, resume_dir is not None)
            loggers = RunLoggers.start(plan.registry, config.train.loggers, context)
        result = _run(plan, run_dir, resume_dir is not None, console, record, loggers)
        loggers.close(result.status)
        return result
    except TrainingInterrupted as exc:
        loggers.close("interrupted")
        record.update(status="interrupted", interrupted_at=exc.step)
        _say_interrupted(exc, run_dir, console, rank0)
        raise
    except BaseException as exc:
        loggers.close("failed")
        full = _record_failure(exc, record, run_dir)
        if full is not None and full is not exc:
            raise full from exc
        raise
    finally:
        detach_log(handler)
        plan.dist.close()


def _say_interrupted(exc: TrainingInterrupted, run_dir: Path, console: Console, show: bool) -> None:
    log.info("interrupted by %s at step %d; checkpoint saved", exc.signal_name, exc.step)
    if show:
        console.print(
            f"[yellow]interrupted by {exc.signal_name} at step {exc.step}; checkpoint saved. "
            f"Continue with: {resume_command(run_dir)}",
            soft_wrap=True,
        )


def _record_failure(exc: BaseException, record: RunRecord, run_dir: Path) -> DiskFullError | None:
    """Mark the run failed (or interrupted) in run.json; a full disk is returned as the error to raise, saying
    what survives."""
    full = disk_full(exc)
    if full is not None:
        full.note = _what_survives(run_dir)
    try:
        record.fail(full or exc)
    except (OSError, DiskFullError) as also:  # the disk may be too full for run.json too
        log.warning("could not record the failure in %s: %s", record.path, also)
    return full


def _already_finished(run_dir: Path, console: Console) -> RunResult:
    """A finished run is left as it is: say so, and how to re-score it."""
    console.print(
        f"{run_dir}: this run has already finished (status done in run.json); nothing to resume and nothing "
        f"changed. Re-score it with: pathogan-bench evaluate {shlex.quote(str(run_dir))}",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    try:
        summary: Summary | None = Summary.load(run_dir / "summary.json")
    except Exception:  # a finished run without a readable summary still is not touched
        summary = None
    return RunResult(run_dir, summary, "done")


def _what_survives(run_dir: Path) -> str:
    """Where a run that could not write a file can continue from."""
    from .checkpoint import latest_checkpoint

    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    where = f"the run's last good checkpoint is {checkpoint}" if checkpoint else "the run has no checkpoint yet"
    return f"{where}; free some space, then continue with: {resume_command(run_dir)}"


def logger_context(plan: RunPlan, run_dir: Path, tags: dict[str, str], resuming: bool) -> LoggerContext:
    """What the experiment loggers know of the run: its config, and tags naming it within its study."""
    config = plan.config
    named = {"model": config.model, "seed": str(config.seed), "run": run_dir.name}
    if plan.uses_loss_set:
        named["loss_set"] = config.loss_set
    if config.data.folds:
        named["fold"] = str(config.data.fold)
    return LoggerContext(run_dir, to_table(config), named | tags, config.train.tracking_uri, resuming=resuming)


def _run(
    plan: RunPlan, run_dir: Path, resuming: bool, console: Console, record: RunRecord, loggers: RunLoggers
) -> RunResult:
    config = plan.config
    data = prepare_data(config, plan.registry)
    pseudo = apply_pseudo_labels(data, config, plan.registry) if config.data.pseudo_labels else None
    if record.enabled:
        write_json(run_dir / "splits.json", data.splits)
        if not resuming or read_record(run_dir) is None:
            write_record(run_dir, data.fingerprint)
    log.info(
        "data %s: %d slices of %d patients (%s), split %s",
        data.data_path or "synthetic",
        len(data.table),
        len(data.table.patients()),
        ", ".join(data.table.modalities),
        " / ".join(f"{name} {len(members)}" for name, members in data.splits.items()),
    )
    batches = training_batches(plan, data.table, data.indices("train"), data.healthy_source())
    steps = total_steps(plan, batches)
    table = data.table
    model, compiled = build_model(
        plan, int(table.images.shape[1]), int(table.images.shape[-1]), tuple(table.modalities), steps
    )
    facts = run_facts(plan, model, data, steps, batches.level_matching)
    if pseudo is not None:  # trained on a weak model's masks: as weakly supervised as its source
        facts.pseudo_labels, facts.supervision = pseudo, f"weak (pseudo-labels of {pseudo['model']})"
    facts.reference_steps, facts.budget_note = budget(plan.model, steps, batches.epoch_steps)
    warn_level_shortcut(facts)
    if facts.budget_note and model.trainable:
        log.warning("%s", facts.budget_note)
    record.write(facts)
    log.info("run %s: model %s (%s), %d steps on %s", run_dir, config.model, plan.supervision, steps, plan.device)
    trainer = Trainer(
        model,
        batches,
        config.train,
        run_dir,
        steps,
        config.seed,
        console,
        rank=plan.dist.rank,
        display_affine=data.display_affine(),
        loggers=loggers,
        selection=make_selection(
            config.train.select_by,
            plan.supervision,
            data,
            plan.device,
            config.eval.batch_size,
            config.train.validate_every,
            config.train.patience,
        ),
    )
    if resuming:
        _resume(trainer, run_dir, steps, console, record.enabled)
    if model.trainable:
        plan.dist.wrap(model)
        trainer.fit()
    facts.steps_done = trainer.step
    facts.train_seconds = round(trainer.train_seconds, 2)
    facts.skipped_updates = dict(trainer.skipped)
    facts.compiled = compiled.facts() if compiled is not None else None
    facts.stopped_early_at = trainer.stopped_early
    facts.selection = trainer.selection.facts() if trainer.selection is not None else None
    _check_skipped(trainer, config, console, record.enabled)
    if model.trainable and not trainer.done:
        facts.status = "stopped"
        record.write(facts)
        if record.enabled:
            console.print(
                f"stopped at step {trainer.step} of {steps}; continue with: {resume_command(run_dir)}", soft_wrap=True
            )
        return RunResult(run_dir, None, "stopped")
    if not record.enabled:
        return RunResult(run_dir, None)
    summary = _finish(plan, model, trainer, data, facts, run_dir, console, record)
    loggers.log_scores(summary_scores(summary))
    loggers.log_artifacts(report_files(run_dir))
    return RunResult(run_dir, summary)


def warn_level_shortcut(facts: RunFacts) -> None:
    """Say on the console when the axial level alone separates the training domains (and matching is off)."""
    from ..data.levels import SHORTCUT_WARNING, LevelSeparation

    found = facts.level_separation
    if not found or facts.level_matched or not found["auroc"] >= SHORTCUT_WARNING:
        return
    separation = LevelSeparation(**{**found, "shared_range": tuple(found["shared_range"] or ()) or None})
    log.warning(
        "%s (warned from %.1f): a weakly supervised model can tell the domains apart by anatomy instead of lesions "
        "and mark mid-level anatomy as lesion; --level-matched draws both domains at the same levels",
        separation.sentence(),
        SHORTCUT_WARNING,
    )


def _resume(trainer: Trainer, run_dir: Path, steps: int, console: Console, show: bool) -> None:
    checkpoint = trainer.resume()
    if checkpoint is None:
        trainer.loss_log.forget_after(0)
        message = f"no complete checkpoint in {run_dir / 'checkpoints'}; training {run_dir} from step 0 of {steps}"
    else:
        message = f"resuming {run_dir} from {checkpoint.name} at step {trainer.step} of {steps}"
    log.info(message)
    if show:
        console.print(message, soft_wrap=True)


def _check_skipped(trainer: Trainer, config: RunConfig, console: Console, show: bool) -> None:
    """Say how many updates were skipped; fail the run past ``train.max_skipped_fraction``."""
    if not trainer.skipped_total or not trainer.step:
        return
    parts = ", ".join(f"{name} {count} of {trainer.step}" for name, count in trainer.skipped.items() if count)
    if show:
        console.print(
            f"[yellow]warning: skipped optimizer updates (non-finite loss or gradients): {parts}", soft_wrap=True
        )
    worst = max(count / trainer.step for count in trainer.skipped.values())
    if worst > config.train.max_skipped_fraction:
        raise TooManySkippedUpdatesError(
            f"{parts} optimizer updates were skipped, more than train.max_skipped_fraction = "
            f"{config.train.max_skipped_fraction:g}; the model is not trained as configured"
        )


def _finish(
    plan: RunPlan,
    model: SegmentationModel,
    trainer: Trainer,
    data: PreparedData,
    facts: RunFacts,
    run_dir: Path,
    console: Console,
    record: RunRecord,
) -> Summary:
    """Calibrate, segment the evaluated splits, score, report and draw the examples (rank 0)."""
    config, started = plan.config, time.perf_counter()
    trainer.finish_selection()
    calibrate(model, data, plan.device)
    maps = None
    if plan.scoring.needs_calibration or model.threshold_rule:
        maps = calibration_maps(model, data, plan.device, config.eval.batch_size)
    facts.threshold_rule = fit_model_rule(model, maps, plan.registry) or None
    if facts.threshold_rule:
        log.info("threshold rule %s", facts.threshold_rule)
    trainer.save()  # the final checkpoint includes what calibration fitted
    predictions = predict_splits(model, data, config.eval.splits, plan.device, config.eval.batch_size)
    predictions.save(run_dir / "predictions.npz")
    if plan.scoring.needs_calibration:
        save_calibration_maps(model, data, plan.device, config.eval.batch_size, run_dir, maps)
    facts.slice_classification = slice_classification(
        model, data, config.eval.splits, plan.device, config.eval.batch_size
    )
    facts.model_notes = model.notes() or None
    for note in facts.model_notes or ():
        console.print(f"[yellow]note: {note}", soft_wrap=True)
    facts.status = "done"
    facts.threshold = float(model.threshold)
    facts.policies = list(config.eval.policies)
    facts.postprocess = list(config.eval.postprocess)
    write_examples(model, data, run_dir, plan.device, config.eval.figure_slices, config.seed, config.model, predictions)
    summary = score_and_report(predictions.arrays(), facts, plan.scoring, run_dir)
    facts.score_seconds = round(time.perf_counter() - started, 2)
    record.write(facts)
    log.info("scored and reported in %.1f s; run finished", facts.score_seconds)
    return summary
