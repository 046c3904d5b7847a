"""The run's data: read (or generate), preprocess, cache and split by patient."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as datalib
from ..config import RunConfig
from ..errors import UserError
from ..registry import Registry, get_registry


@dataclass
class PreparedData:
    table: datalib.SliceTable
    splits: dict[str, list[str]]
    dataset_name: str
    #: the data folder (for the built-in synthetic data, its generated folder in the cache)
    data_path: str
    #: cases left out, and why
    skip_reasons: dict[str, str] = field(default_factory=dict)
    #: cases kept without a segmentation (segmented, never trained on or scored)
    unlabelled: list[str] = field(default_factory=list)

    def indices(self, split: str, domain: int | None = None) -> np.ndarray:
        """Slice indices of a split's patients, optionally of one domain (0 healthy, 1 pathological)."""
        idx = split_indices(self.table, self.splits, split)
        return idx if domain is None else idx[self.table.domain[idx] == domain]

    def display_affine(self) -> list[list[float]] | None:
        """The first training patient's NIfTI affine, to orient sample grids of training slices for display."""
        patients = self.splits.get("train") or self.table.patients()
        return self.table.volumes.get(str(patients[0]), {}).get("affine") if patients else None

    def split_sizes(self) -> dict[str, dict[str, int]]:
        """Patients, healthy and pathological slices per split."""
        return {split: {"patients": len(members), "healthy": len(self.indices(split, 0)),
                        "pathological": len(self.indices(split, 1))} for split, members in self.splits.items()}


def split_indices(table: datalib.SliceTable, splits: dict[str, list[str]], split: str) -> np.ndarray:
    members = np.isin(table.patient, np.asarray(splits.get(split, []), dtype=table.patient.dtype))
    return np.flatnonzero(members)


def check_data_folder(root: Path) -> None:
    """The data folder exists, is a folder and can be listed (the plan checks it before a run directory is made)."""
    if not root.exists():
        raise UserError(f"{root}: data folder not found")
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise UserError(f"{root}: permission denied")


def prepare_data(config: RunConfig, registry: Registry | None = None) -> PreparedData:
    """Load (or generate), preprocess and split the run's data."""
    registry = registry or get_registry()
    cache = datalib.default_cache_dir(config.data.cache_dir)
    dcfg = config.data
    if dcfg.path:
        root = Path(dcfg.path).expanduser()
        check_data_folder(root)
        dataset_name = dcfg.dataset
    else:
        root = datalib.synthetic_root(cache, patients=dcfg.synthetic_patients, size=dcfg.synthetic_size,
                                      seed=config.seed, modalities=tuple(dcfg.modalities) or None)
        dataset_name = "synthetic" if dcfg.dataset == "auto" else dcfg.dataset
    dataset = registry.create("dataset", dataset_name, root, modalities=list(dcfg.modalities) or None,
                              skip_bad_cases=dcfg.skip_bad_cases, allow_missing_modalities=dcfg.allow_missing_modalities,
                              allow_unlabelled=dcfg.allow_unlabelled)
    table = datalib.prepare_slices(dataset, preprocess_config(config, dataset), cache / "slices")
    split_seed = dcfg.split_seed if dcfg.split_seed >= 0 else config.seed
    splits = table.split_patients(tuple(dcfg.split_fractions), seed=split_seed)
    return PreparedData(table, splits, dataset_name, str(root), dict(getattr(dataset, "skip_reasons", {}) or {}),
                        list(getattr(dataset, "unlabelled", []) or []))


def preprocess_config(config: RunConfig, dataset: Any) -> datalib.PreprocessConfig:
    dcfg = config.data
    kwargs: dict[str, Any] = {
        "image_size": dcfg.image_size or None,
        "pathological_min_pixels": dcfg.pathological_min_pixels,
        "skip_bad_cases": dcfg.skip_bad_cases,
    }
    if dcfg.slice_range:
        kwargs["slice_range"] = tuple(dcfg.slice_range)
    elif getattr(dataset, "default_slice_range", None) is not None:
        kwargs["slice_range"] = tuple(dataset.default_slice_range)
    return datalib.PreprocessConfig(**kwargs)
