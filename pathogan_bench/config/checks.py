"""Range checks of a run config, so bad values fail before any data is read or any step is trained."""

from __future__ import annotations

import math
from typing import Any

from ..data.splits import SPLIT_NAMES
from ..data.synthetic_knobs import DIFFICULTIES, LEVELS
from ..errors import UserError
from .ranges import CONFIG_RANGES
from .schema import COMPILE_BACKENDS, COMPILE_MODES

#: the networks downsample 16x; smaller images have nothing left to encode
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = int(CONFIG_RANGES["data.image_size"].high)


def _fail(source: str, key: str, value: Any, expected: str) -> None:
    raise UserError(f"{source}: {key} = {value!r}: expected {expected}")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_split_fractions(fractions: Any, where: str) -> None:
    """Three patient fractions (train, val, test), each >= 0, that sum to 1."""
    if (
        len(fractions) != 3
        or not all(_finite(f) and f >= 0 for f in fractions)
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)
    ):
        raise UserError(f"{where} = {list(fractions)}: expected three fractions >= 0 (train, val, test) that sum to 1")


def check_protocol(data: Any, source: str) -> None:
    """One way of choosing the test patients: fractions, a split file, a test folder, or folds."""
    if data.folds == 1:
        _fail(source, "data.folds", data.folds, "0 (no cross-validation) or at least 2 folds")
    if data.folds and not 1 <= data.fold <= data.folds:
        _fail(source, "data.fold", data.fold, f"the fold to run, 1 to data.folds = {data.folds}")
    if not data.folds and data.fold:
        _fail(source, "data.fold", data.fold, "0 unless data.folds is set")
    chosen = [
        name
        for name, on in (
            ("data.split_file", data.split_file),
            ("data.test_path", data.test_path),
            ("data.folds", data.folds),
        )
        if on
    ]
    if len(chosen) > 1:
        raise UserError(f"{source}: {' and '.join(chosen)} both choose the test patients; give one of them")
    if data.test_path and not data.path:
        _fail(source, "data.test_path", data.test_path, "a test folder beside a data folder (--data)")
    if data.healthy_path and not data.path:
        _fail(source, "data.healthy_path", data.healthy_path, "a healthy cohort beside a labelled data folder (--data)")
    if data.synthetic_difficulty not in DIFFICULTIES:
        _fail(source, "data.synthetic_difficulty", data.synthetic_difficulty, " or ".join(DIFFICULTIES))
    if data.synthetic_levels not in LEVELS:
        _fail(source, "data.synthetic_levels", data.synthetic_levels, " or ".join(LEVELS))


def check_config(config: Any, source: str = "config") -> None:
    """Raise :class:`UserError` naming the first value out of range."""
    data, train, ev = config.data, config.train, config.eval
    for key, bounds in CONFIG_RANGES.items():
        table, _, name = key.rpartition(".")
        bounds.check(f"{source}: {key}", getattr(getattr(config, table) if table else config, name))
    if train.steps == 0 and train.epochs == 0:
        _fail(source, "train.steps", train.steps, "a number of steps > 0 (or train.epochs > 0)")
    for key, size in (("data.image_size", data.image_size), ("data.synthetic_size", data.synthetic_size)):
        if size and (size < MIN_IMAGE_SIZE or size % 16):
            _fail(source, key, size, f"0 (keep) or a multiple of 16 from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}")
    check_split_fractions(data.split_fractions, f"{source}: data.split_fractions")
    check_protocol(data, source)
    if data.slice_range:
        if len(data.slice_range) != 2 or not all(isinstance(v, int) and v >= 0 for v in data.slice_range):
            _fail(source, "data.slice_range", data.slice_range, "[first, last], two slice numbers >= 0")
        if data.slice_range[0] > data.slice_range[1]:
            _fail(source, "data.slice_range", data.slice_range, "first <= last (e.g. [60, 100])")
    for term, weight in config.loss.items():
        if not _finite(weight) or weight < 0:
            _fail(source, f"loss.{term}", weight, "a finite weight >= 0")
    if train.compile_mode not in COMPILE_MODES:
        _fail(
            source, "train.compile_mode", train.compile_mode, ", ".join(COMPILE_MODES[:-1]) + " or " + COMPILE_MODES[-1]
        )
    if train.compile_backend not in COMPILE_BACKENDS:
        _fail(source, "train.compile_backend", train.compile_backend, ", ".join(COMPILE_BACKENDS))
    if not ev.splits or any(s not in SPLIT_NAMES for s in ev.splits):
        _fail(source, "eval.splits", ev.splits, "a list of train, val and test")
    if any(not isinstance(n, str) or "/" in n or "\\" in n for n in (config.name,)) or config.name in (".", ".."):
        _fail(source, "name", config.name, "a folder name without path separators")
