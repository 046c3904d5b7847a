"""The range of every number a user sets, in one table: the config checks and the command-line options (whose
help states it) read it, so a value out of range is refused in one line before any data is read.

The upper bounds keep a request within what one machine can hold: a batch, an image side, a count of samples or
generated patients beyond them would run out of memory or disk rather than fail cleanly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import click

from ..errors import UserError

#: numpy's and torch's seeds are unsigned 32-bit integers
MAX_SEED = 2**32 - 1
#: more steps than any schedule (the paper's longest is 178,500)
MAX_STEPS = 10**9


@dataclass(frozen=True)
class Range:
    """An inclusive range of integers (or of numbers, ``integer=False``)."""

    low: float
    high: float
    integer: bool = True
    #: the low end itself is excluded (a fraction in (0, 1])
    open_low: bool = False

    def click_type(self) -> click.ParamType:
        """The option type that refuses a value outside the range (NaN included) and shows it in the help."""
        if self.integer:
            return click.IntRange(int(self.low), int(self.high))
        return FiniteFloatRange(self.low, self.high, min_open=self.open_low)

    def expected(self) -> str:
        kind = "an integer" if self.integer else "a number"
        low = "(" if self.open_low else "["
        return f"{kind} in {low}{_num(self.low)}, {_num(self.high)}]"

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high

    def check(self, where: str, value: Any) -> None:
        """Refuse ``value`` naming ``where`` when it is out of range."""
        if not self.contains(value):
            raise UserError(f"{where} = {value!r}: expected {self.expected()}")


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses NaN (which no comparison rules out)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and math.isnan(number):
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx)
        return number


def _num(value: float) -> str:
    return f"{value:,.0f}".replace(",", "_") if value >= 10**5 and float(value).is_integer() else f"{value:g}"


#: config key -> its range (the multiple-of-16 rule of the image sides is checked beside)
CONFIG_RANGES: dict[str, Range] = {
    "seed": Range(0, MAX_SEED),
    "train.steps": Range(0, MAX_STEPS),
    "train.stop_at": Range(0, MAX_STEPS),
    "train.epochs": Range(0, 10**5, integer=False),
    "train.batch_size": Range(1, 1024),
    "train.log_every": Range(1, MAX_STEPS),
    "train.checkpoint_every": Range(0, MAX_STEPS),
    "train.keep_checkpoints": Range(1, 1000),
    "train.sample_every": Range(0, MAX_STEPS),
    "train.max_nonfinite": Range(1, MAX_STEPS),
    "train.threads": Range(0, 1024),
    "train.validate_every": Range(1, MAX_STEPS),
    "train.patience": Range(0, 10**6),
    "train.max_skipped_fraction": Range(0, 1, integer=False),
    "data.n_healthy": Range(0, 10**7),
    "data.n_pathological": Range(1, 10**7),
    "data.pathological_min_pixels": Range(0, 10**7),
    "data.synthetic_patients": Range(2, 1000),
    "data.synthetic_size": Range(32, 512),
    "data.image_size": Range(0, 1024),
    "data.split_seed": Range(-1, MAX_SEED),
    "data.synthetic_seed": Range(-1, MAX_SEED),
    "data.folds": Range(0, 100),
    "data.fold": Range(0, 100),
    "data.label_fraction": Range(0, 1, integer=False, open_low=True),
    "eval.batch_size": Range(1, 4096),
    "eval.figure_slices": Range(0, 64),
}

#: command options that set no config value
SEED = Range(0, MAX_SEED)
N_SEEDS = Range(1, 100)
FOLDS = Range(2, 100)
WORKERS = Range(1, 256)
SEGMENT_BATCH = Range(1, 4096)
#: ``sample --n``: every sample and its pairwise Dice are held at once
SAMPLES = Range(1, 256)
#: ``data show --n``: slices of each domain in one figure
SHOWN = Range(1, 32)
SYNTH_PATIENTS = CONFIG_RANGES["data.synthetic_patients"]
SYNTH_SIZE = CONFIG_RANGES["data.synthetic_size"]
MIN_PIXELS = CONFIG_RANGES["data.pathological_min_pixels"]


def config_range(key: str) -> Range | None:
    return CONFIG_RANGES.get(key)
