"""A run's experiment loggers: created by registry name, called with its losses, scores and report files; a logger
that raises is warned about once and dropped, never failing the run."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contracts.logger import LoggerContext
from ..errors import UserError

if TYPE_CHECKING:
    from ..record.summary import Summary
    from ..registry import Registry

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
