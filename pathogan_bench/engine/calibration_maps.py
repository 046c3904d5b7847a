"""Maps of the validation patients (of the training ones when there is no validation split) for the threshold
policies that are fitted on data other than the scored patients: ``calibration.npz`` in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..contracts.model import SegmentationModel
from ..contracts.threshold_policy import MapSet, PolicyData
from ..data.slices import UNLABELLED, brain_pixels
from ..evaluation.policy_grid import CALIBRATION_FILE
from ..utils.io import atomic_path
from .infer import predict
from .prepare import PreparedData


def calibration_maps(
    model: SegmentationModel, data: PreparedData, device: torch.device, batch_size: int
) -> dict[str, Any] | None:
    """The maps of every labelled slice of the validation patients (else the training ones), with their masks,
    brains, slice labels and places; None when there are no such slices."""
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
    return arrays


def save_calibration_maps(
    model: SegmentationModel,
    data: PreparedData,
    device: torch.device,
    batch_size: int,
    run_dir: Path,
    arrays: dict[str, Any] | None = None,
) -> Path | None:
    """Save :func:`calibration_maps` (``arrays`` when already computed) as the run's calibration.npz."""
    arrays = arrays if arrays is not None else calibration_maps(model, data, device, batch_size)
    if arrays is None:
        return None
    path = Path(run_dir) / CALIBRATION_FILE
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path


def fit_model_rule(model: SegmentationModel, arrays: dict[str, Any] | None, registry: Any) -> str:
    """Set the model's threshold by its :attr:`~SegmentationModel.threshold_rule` (a threshold policy fitted on the
    calibration maps ``arrays``); returns what the rule looked at and found, "" when the model keeps its own. A rule
    that finds no threshold (no healthy or no pathological validation slice) keeps the threshold and says so."""
    rule = getattr(model, "threshold_rule", "")
    if not rule:
        return ""
    policy = registry.create("threshold-policy", rule)
    if arrays is None:
        return f"{rule}: no validation or training slices; the threshold stays {model.threshold:g}"
    maps = MapSet(arrays["prob"], arrays["mask"], arrays["brain"], arrays["domain"])
    data = PolicyData(float(model.threshold), maps, maps, str(arrays["patients"]))
    found = np.asarray(policy.thresholds(data), dtype=np.float64)
    if found.ndim or not np.isfinite(found):
        return f"{rule}: found no threshold ({policy.looks_at(data)}); the threshold stays {model.threshold:g}"
    model.threshold = float(found)
    return f"{rule}: {policy.looks_at(data)}; threshold {model.threshold:.3f}"
