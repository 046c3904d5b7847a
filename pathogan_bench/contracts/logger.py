"""Experiment tracking: the loggers a run reports to, by registry name (``[train] loggers``).

A logger (registered with the ``register_loggers`` hook, kind ``logger``)
receives a run's config, its loss windows (the rows of ``losses.csv``), its
final scores and its report's files. The built-in ones are ``tensorboard``
and ``mlflow`` (:mod:`pathogan_bench_plugins.loggers`).

Tracking never decides a run's fate: a logger that raises (a tracking server
that is down, a full store) is warned about once in the run's log and on the
console, and is not called again for that run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    pass

log = logging.getLogger("pathogan_bench")


@dataclass(frozen=True)
class LoggerContext:
    """What a logger knows about the run when it starts."""

    run_dir: Path
    #: the run's config as its config.toml holds it (nested tables)
    config: dict[str, Any]
    #: model, seed, fold, run (the run directory's name) and, for runs of a study (compare --models,
    #: run --folds), study: the study folder
    tags: dict[str, str] = field(default_factory=dict)
    #: ``[train] tracking_uri`` ("" = the logger's default)
    tracking_uri: str = ""
    #: True when the run continues from a checkpoint
    resuming: bool = False


class RunLogger(Protocol):
    """What a logger factory returns. Every method may raise; the run goes on without the logger."""

    def start(self, context: LoggerContext) -> None: ...

    def log_losses(self, step: int, values: dict[str, float]) -> None:
        """One loss window: the columns of its ``losses.csv`` row but ``step``."""

    def log_scores(self, scores: dict[str, float]) -> None:
        """The final scores, flattened (``test/dice_mean``, ...; see :func:`summary_scores`)."""

    def log_artifacts(self, paths: list[Path]) -> None:
        """The report's files (:data:`REPORT_FILES` and the figures)."""

    def close(self, status: str) -> None:
        """The run ended: "done", "stopped", "interrupted" or "failed"."""
