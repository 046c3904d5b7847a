"""A data folder as a run reads it: checked before anything is made, preprocessed as the run's config says, and
joined with a second folder (a test folder, a healthy cohort) only when the two describe slices alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as datalib
from ..config import RunConfig
from ..errors import UserError


def check_data_folder(root: Path) -> None:
    """The data folder exists, is a folder and can be listed (the plan checks it before a run directory is made)."""
    if not root.exists():
        raise UserError(f"{root}: data folder not found")
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise UserError(f"{root}: permission denied")


def preprocess_config(config: RunConfig, dataset: Any) -> datalib.PreprocessConfig:
    dcfg = config.data
    kwargs: dict[str, Any] = {
        "image_size": dcfg.image_size or None,
        "pathological_min_pixels": dcfg.pathological_min_pixels,
        "skip_bad_cases": dcfg.skip_bad_cases,
    }
    if dcfg.slice_range:
        kwargs["slice_range"] = tuple(dcfg.slice_range)
    elif dataset.default_slice_range is not None:
        kwargs["slice_range"] = tuple(dataset.default_slice_range)
    return datalib.PreprocessConfig(**kwargs)


def join_tables(
    train: datalib.SliceTable, test: datalib.SliceTable, train_root: Path, test_root: Path
) -> datalib.SliceTable:
    """The slices of the data folder and of the test folder in one table (same modalities and pixel size)."""
    shared = sorted(set(train.patients()) & set(test.patients()))
    if shared:
        raise UserError(
            f"{test_root}: patient(s) {', '.join(shared[:3])} are also in {train_root}; "
            "a test folder must hold other patients"
        )
    if tuple(test.modalities) != tuple(train.modalities):
        raise UserError(
            f"{test_root}: modalities {', '.join(test.modalities)} differ from "
            f"{', '.join(train.modalities)} of {train_root} (choose them with --modalities)"
        )
    if test.images.shape[-2:] != train.images.shape[-2:]:
        raise UserError(
            f"{test_root}: slices of {test.images.shape[-2]}x{test.images.shape[-1]} px differ from "
            f"{train.images.shape[-2]}x{train.images.shape[-1]} of {train_root} (set --image-size)"
        )
    if not np.allclose(test.spacing, train.spacing, rtol=1e-3):
        raise UserError(
            f"{test_root}: pixel size {tuple(round(s, 3) for s in test.spacing)} mm differs from "
            f"{tuple(round(s, 3) for s in train.spacing)} mm of {train_root}; resample one of them"
        )
    return datalib.SliceTable(
        images=np.concatenate([train.images, test.images]),
        masks=np.concatenate([train.masks, test.masks]),
        domain=np.concatenate([train.domain, test.domain]),
        patient=np.concatenate([train.patient, test.patient]),
        z=np.concatenate([train.z, test.z]),
        modalities=train.modalities,
        spacing=train.spacing,
        volumes={**train.volumes, **test.volumes},
        skipped=train.skipped + test.skipped,
    )
