"""Inference of a trained model on the run's slices: calibration and probability maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ..contracts.model import SegmentationModel
from ..data.levels import rank_auroc
from ..data.slices import HEALTHY, PATHOLOGICAL, UNLABELLED, brain_pixels
from ..errors import UserError
from ..figures.style import preferred_channel
from ..utils.io import atomic_path
from .prepare import PreparedData

#: healthy slices given to :meth:`SegmentationModel.calibrate`
CALIBRATION_SLICES = 256


@dataclass
class Predictions:
    """Probability maps of the evaluated slices and what is needed to score them (``predictions.npz``)."""

    prob: np.ndarray  # (N, H, W) float16
    mask: np.ndarray  # (N, H, W) bool
    patient: np.ndarray  # (N,) str
    z: np.ndarray  # (N,) int
    split: np.ndarray  # (N,) str
    threshold: float
    index: np.ndarray  # (N,) row of the slice table
    #: (N, H, W) float16: the slices' FLAIR (or first) channel, to show maps on anatomy; None if not kept
    image: np.ndarray | None = None
    #: the modality in ``image``
    image_modality: str = ""
    #: (N, 4, 4) NIfTI affine of each slice's volume, to show slices the right way up; None if unknown
    affine: np.ndarray | None = None
    #: (N,) int8 slice domain (HEALTHY, PATHOLOGICAL or MINOR of pathogan_bench.data.slices); None: all pathological
    domain: np.ndarray | None = None
    #: (N, H, W) bool: the brain pixels (:func:`pathogan_bench.data.slices.brain_pixels`), where maps are scored
    brain: np.ndarray | None = None
    #: (N,) float32: what the model's translation to healthy changes outside the lesion
    #: (:func:`change_outside_lesion`); None for a model that does not translate
    change_outside: np.ndarray | None = None

    def save(self, path: Path) -> Path:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **cast("dict[str, Any]", self.arrays()))
        return path

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays as :func:`pathogan_bench.evaluation.load_predictions` returns them from disk."""
        out = {
            "prob": self.prob,
            "mask": self.mask,
            "patient": self.patient.astype(str),
            "z": self.z,
            "split": self.split.astype(str),
            "threshold": np.asarray(self.threshold, dtype=np.float32),
            "index": self.index,
        }
        if self.image is not None:
            out["image"] = np.asarray(self.image, dtype=np.float16)
            out["image_modality"] = np.asarray(self.image_modality)
        if self.affine is not None:
            out["affine"] = np.asarray(self.affine, dtype=np.float64)
        if self.domain is not None:
            out["domain"] = np.asarray(self.domain, dtype=np.int8)
        if self.brain is not None:
            out["brain"] = np.asarray(self.brain, dtype=bool)
        if self.change_outside is not None:
            out["change_outside"] = np.asarray(self.change_outside, dtype=np.float32)
        return out


def to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(device)


@torch.no_grad()
def predict(
    model: SegmentationModel, images: np.ndarray, device: torch.device, batch_size: int, masks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probability maps (N, H, W) as float16, ``batch_size`` slices at a time, and, for a model that translates
    and given the slices' ``masks``, what the translation changes outside the reference lesion
    (:func:`change_outside_lesion`; None for a model that does not translate)."""
    model.eval()
    out = np.empty((len(images),) + tuple(images.shape[-2:]), dtype=np.float16)
    change = np.full(len(images), np.nan, dtype=np.float32)
    translates = False
    for start in range(0, len(images), batch_size):
        chunk = to_device(images[start : start + batch_size], device)
        prob, made = model.segment_and_translate(chunk)
        out[start : start + len(chunk)] = prob.float().cpu().numpy()
        if masks is not None and "translated" in made:
            translates = True
            healed = made["translated"].float().cpu().numpy()
            part = slice(start, start + len(chunk))
            change[part] = change_outside_lesion(np.asarray(images[part]), healed, np.asarray(masks[part]))
    return out, (change if translates else None)


def change_outside_lesion(images: np.ndarray, translated: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per slice: the mean over brain pixels outside the reference lesion of |x - translated x| (channel mean), in
    normalised intensity units (the brain's intensities have std 1/3); NaN for a slice with no such pixel. On a
    healthy slice this is every brain pixel: a faithful translation to healthy changes nothing there."""
    difference = np.abs(images.astype(np.float32) - translated.astype(np.float32)).mean(axis=1)
    outside = brain_pixels(images) & ~np.asarray(masks, dtype=bool)
    counts = outside.reshape(len(images), -1).sum(1)
    sums = np.where(outside, difference, 0).reshape(len(images), -1).sum(1)
    return np.divide(sums, counts, out=np.full(len(images), np.nan), where=counts > 0).astype(np.float32)


def calibrate(model: SegmentationModel, data: PreparedData, device: torch.device) -> None:
    """Give the model healthy validation images (images only; training ones if there are none) to fit label-free rules."""
    for split in ("val", "train"):
        healthy = data.indices(split, domain=HEALTHY)
        if len(healthy):
            model.calibrate(to_device(data.table.images[healthy[:CALIBRATION_SLICES]], device))
            return


def predict_splits(
    model: SegmentationModel, data: PreparedData, splits: list[str], device: torch.device, batch_size: int
) -> Predictions:
    """Segment every labelled slice of the evaluated splits; probabilities outside the brain are 0."""
    table = data.table
    labelled = {split: idx[table.domain[idx] != UNLABELLED] for split in splits if len(idx := data.indices(split))}
    parts = [(split, idx) for split, idx in labelled.items() if len(idx)]
    if not any((table.domain[idx] == PATHOLOGICAL).any() for _, idx in parts):
        raise UserError(f"no pathological slices in the evaluated splits {splits}")
    idx = np.concatenate([i for _, i in parts])
    split_names = np.concatenate([np.full(len(i), s) for s, i in parts])
    images = table.images[idx]
    prob, change = predict(model, images, device, batch_size, masks=table.masks[idx])
    brain = brain_pixels(images)
    prob[~brain] = 0
    channel = preferred_channel(table.modalities)
    affines = [table.volumes.get(str(p), {}).get("affine") for p in table.patient[idx]]
    return Predictions(
        prob,
        np.asarray(table.masks[idx]),
        table.patient[idx],
        table.z[idx],
        split_names,
        float(model.threshold),
        idx,
        image=np.asarray(images[:, channel], dtype=np.float16),
        image_modality=str(table.modalities[channel]) if table.modalities else "",
        affine=np.asarray(affines, dtype=np.float64) if all(a is not None for a in affines) else None,
        domain=np.asarray(table.domain[idx], dtype=np.int8),
        brain=brain,
        change_outside=change,
    )


@torch.no_grad()
def slice_classification(
    model: SegmentationModel, data: PreparedData, splits: list[str], device: torch.device, batch_size: int
) -> dict[str, dict[str, float | int]] | None:
    """For a model that scores whole slices (:meth:`SegmentationModel.slice_scores`), per evaluated split: the AUROC
    of its scores for pathological vs healthy slices and the two counts; None for a model that scores none."""
    table, out = data.table, {}
    model.eval()
    for split in splits:
        idx = data.indices(split)
        idx = idx[np.isin(table.domain[idx], (HEALTHY, PATHOLOGICAL))]
        if not len(idx):
            continue
        scores = []
        for start in range(0, len(idx), batch_size):
            found = model.slice_scores(to_device(table.images[idx[start : start + batch_size]], device))
            if found is None:
                return None
            scores.append(found.float().cpu().numpy())
        score, pathological = np.concatenate(scores), table.domain[idx] == PATHOLOGICAL
        out[split] = {
            "auroc": rank_auroc(score[pathological], score[~pathological]),
            "healthy": int((~pathological).sum()),
            "pathological": int(pathological.sum()),
        }
    return out or None
