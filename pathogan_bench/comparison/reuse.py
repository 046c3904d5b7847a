"""Reusing, resuming or replacing the runs of a study: a finished run is never deleted or changed by a command
that did not ask for it."""

from __future__ import annotations

import dataclasses
import time
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console

from ..config import RunConfig, to_table
from ..data.fingerprint import read_record
from ..engine import run
from ..engine.data_record import forget_current, reuse_data_change
from ..errors import UserError
from ..evaluation import evaluate_run
from ..record.facts import recorded_status
from ..registry import get_registry

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
    """What differs between the run directory's config.toml and ``config`` (None: the same run). A setting the
    stored config lacks (one added since the run was made) counts as its default."""
    path = run_dir / "config.toml"
    if not path.is_file():
        return "no config.toml"
    try:
        stored = _settings(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return f"unreadable config.toml ({exc})"
    wanted = _settings(to_table(config))
    defaults = _settings(to_table(RunConfig()))
    changed = [
        ".".join(k) for k in sorted(set(stored) | set(wanted)) if stored.get(k, defaults.get(k)) != wanted.get(k)
    ]
    return ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else "") if changed else None


def _has_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("step-*.json"))


def _has_progress(run_dir: Path) -> bool:
    """Whether the run finished or trained far enough to keep a checkpoint: work that must never be lost."""
    return recorded_status(run_dir) == "done" or _has_checkpoint(run_dir)


def replaced_reason(config: RunConfig, run_dir: Path, reuse: bool) -> str | None:
    """Why the existing ``run_dir`` cannot serve as the run ``config`` asks for (None: reused or resumed as is)."""
    if not run_dir.exists():
        return None
    if not reuse:
        return "--no-reuse"
    differ = settings_differ(run_dir, config)
    if differ:
        return differ
    changed = reuse_data_change(config, run_dir, get_registry())
    if changed:
        return changed
    status = recorded_status(run_dir)
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
    """Refuse (one line) when runs with training progress would be replaced and ``move`` was not asked for. Starts
    the command's check of the data on disk afresh."""
    forget_current()
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
        if recorded_status(run_dir) == "done":
            unchecked = "" if read_record(run_dir) else " (made before runs recorded their data: its data not checked)"
            console.print(f"reusing finished run {run_dir}{unchecked}", soft_wrap=True)
            if _scoring_settings(run_dir, config):
                console.print(
                    f"re-scoring {run_dir} with the metrics, policies and post-processing asked for", soft_wrap=True
                )
                evaluate_run(
                    run_dir,
                    get_registry(),  # the registry of the process the run is reused in
                    config.eval.metrics,
                    policies=config.eval.policies,
                    postprocess=config.eval.postprocess,
                )
            return "done"
        console.rule(f"{run_dir.name} (resumed)")
        return run(config, resume_dir=run_dir, console=console, tags=tags).status
    if run_dir.exists():
        console.print(f"training {run_dir.name} again: {reason}", soft_wrap=True, highlight=False)
        move_run_aside(run_dir, console)
    console.rule(run_dir.name)
    return run(config, console=console, tags=tags).status
