"""Progress bars for loops over cases, slices and batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


@contextmanager
def progress_bar(items: Sequence[T], description: str, enabled: bool = True) -> Iterator[Iterator[T]]:
    """``with progress_bar(items, "reading") as bar: for item in bar: ...`` behind a transient rich bar.

    A context manager rather than ``rich.progress.track``: the live display
    stops when the block exits, by an exception too. A ``track`` generator
    abandoned by an exception keeps its display running until it is
    garbage-collected, which can deadlock the next bar.
    """
    console = Console(stderr=True)  # progress is not a result: stdout stays for the tables
    if not enabled or not console.is_terminal:  # off a terminal a bar is noise in a log; no live display at all
        yield iter(items)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=console,
    )

    def advance() -> Iterator[T]:
        for item in items:
            yield item
            progress.advance(task)

    with progress:
        task = progress.add_task(escape(description), total=len(items))
        yield advance()
