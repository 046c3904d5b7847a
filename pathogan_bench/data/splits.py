"""Patient splits: seeded train / val / test fractions, k-fold cross-validation, and split files.

Patients, never slices, are split. Every rule stratifies by whether a
patient has pathological slices, so no test split ends up with nothing to
segment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import UserError

SPLIT_NAMES = ("train", "val", "test")


def _split_counts(n: int, fractions: tuple[float, ...], at_least_one: bool) -> list[int]:
    """Patients per split: largest remainders of the ideal shares (ties favour test, then val)."""
    total = sum(fractions)
    ideal = [f / total * n for f in fractions]
    counts = [int(v) for v in ideal]
    by_remainder = sorted(range(3), key=lambda i: (-(ideal[i] - counts[i]), -i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    if n and counts[0] == 0 and fractions[0] > 0:
        donor = max((2, 1), key=lambda i: counts[i])
        counts[donor], counts[0] = counts[donor] - 1, 1
    if at_least_one:
        for i in (2, 1):  # test and val get one patient when asked for, while training keeps one
            if fractions[i] > 0 and counts[i] == 0 and counts[0] > 1:
                counts[i], counts[0] = 1, counts[0] - 1
    return counts


def _strata(patients: Iterable[str], pathological: set[str] | None) -> list[list[str]]:
    ordered = sorted(set(patients))
    if pathological is None:
        return [ordered]
    return [[p for p in ordered if p in pathological], [p for p in ordered if p not in pathological]]


def _shuffled(stratum: list[str], seed: int, index: int, stratified: bool) -> list[str]:
    rng = np.random.default_rng([seed, index] if stratified else seed)
    return [stratum[i] for i in rng.permutation(len(stratum))]


def split_patients(
    patients: list[str],
    fractions: tuple[float, ...] = (0.6, 0.2, 0.2),
    seed: int = 0,
    pathological: set[str] | None = None,
) -> dict[str, list[str]]:
    """Split patients (never slices) into train / val / test, reproducibly.

    With ``pathological`` (the patients that have pathological slices), the
    split is stratified: those patients and the tumour-free ones are split
    separately in the same proportions, so a test split never ends up with
    nothing to segment. Counts are the largest remainders of the shares,
    and among the pathological patients (all patients when not stratified)
    test and val get at least one each while training keeps one: 4
    patients with (0.6, 0.2, 0.2) give 2 / 1 / 1, 3 give 1 / 1 / 1.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise UserError(f"split fractions must be three non-negative numbers, got {list(fractions)}")
    strata = _strata(patients, pathological)
    split: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for index, stratum in enumerate(strata):
        shuffled = _shuffled(stratum, seed, index, pathological is not None)
        n_train, n_val, _ = _split_counts(len(shuffled), fractions, at_least_one=index == 0)
        split["train"] += shuffled[:n_train]
        split["val"] += shuffled[n_train : n_train + n_val]
        split["test"] += shuffled[n_train + n_val :]
    if not split["train"]:
        raise UserError(
            f"{sum(map(len, strata))} patient(s) cannot be split into train/val/test {list(fractions)}: "
            "no training patient left"
        )
    return {name: sorted(members) for name, members in split.items()}


def fold_patients(
    patients: list[str], folds: int, seed: int = 0, pathological: set[str] | None = None
) -> list[list[str]]:
    """Patients dealt into ``folds`` disjoint test folds, each stratum in turn (seeded)."""
    strata = _strata(patients, pathological)
    n_patho = len(strata[0])
    if folds < 2:
        raise UserError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if folds > n_patho:
        what = "patients have pathological slices" if pathological is not None else "patients"
        raise UserError(
            f"--folds {folds}: only {n_patho} {what}; every fold's test patients need one "
            f"(choose --folds {n_patho} or fewer)"
        )
    dealt: list[list[str]] = [[] for _ in range(folds)]
    position = 0
    for index, stratum in enumerate(strata):
        for patient in _shuffled(stratum, seed, index, pathological is not None):
            dealt[position % folds].append(patient)
            position += 1
    return [sorted(members) for members in dealt]


def fold_split(
    patients: list[str],
    folds: int,
    fold: int,
    fractions: tuple[float, ...] = (0.6, 0.2, 0.2),
    seed: int = 0,
    pathological: set[str] | None = None,
) -> dict[str, list[str]]:
    """The split of cross-validation fold ``fold`` (1-based) of ``folds``.

    Its test patients are fold ``fold`` of :func:`fold_patients`; the other
    patients are split into train and val in the proportions of the first
    two ``fractions`` (the test fraction is replaced by the fold).
    """
    if not 1 <= fold <= folds:
        raise UserError(f"fold {fold} of {folds}: expected 1 <= fold <= {folds}")
    test = fold_patients(patients, folds, seed, pathological)[fold - 1]
    rest = [p for p in sorted(set(patients)) if p not in set(test)]
    train_val = (fractions[0], fractions[1], 0.0)
    if train_val[0] <= 0:
        raise UserError(f"split fractions {list(fractions)}: cross-validation needs a training fraction > 0")
    split = split_patients(
        rest,
        train_val,
        seed=seed,
        pathological={p for p in rest if p in pathological} if pathological is not None else None,
    )
    return {"train": split["train"], "val": split["val"], "test": sorted(test)}


def read_split_file(path: str | Path, patients: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Splits from a JSON file ``{"train": [...], "val": [...], "test": [...]}`` (a run's ``splits.json``).

    Returns the splits and the patients of the data that the file does not
    list (left out of the run). A patient the data lacks, a patient in two
    splits, an unknown split name or an empty training split is an error
    naming the file.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the split file: {exc}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in raw.values()
    ):
        raise UserError(f'{path}: expected a JSON object of patient lists, e.g. {{"train": ["P1"], "test": ["P2"]}}')
    unknown = sorted(set(raw) - set(SPLIT_NAMES))
    if unknown:
        raise UserError(f"{path}: unknown split name(s) {', '.join(unknown)} (expected train, val, test)")
    available = set(patients)
    seen: dict[str, str] = {}
    for name in SPLIT_NAMES:
        for patient in raw.get(name, []):
            if patient in seen:
                raise UserError(f"{path}: patient {patient} is in both {seen[patient]} and {name}")
            seen[patient] = name
    missing = sorted(set(seen) - available)
    if missing:
        raise UserError(
            f"{path}: patient(s) not in the data: {', '.join(missing[:5])}"
            f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}"
        )
    splits = {name: sorted(raw.get(name, [])) for name in SPLIT_NAMES}
    if not splits["train"]:
        raise UserError(f"{path}: the training split is empty")
    return splits, sorted(available - set(seen))
