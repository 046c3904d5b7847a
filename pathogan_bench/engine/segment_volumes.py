"""Segmenting whole NIfTI volumes slice by slice with a trained model (``pathogan-bench segment``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..contracts.model import SegmentationModel
from ..data.cases import Case, read_volume
from ..data.intensity import check_not_constant, normalise_volume
from ..data.slices import brain_pixels
from ..errors import UserError
from ..record.facts import RunFacts
from ..registry import Registry
from ..utils.io import save_nifti
from ..utils.progress import progress_bar
from .datasets import AUTO, read_dataset

log = logging.getLogger("pathogan_bench")


@dataclass
class SegmentedCase:
    patient_id: str
    labelled_voxels: int
    files: list[Path]
    notes: list[str]

    def describe(self) -> str:
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        return (
            f"{self.patient_id}: {self.labelled_voxels} voxels labelled -> {', '.join(str(f) for f in self.files[:2])}"
            f"{' ...' if len(self.files) > 2 else ''}{notes}"
        )


def find_case(folder: Path, modalities: list[str], registry: Registry) -> Case:
    """The one case in ``folder``, or the case named ``folder`` in its parent (any registered layout)."""
    candidates: list[Case] = []
    reasons: dict[str, str] = {}
    for root, name in ((folder, None), (folder.parent, folder.name)):
        try:  # the other cases of a folder do not matter here: nothing about them is an error
            collection = read_dataset(
                registry, AUTO, root, modalities=modalities, allow_missing_modalities=True, allow_unlabelled=True
            )
        except UserError:
            continue
        reasons.update(collection.skip_reasons)
        candidates = [
            c
            for c in collection.cases
            if name is None or c.patient_id == name or any(p.parent == folder for p in c.images.values())
        ]
        if candidates:
            break
    if not candidates and folder.name in reasons:
        raise UserError(f"{folder}: {reasons[folder.name]}")
    if len(candidates) != 1:
        raise UserError(f"{folder}: expected one case, found {len(candidates)}")
    case = candidates[0]
    missing = [m for m in modalities if m not in case.images]
    if missing:
        raise UserError(
            f"{folder}: modality {', '.join(missing)} missing for {case.patient_id} "
            f"(the model was trained on {', '.join(modalities)})"
        )
    return case


def _slab(slice_range: list[int] | None, depth: int, notes: list[str]) -> tuple[int, int]:
    if not slice_range:
        return 0, depth - 1
    lo, hi = slice_range
    if lo > depth - 1:
        raise UserError(f"--slices {lo}-{hi}: the volume has slices 0-{depth - 1}")
    if hi > depth - 1:
        notes.append(f"--slices {lo}-{hi} clipped to {lo}-{depth - 1} (the volume's last slice)")
    return lo, min(hi, depth - 1)


@torch.no_grad()
def segment_stack(
    model: SegmentationModel, stack: np.ndarray, lo: int, hi: int, size: int, batch_size: int, label: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities (X, Y, Z) and, for translating models, the healthy images (C, X, Y, Z) of slices lo-hi."""
    device = next(model.parameters(), torch.empty(0)).device
    channels, x_size, y_size, depth = stack.shape
    prob = np.zeros((x_size, y_size, depth), np.float32)
    healthy = None
    with progress_bar(range(lo, hi + 1, batch_size), label) as bar:
        for start in bar:
            zs = np.arange(start, min(hi + 1, start + batch_size))
            batch = torch.from_numpy(np.ascontiguousarray(np.moveaxis(stack[:, :, :, zs], -1, 0))).to(device)
            resized = (
                batch
                if batch.shape[-2:] == (size, size)
                else F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False)
            )
            p, images = model.segment_and_translate(resized)

            def back(t: torch.Tensor, shape: tuple[int, ...] = tuple(batch.shape[-2:])) -> torch.Tensor:
                if tuple(t.shape[-2:]) == shape:
                    return t
                return F.interpolate(t, size=shape, mode="bilinear", align_corners=False)

            prob[:, :, zs] = np.moveaxis(back(p[:, None].float())[:, 0].cpu().numpy(), 0, -1)
            if "translated" in images:
                if healthy is None:
                    healthy = np.zeros((channels, x_size, y_size, depth), np.float32)
                healthy[:, :, :, zs] = np.moveaxis(back(images["translated"].float()).cpu().numpy(), 0, -1)
    return prob, healthy


def segment_case(
    model: SegmentationModel,
    info: RunFacts,
    folder: Path,
    out_dir: Path,
    slice_range: list[int] | None,
    batch_size: int,
    registry: Registry,
) -> SegmentedCase:
    """Segment one case folder (read with ``registry``'s layouts) and write its NIfTI outputs into ``out_dir`` (with
    the input's affine)."""
    modalities, size = list(info.modalities), int(info.image_size)
    case = find_case(folder, modalities, registry)
    stack, first = case.load_all(modalities)
    reference = case.images[modalities[0]]
    if case.brain_mask:
        brain = case.align(case.brain_mask, read_volume(case.brain_mask), reference, first) > 0
    else:
        brain = np.any(stack != 0, axis=0)
    if brain.shape != stack.shape[1:]:
        raise UserError(f"{case.brain_mask}: brain mask shape {brain.shape} differs from the images {stack.shape[1:]}")
    check_not_constant(stack, brain, [case.images[m] for m in modalities], case.brain_mask, "check the file")
    stack = np.stack([normalise_volume(v, brain) for v in stack])
    notes: list[str] = []
    if stack.shape[1:3] != (size, size):
        notes.append(
            f"in-plane size {stack.shape[1]}x{stack.shape[2]} resized to the model's {size}x{size} "
            f"and back (it was trained on {size} px slices)"
        )
    lo, hi = _slab(slice_range, stack.shape[3], notes)
    prob, healthy = segment_stack(model, stack, lo, hi, size, batch_size, f"segmenting {case.patient_id}")
    if not np.isfinite(prob).all():
        raise UserError(f"{folder}: the model produced non-finite probabilities for {case.patient_id}; nothing written")
    prob[~brain_pixels(stack, channel_axis=0)] = 0  # the run's evaluation rule: docs/METRICS.md
    label = (prob >= model.threshold).astype(np.uint8)
    pid = case.patient_id
    files = [
        save_nifti(out_dir / f"{pid}-prob.nii.gz", prob, first.affine, first.spacing),
        save_nifti(out_dir / f"{pid}-label.nii.gz", label, first.affine, first.spacing),
    ]
    if healthy is not None:
        files += [
            save_nifti(out_dir / f"{pid}-healthy-{m}.nii.gz", healthy[i], first.affine, first.spacing)
            for i, m in enumerate(modalities)
        ]
    return SegmentedCase(pid, int(label.sum()), files, notes)
