"""Run directories: one folder per run holding everything it produced.

Layout::

    runs/<date>-<time>-<model>-<loss-set>/
        config.toml            the fully resolved configuration
        run.json               what ran where (model, supervision, data, device, timings)
        splits.json            patients per split
        log.txt                the run's log
        losses.csv             training losses every log_every steps
        checkpoints/           step-NNNNNNNN.safetensors + .json
        predictions.npz        probability maps and references of the evaluated slices
        metrics_slices.csv     per-slice scores
        metrics_patients.csv   per-patient scores
        summary.json, report.md
        figures/               sample grids, segmentation figures
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import shlex
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import UserError
from ..io import write_json

log = logging.getLogger("pathogan_bench")


def new_run_dir(config: RunConfig) -> Path:
    parent = Path(config.out)
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{parent}: --out names a file, not a folder")
    if config.name:
        name = config.name
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{_slug(config.model)}-{_slug(config.loss_set)}"
    run_dir = parent / name
    suffix = 1
    while run_dir.exists() and any(run_dir.iterdir()):
        suffix += 1
        run_dir = parent / f"{name}-{suffix}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "figures").mkdir(exist_ok=True)
    except PermissionError:
        raise UserError(f"{parent}: permission denied; choose another --out") from None
    return run_dir


def existing_run_dir(path: str | Path) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.toml)")
    return run_dir


def attach_log(run_dir: Path) -> list[logging.Handler]:
    """Everything to ``log.txt``; warnings also to the console (stderr). Errors reach the console once, from the CLI."""
    to_file = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    to_console = logging.StreamHandler()
    to_console.addFilter(lambda record: record.levelno == logging.WARNING)
    to_console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.setLevel(logging.INFO)
    for handler in (to_file, to_console):
        log.addHandler(handler)
    return [to_file, to_console]


def detach_log(handlers: list[logging.Handler] | None) -> None:
    for handler in handlers or ():
        log.removeHandler(handler)
        handler.close()


def resume_command(run_dir: Path) -> str:
    return f"pathogan-bench run --resume {shlex.quote(str(run_dir))}"


class RunRecord:
    """``run.json``: the run's facts and status ("training", "stopped", "interrupted", "failed", "done")."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = Path(run_dir) / "run.json"
        self.enabled = enabled
        self.facts: dict[str, Any] = {}

    def write(self, facts: dict[str, Any]) -> None:
        self.facts = dict(facts)
        if self.enabled:
            write_json(self.path, self.facts)

    def update(self, **changes: Any) -> None:
        if not self.facts and self.path.is_file():
            try:
                self.facts = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.facts = {}
        self.write({**self.facts, **changes})

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed with the error, in run.json and log.txt."""
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            status, message = "interrupted", "interrupted before a checkpoint could be saved"
        else:
            status = "failed"
        log.error("run %s: %s", status, message)
        if self.enabled:
            self.update(status=status, error=message)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"
