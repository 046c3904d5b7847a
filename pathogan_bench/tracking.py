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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import UserError

if TYPE_CHECKING:
    from .registry import Registry
    from .report import Summary

log = logging.getLogger("pathogan_bench")

#: the files of a finished run that loggers receive as artifacts (figures/*.png too)
REPORT_FILES = (
    "report.md",
    "summary.json",
    "config.toml",
    "run.json",
    "splits.json",
    "losses.csv",
    "metrics_slices.csv",
    "metrics_patients.csv",
    "metrics_volumes.csv",
    "metrics_policies.csv",
    "log.txt",
)


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


def check_loggers(registry: Registry, names: list[str]) -> None:
    """Unknown logger names, and loggers whose package is missing, fail before any work."""
    if len(set(names)) != len(names):
        raise UserError(f"train.loggers {names}: a logger is named twice")
    for name in names:
        registry.create("logger", name)  # a factory raises UserError when its package is not installed


class RunLoggers:
    """The run's loggers called together; one that raises is warned about once and dropped."""

    def __init__(self, loggers: dict[str, Any] | None = None):
        self.loggers: dict[str, Any] = dict(loggers or {})

    @classmethod
    def start(cls, registry: Registry, names: list[str], context: LoggerContext) -> RunLoggers:
        loggers = cls()
        for name in names:
            try:
                logger = registry.create("logger", name)
            except Exception as exc:
                loggers._drop(name, "start", exc)
                continue
            loggers.loggers[name] = logger
            loggers._call(name, "start", context)
        return loggers

    def log_losses(self, step: int, values: dict[str, float]) -> None:
        finite = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}
        self._all("log_losses", step, finite)

    def log_scores(self, scores: dict[str, float]) -> None:
        self._all("log_scores", scores)

    def log_artifacts(self, paths: list[Path]) -> None:
        self._all("log_artifacts", paths)

    def close(self, status: str) -> None:
        self._all("close", status)
        self.loggers.clear()

    def _all(self, method: str, *args: Any) -> None:
        for name in list(self.loggers):
            self._call(name, method, *args)

    def _call(self, name: str, method: str, *args: Any) -> None:
        logger = self.loggers.get(name)
        if logger is None:
            return
        try:
            getattr(logger, method)(*args)
        except Exception as exc:  # tracking must never fail the run
            self._drop(name, method, exc)

    def _drop(self, name: str, method: str, exc: Exception) -> None:
        logger = self.loggers.pop(name, None)
        message = str(exc).splitlines()[0][:300] if str(exc) else ""
        log.warning(
            "logger %s failed (%s: %s: %s); the run goes on without it", name, method, type(exc).__name__, message
        )
        if logger is not None and method != "close":
            try:
                logger.close("failed")
            except Exception:  # already reported once
                pass


def summary_scores(summary: Summary) -> dict[str, float]:
    """A finished run's headline scores, flat: ``SPLIT/METRIC_mean`` and ``_median`` per split, finite values only."""
    scores: dict[str, float] = {}
    for split, stats in summary.splits.items():
        for metric, stat in stats.items():
            scores[f"{split}/{metric}_mean"] = stat.mean
            scores[f"{split}/{metric}_median"] = stat.median
    for split, values in summary.threshold_free.items():
        for metric, value in values.items():
            if isinstance(value, int | float):
                scores[f"{split}/{metric}"] = float(value)
    return {k: v for k, v in scores.items() if math.isfinite(v)}


def report_files(run_dir: Path) -> list[Path]:
    """The report's files that exist in ``run_dir``."""
    found = [run_dir / name for name in REPORT_FILES if (run_dir / name).is_file()]
    return found + sorted((run_dir / "figures").glob("*.png"))


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"steps": 2}}`` -> ``{"train.steps": "2"}``: the config as parameters."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_config(value, name + "."))
        else:
            flat[name] = str(value)
    return flat
