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

import dataclasses
import datetime as _dt
import logging
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import UserError
from ..record.facts import RunFacts
from ..utils.io import write_json

log = logging.getLogger("pathogan_bench")


def new_run_dir(config: RunConfig, uses_loss_set: bool = True) -> Path:
    """A new, empty run directory: ``config.name``, or <date>-<time>-<model>[-<loss set>] (the loss set only for a
    model that optimises one); ``-2``, ``-3``, ... when the name is taken."""
    parent = Path(config.out)
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{parent}: --out names a file, not a folder")
    refuse_foreign_run_dir(parent, "--out")
    if config.name:
        name = config.name
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{_slug(config.model)}" + (f"-{_slug(config.loss_set)}" if uses_loss_set else "")
    run_dir, suffix = parent / name, 1
    while True:
        try:
            if not _taken(run_dir):
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "figures").mkdir()  # the claim: of runs started together, exactly one makes it
                return run_dir
        except FileExistsError:
            pass
        except PermissionError:
            raise UserError(f"{parent}: permission denied; choose another --out") from None
        suffix += 1
        run_dir = parent / f"{name}-{suffix}"


def _taken(run_dir: Path) -> bool:
    """A folder that holds anything already belongs to another run (or to someone else)."""
    return run_dir.exists() and any(run_dir.iterdir())


def is_run_dir(path: Path) -> bool:
    return (path / "config.toml").is_file() and (path / "run.json").is_file()


def owning_run_dir(path: str | Path) -> Path | None:
    """The run directory ``path`` is (or lies in), if any."""
    here = Path(os.path.abspath(path))
    for folder in (here, *here.parents):
        if is_run_dir(folder):
            return folder
    return None


def refuse_foreign_run_dir(out: str | Path, option: str, subject: Path | None = None) -> None:
    """A command writes into another run's directory only when that run is its subject: ``out`` inside any other
    run directory is refused in one line."""
    owner = owning_run_dir(out)
    if owner is not None and (subject is None or Path(os.path.abspath(subject)) != owner):
        raise UserError(
            f"{out}: {option} lies in the run directory {owner}, which this command does not own; choose a folder "
            "outside it"
        )


def existing_run_dir(path: str | Path) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.toml)")
    return run_dir


class _RunLogFile(logging.FileHandler):
    """``log.txt``; a line that cannot be written (a full disk) is dropped without a traceback on the console."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


def attach_log(run_dir: Path) -> list[logging.Handler]:
    """Everything to ``log.txt``; warnings also to the console (stderr). Errors reach the console once, from the CLI."""
    to_file = _RunLogFile(run_dir / "log.txt", encoding="utf-8")
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
        self.facts: RunFacts | None = None

    def write(self, facts: RunFacts) -> None:
        self.facts = facts
        if self.enabled:
            write_json(self.path, facts.to_dict())

    def update(self, **changes: Any) -> None:
        """Change some facts of the record (those on disk when this process has written none yet)."""
        facts = self.facts
        if facts is None:
            try:
                facts = RunFacts.load(self.path.parent)
            except UserError:
                facts = RunFacts()
        self.write(dataclasses.replace(facts, **changes))

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
