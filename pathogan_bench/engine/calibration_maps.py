"""Maps of the validation patients (of the training ones when there is no validation split) for the threshold
policies that are fitted on data other than the scored patients: ``calibration.npz`` in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..contracts.model import SegmentationModel
from ..data.slices import UNLABELLED, brain_pixels
from ..evaluation.policy_grid import CALIBRATION_FILE
from ..utils.io import atomic_path
from .infer import predict
from .prepare import PreparedData


def save_calibration_maps(
    model: SegmentationModel, data: PreparedData, device: torch.device, batch_size: int, run_dir: Path
) -> Path | None:
    """Segment every labelled slice of the validation patients (else the training ones) and save the maps."""
    chosen = [
        (idx, who)
        for split, who in (("val", "validation"), ("train", "training"))
        if len(idx := data.indices(split)[data.table.domain[data.indices(split)] != UNLABELLED])
    ]
    if not chosen:
        return None
    idx, who = chosen[0]
    table = data.table
    images = table.images[idx]
    prob, _ = predict(model, images, device, batch_size)
    brain = brain_pixels(images)
    prob[~brain] = 0
    affines = [table.volumes.get(str(p), {}).get("affine") for p in table.patient[idx]]
    arrays: dict[str, Any] = {
        "prob": prob,
        "mask": np.asarray(table.masks[idx], dtype=bool),
        "brain": brain,
        "domain": np.asarray(table.domain[idx], dtype=np.int8),
        "patient": table.patient[idx].astype(str),
        "z": np.asarray(table.z[idx]),
        "patients": np.asarray(who),
    }
    if all(a is not None for a in affines):
        arrays["affine"] = np.asarray(affines, dtype=np.float64)
    path = Path(run_dir) / CALIBRATION_FILE
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path
