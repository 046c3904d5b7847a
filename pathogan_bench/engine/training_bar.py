"""The training progress bar: steps, rate, time left and the main losses, readable at 80 columns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: the losses shown beside the bar (log name's part after "/")
SHOWN_LOSSES = ("total", "gan", "loss")


def shown_losses(summary: Any) -> str:
    return "  ".join(f"{k} {v:.3g}" for k, v in summary.means.items() if "/" in k and k.split("/")[1] in SHOWN_LOSSES)


class TrainingBar:
    def __init__(self, progress: Progress | None, task: Any, console: Console, total: int):
        self.progress, self.task, self.console, self.total = progress, task, console, total
        self.step = 0

    def advance(self, step: int) -> None:
        self.step = step
        if self.progress is not None:
            self.progress.update(self.task, completed=step)

    def show(self, summary: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, rate=f"{summary.rate:.1f} step/s", losses=shown_losses(summary))
        else:  # a log file or pipe: one plain line per log window
            self.console.print(
                f"train {self.step}/{self.total}  {summary.rate:.1f} step/s  {shown_losses(summary)}",
                soft_wrap=True,
                highlight=False,
            )


@contextlib.contextmanager
def training_progress(console: Console, total: int, start: int, enabled: bool = True) -> Iterator[TrainingBar]:
    """A live bar with the main losses beside it on a terminal (below 120 columns the losses are left to
    log.txt and losses.csv); one plain line per log window when the output goes to a file or pipe."""
    if not enabled or not console.is_terminal:
        bar = TrainingBar(None, None, console, total)
        bar.step = start
        if not enabled:
            bar.show = lambda summary: None  # type: ignore[method-assign]
        yield bar
        return
    narrow = console.width < 120
    columns = [
        TextColumn("[bold]train"),
        BarColumn(bar_width=None if not narrow else 20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if not narrow:
        columns.append(TextColumn("{task.fields[losses]}"))
    progress = Progress(*columns, console=console, disable=not enabled, transient=False)
    with progress:
        task = progress.add_task("train", total=total, completed=start, rate="", losses="")
        yield TrainingBar(progress, task, console, total)
