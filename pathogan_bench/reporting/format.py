"""How scores are written in tables: ``mean ± std (median)``, percentages, markdown tables, split labels."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..record.summary import Stat

SPLIT_LABELS = {"train": "Tr", "val": "Va", "test": "Te"}


def format_stat(stat: Stat, percent: bool = False, digits: int = 1) -> str:
    """``mean ± std (median)``; Dice-like values times 100 when ``percent``."""
    if stat.n == 0:
        return "–"
    scale = 100.0 if percent else 1.0
    std = "–" if math.isnan(stat.std) else f"{stat.std * scale:.{digits}f}"
    return f"{stat.mean * scale:.{digits}f} ± {std} ({stat.median * scale:.{digits}f})"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def percent_cell(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"
