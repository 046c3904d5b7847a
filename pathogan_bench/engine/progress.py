"""The training progress bar: steps, rate, time left and the main losses, readable at 80 columns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: the losses shown beside the bar (log name's part after "/")
SHOWN_LOSSES = ("total", "gan", "loss")


class TrainingBar:
    def __init__(self, progress: Progress, task: Any, console: Console):
        self.progress, self.task, self.console = progress, task, console

    def advance(self, step: int) -> None:
        self.progress.update(self.task, completed=step)

    def show(self, summary: Any) -> None:
        shown = "  ".join(f"{k} {v:.3g}" for k, v in summary.means.items()
                          if "/" in k and k.split("/")[1] in SHOWN_LOSSES)
        self.progress.update(self.task, rate=f"{summary.rate:.1f} step/s", losses=shown)


@contextlib.contextmanager
def training_progress(console: Console, total: int, start: int, enabled: bool = True) -> Iterator[TrainingBar]:
    """A bar with the main losses beside it; below 120 columns the losses are left to log.txt and losses.csv."""
    narrow = console.width < 120
    columns = [TextColumn("[bold]train"), BarColumn(bar_width=None if not narrow else 20), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    if not narrow:
        columns.append(TextColumn("{task.fields[losses]}"))
    progress = Progress(*columns, console=console, disable=not enabled, transient=False)
    with progress:
        task = progress.add_task("train", total=total, completed=start, rate="", losses="")
        bar = TrainingBar(progress, task, console)
        yield bar
