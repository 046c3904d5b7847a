"""Result tables that fit the width they are given, and the two consoles: results on stdout, messages on stderr.

A table is printed whole when it fits; else with its columns abbreviated (a
key below it says what each abbreviation means); else laid out vertically,
one block per row. No cell is ever broken: a number or a word stays on one
line. Columns whose value is the same in every row of a multi-row table are
taken out of the table and said once below it. Off a terminal the width is
``$COLUMNS`` when set, else 80 (rich's rule); report.md, comparison.md and
the CSV files keep the full tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

#: short forms of the column names of the built-in tables (a table may add its own)
ABBREVIATIONS: dict[str, str] = {
    "model (split)": "split",
    "best-threshold Dice (%)": "best Dice",
    "healthy slices with detection": "FP slices",
    "FP volume (ml)": "FP ml",
    "FP volume on healthy slices (ml)": "FP ml (healthy)",
    "tumour-free patients: volume (ml)": "tumour-free ml",
    "undefined": "undef.",
}


def result_console() -> Console:
    """Where results go: standard output."""
    return Console(soft_wrap=False)


def message_console(quiet: bool = False) -> Console:
    """Where progress, notes and warnings go: standard error (``quiet``: nothing but what logging warns)."""
    return Console(stderr=True, quiet=quiet)


@dataclass
class FittedTable:
    """A table of strings to print at a console's width."""

    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    #: header -> short form, on top of :data:`ABBREVIATIONS`
    short: Mapping[str, str] = field(default_factory=dict)
    #: leading columns that are labels (left-aligned); the rest are values (right-aligned)
    label_columns: int = 1


def print_fitted(console: Console, table: FittedTable) -> str:
    """Print ``table`` within ``console.width``; returns the layout used: "full", "abbreviated" or "vertical"."""
    header, rows, constant = _without_constant_columns(table)
    width = console.width
    if _width_of(console, table, header, rows) <= width:
        console.print(_rich_table(table, header, rows))
        _print_constant(console, constant)
        return "full"
    short = {**ABBREVIATIONS, **table.short}
    abbreviated = [short.get(name, name) for name in header]
    if abbreviated != header and _width_of(console, table, abbreviated, rows) <= width:
        console.print(_rich_table(table, abbreviated, rows, caption=False))
        key = [f"{s} = {name}" for name, s in zip(header, abbreviated) if s != name]
        console.print("key: " + "; ".join(key), highlight=False)
        if table.caption:
            console.print(table.caption, highlight=False)
        _print_constant(console, constant)
        return "abbreviated"
    _print_vertical(console, table, header, rows)
    _print_constant(console, constant)
    return "vertical"


def _without_constant_columns(table: FittedTable) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    if len(table.rows) < 2:
        return table.header, table.rows, []
    keep, constant = [], []
    for i, name in enumerate(table.header):
        values = {row[i] for row in table.rows}
        if i >= table.label_columns or len(values) > 1 or i == 0:
            keep.append(i)
        else:
            constant.append((name, next(iter(values))))
    return [table.header[i] for i in keep], [[row[i] for i in keep] for row in table.rows], constant


def _print_constant(console: Console, constant: Sequence[tuple[str, str]]) -> None:
    if constant:
        console.print("every row: " + "; ".join(f"{name} {value}" for name, value in constant), highlight=False)


def _rich_table(
    table: FittedTable, header: Sequence[str], rows: Sequence[Sequence[str]], caption: bool = True
) -> Table:
    labels = min(table.label_columns, len(header))
    out = Table(title=table.title or None, caption=(table.caption or None) if caption else None, caption_justify="left")
    for i, name in enumerate(header):
        out.add_column(name, justify="left" if i < labels else "right", no_wrap=True)
    for row in rows:
        out.add_row(*row)
    return out


def _width_of(console: Console, table: FittedTable, header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """The width the table needs without breaking a cell (its title and caption wrap; cells do not)."""
    bare = _rich_table(FittedTable("", [], [], label_columns=table.label_columns), header, rows, caption=False)
    return Measurement.get(console, console.options.update(width=10_000), bare).maximum


def _print_vertical(console: Console, table: FittedTable, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One block per row: the row's first cell as its heading, then each column's name and value on a line of its
    own (label values such as paths may wrap; numbers never do)."""
    if table.title:
        console.print(table.title, style="italic", highlight=False)
    labels = min(table.label_columns, len(header))
    for row in rows:
        console.print(Text(row[0], style="bold"))
        block = Table.grid(padding=(0, 2))
        block.add_column()  # names wrap at spaces
        block.add_column(justify="right", no_wrap=True)
        for name, value in zip(header[labels:], row[labels:]):
            block.add_row(name, value)
        for name, value in zip(header[1:labels], row[1:labels]):
            console.print(Padding(Text(f"{name}: {value}", overflow="fold"), (0, 0, 0, 2)))
        console.print(Padding(block, (0, 0, 0, 2)))
    if table.caption:
        console.print(table.caption, highlight=False)
