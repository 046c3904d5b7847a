"""Training losses between log points: summed on the device, written to ``losses.csv`` and the run's loggers.

A window covers the steps between two log points. Its sums, non-finite
counts and skipped updates stay on the device until the window closes, when
they reach the host in one transfer.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..utils.io import write_text
from .loggers import RunLoggers


@dataclass
class WindowSummary:
    steps: int
    seconds: float
    #: mean of each loss over the steps where it was finite (NaN when it never was)
    means: dict[str, float]
    #: steps where each loss was non-finite
    nonfinite: dict[str, int]
    #: optimizer updates skipped in the window, per optimizer
    skipped: dict[str, int]
    #: longest run of consecutive steps with a non-finite loss
    worst_streak: int

    @property
    def rate(self) -> float:
        return self.steps / max(self.seconds, 1e-9)


class LossWindow:
    """The losses of the steps between two log points, as a few device tensors: one sum and one count of non-finite
    values per loss name, the current and the longest streak of steps with a non-finite loss."""

    def __init__(self, start: int, skipped_at_start: dict[str, torch.Tensor], streak: torch.Tensor | None = None):
        self.start, self.t0 = start, time.perf_counter()
        self.skipped_at_start = skipped_at_start
        #: the loss names, in the order of the first step's dict
        self.keys: list[str] = []
        self.sums: torch.Tensor | None = None
        self.bad: torch.Tensor | None = None
        self.streak = streak
        self.worst: torch.Tensor | None = None

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        """Add one step's losses (0-d tensors; every step logs the same names) with a few kernels and no host sync."""
        if self.sums is None:
            self.keys = list(losses)
            device = next(iter(losses.values())).device
            self.sums = torch.zeros(len(self.keys), device=device)
            self.bad = torch.zeros(len(self.keys), device=device, dtype=torch.long)
            if self.streak is None:
                self.streak = torch.zeros((), device=device, dtype=torch.long)
            self.worst = torch.zeros((), device=device, dtype=torch.long)
        elif list(losses) != self.keys:
            raise ValueError(
                f"train_step logged {', '.join(losses)} after {', '.join(self.keys)}: every step must log the same "
                "loss names"
            )
        assert self.bad is not None and self.streak is not None and self.worst is not None  # set by the first call
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        finite = torch.isfinite(values)
        self.sums += torch.where(finite, values, 0.0)
        self.bad += (~finite).long()
        self.streak = torch.where(finite.all(), 0, self.streak + 1)
        self.worst = torch.maximum(self.worst, self.streak)

    def close(self, step: int, skipped_now: dict[str, torch.Tensor]) -> WindowSummary:
        seconds = time.perf_counter() - self.t0
        names = list(skipped_now)
        skipped = [skipped_now[n] - self.skipped_at_start.get(n, 0) for n in names]
        if self.sums is None or self.bad is None or self.worst is None:  # no step in the window
            return WindowSummary(0, seconds, {}, {}, {}, 0)
        device = self.sums.device
        parts = [
            self.sums,
            self.bad.float(),
            torch.stack([torch.as_tensor(s, device=device).float().reshape(()) for s in skipped])
            if skipped
            else self.sums.new_zeros(0),
            self.worst.float().reshape(1),
        ]
        values = torch.cat(parts).cpu().tolist()  # one transfer to the host per window
        keys, n = self.keys, step - self.start
        bad = {k: int(values[len(keys) + i]) for i, k in enumerate(keys)}
        means = {k: (values[i] / (n - bad[k]) if n > bad[k] else math.nan) for i, k in enumerate(keys)}
        skipped_counts = {name: int(values[2 * len(keys) + i]) for i, name in enumerate(names)}
        return WindowSummary(n, seconds, means, bad, skipped_counts, int(values[-1]))


class LossLog:
    """``losses.csv``: one row per window; rows past a resume point are dropped on resume."""

    def __init__(self, run_dir: Path, enabled: bool = True, loggers: RunLoggers | None = None):
        self.path = Path(run_dir) / "losses.csv"
        self.run_dir, self.enabled = Path(run_dir), enabled
        #: the run's experiment loggers (pathogan_bench.engine.loggers): each window's row, as losses.csv has it
        self.loggers = loggers or RunLoggers()

    def write(self, step: int, summary: WindowSummary) -> None:
        if not self.enabled:
            return
        row = {
            "step": step,
            "steps_per_s": round(summary.rate, 4),
            **summary.means,
            **{f"nonfinite/{k}": c for k, c in summary.nonfinite.items()},
            **{f"skipped/{k}": c for k, c in summary.skipped.items()},
        }
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(row))
        if not self.path.exists():
            writer.writeheader()
        writer.writerow({k: (v if not isinstance(v, float) or math.isfinite(v) else "nan") for k, v in row.items()})
        with self.path.open("a", encoding="utf-8") as fh:  # appended a row at a time; rewritten only on resume
            fh.write(buf.getvalue())
        self.loggers.log_losses(step, {k: v for k, v in row.items() if k != "step"})

    def forget_after(self, step: int) -> None:
        """Drop the rows of steps a resumed run will train again."""
        if not self.enabled or not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
        if len(kept) < len(lines):
            write_text(self.path, "".join(kept))

    def close(self) -> None:
        """Training ended; the loggers stay open for the scores (the run closes them)."""
