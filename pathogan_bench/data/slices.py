"""From patient volumes to a table of preprocessed axial slices (paper, section 2.5).

Each volume's brain voxels are normalised to N(0, std) (paper: std = 1/3)
and clipped to [-1, 1]; the background is set to -1. Axial slices in the
configured range are kept: *healthy* (no tumour pixel), *pathological*
(more than ``pathological_min_pixels`` tumour pixels) and *minor* (the few
in between, never trained on, scored with the patient's volume). Slices of unlabelled cases are kept with domain -1. The result is
cached once per input files and configuration as memory-mapped arrays.

Normalisation is robust to outliers and computed in float64. The mean and
standard deviation are estimated from the brain voxels *winsorised* to their
0.1st and 99.9th percentiles (each voxel below the lower percentile counts
as the percentile, likewise above the upper one; the percentiles are taken
inwards, so at least the single lowest and highest voxel are always
clipped); every brain voxel is then mapped with those statistics and clipped
to [-clip, clip]. Up to 0.1% of the brain voxels can thus be arbitrarily
large (a hot voxel at 1e30, values near the float32 limit) without
flattening the rest of the modality; on real BraTS scans the results differ
from the plain mean and standard deviation by at most 0.005 (0.016 on raw,
unnormalised scanner intensities) on the [-1, 1] scale. Non-finite input or
output is refused, never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from ..errors import UserError
from ..utils.io import atomic_folder
from ..utils.progress import progress_bar
from .cache import CACHE_ENV
from .cases import Case, CaseCollection, case_folder, read_volume
from .intensity import check_not_constant, normalise_volume
from .splits import split_patients

log = logging.getLogger("pathogan_bench")

#: version of the cached slices; bumped whenever preprocessing changes its output (4: slices with few tumour pixels
#: kept; 5: files brought to one orientation, geometry checked, constant modalities refused)
CACHE_VERSION = 5
#: slice domains. MINOR: 1 to ``pathological_min_pixels`` tumour pixels, neither healthy nor pathological for
#: training (the paper leaves them out), but scored with the patient's volume and the threshold-free scores
HEALTHY, PATHOLOGICAL, UNLABELLED, MINOR = 0, 1, -1, 2
#: preprocessed background value; a pixel is brain when any modality lies above it (by this margin)
BACKGROUND, BRAIN_MARGIN = -1.0, 1e-3


@dataclass(frozen=True)
class PreprocessConfig:
    normalise: bool = True
    #: target standard deviation of brain intensities (paper: 1/3)
    std: float = 1 / 3
    clip: float = 1.0
    #: inclusive axial slice range; None = every slice
    slice_range: tuple[int, int] | None = (60, 100)
    #: a slice with more tumour pixels than this is pathological (paper: 20)
    pathological_min_pixels: int = 20
    #: in-plane size slices are resized to (square); None = keep
    image_size: int | None = None
    skip_bad_cases: bool = False

    def __post_init__(self) -> None:
        if self.slice_range is not None:
            rng = tuple(self.slice_range)
            if len(rng) != 2 or not all(isinstance(v, (int, np.integer)) for v in rng) or not 0 <= rng[0] <= rng[1]:
                raise UserError(
                    f"slice range {list(rng)}: expected [FIRST, LAST] with 0 <= FIRST <= LAST, e.g. [60, 100]"
                )
        for key in ("std", "clip"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"preprocessing {key} = {value!r}: expected a finite number > 0")


@dataclass(frozen=True)
class SliceTable:
    """Preprocessed slices of a dataset: images, masks, domains and provenance."""

    images: np.ndarray  # (N, C, H, W) float32 in [-1, 1]
    masks: np.ndarray  # (N, H, W) bool whole tumour
    domain: np.ndarray  # (N,) int8: 0 healthy, 1 pathological, -1 unlabelled
    patient: np.ndarray  # (N,) str
    z: np.ndarray  # (N,) int
    modalities: tuple[str, ...]
    spacing: tuple[float, float] = (1.0, 1.0)
    #: per patient: original volume shape and affine, to write results back as NIfTI
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.domain)

    def subset(self, idx: np.ndarray) -> SliceTable:
        idx = np.asarray(idx)
        return SliceTable(
            self.images[idx],
            self.masks[idx],
            self.domain[idx],
            self.patient[idx],
            self.z[idx],
            self.modalities,
            self.spacing,
            self.volumes,
            self.skipped,
        )

    def patients(self) -> list[str]:
        return sorted(set(self.patient.tolist()))

    def split_patients(self, fractions: tuple[float, ...], seed: int) -> dict[str, list[str]]:
        """Train / val / test patients, stratified by whether they have pathological slices."""
        pathological = set(self.patient[self.domain == PATHOLOGICAL].tolist())
        return split_patients(self.patients(), fractions, seed=seed, pathological=pathological or None)


def brain_pixels(images: np.ndarray, channel_axis: int = 1) -> np.ndarray:
    """Brain pixels of preprocessed images: any modality above the background value.

    The one rule for where a map may be non-zero: run evaluation, ``segment``
    and the models' calibration all use it (docs/METRICS.md).
    """
    return cast(np.ndarray, (np.asarray(images) > BACKGROUND + BRAIN_MARGIN).any(axis=channel_axis))


def case_slices(case: Case, modalities: tuple[str, ...], config: PreprocessConfig) -> dict[str, Any]:
    """Preprocess one case: the kept slices and their domains."""
    stack, info = case.load_all(modalities)  # (C, X, Y, Z)
    reference = (case.images[modalities[0]], info)
    label = case.load_label(reference=reference)
    if label is not None and label.shape != stack.shape[1:]:
        raise UserError(f"{case.label}: shape {label.shape} differs from the images {stack.shape[1:]}")
    if case.brain_mask is not None:
        mask = case.align(case.brain_mask, read_volume(case.brain_mask), *reference)
        if mask.shape != stack.shape[1:]:
            raise UserError(
                f"{case.brain_mask}: brain mask shape {mask.shape} differs from the images {stack.shape[1:]}"
            )
        brain = mask > 0
    else:
        brain = np.any(stack != 0, axis=0)
    check_not_constant(stack, brain, [case.images[m] for m in modalities], case.brain_mask)
    if config.normalise:
        stack = np.stack(
            [normalise_volume(v, brain, config.std, config.clip, case.images[m]) for m, v in zip(modalities, stack)]
        )
    depth = stack.shape[-1]
    lo, hi = config.slice_range if config.slice_range else (0, depth - 1)
    if lo > depth - 1:
        raise UserError(
            f"{case.images[modalities[0]]}: slice range {lo}-{hi} lies outside its {depth} axial slices "
            "(choose one with --slices)"
        )
    zs = np.arange(max(0, lo), min(depth - 1, hi) + 1)
    if label is None:
        domains = np.full(len(zs), UNLABELLED, np.int8)
        masks = np.zeros((len(zs),) + stack.shape[1:3], bool)
    else:
        tumour = label[:, :, zs].sum(axis=(0, 1))
        domains = np.where(
            tumour == 0, HEALTHY, np.where(tumour > config.pathological_min_pixels, PATHOLOGICAL, MINOR)
        ).astype(np.int8)
        masks = np.moveaxis(label[:, :, zs], -1, 0)
    images = np.moveaxis(stack[:, :, :, zs], -1, 0)  # (N, C, X, Y)
    side = max(images.shape[-2:])
    images, masks = _resize(images, masks, config.image_size)
    if not np.isfinite(images).all():  # never cached: every later stage would silently compute with NaN
        raise UserError(f"{case_folder(case)}: preprocessing gave non-finite values for {case.patient_id}")
    scale = side / images.shape[-1]  # resized pixels are larger; distances stay in mm
    return {
        "images": images.astype(np.float32),
        "masks": masks,
        "domain": domains,
        "z": zs,
        "volume": {"shape": list(stack.shape[1:]), "affine": info.affine.tolist()},
        "spacing": tuple(float(s) * scale for s in info.spacing[:2]),
    }


def _resize(images: np.ndarray, masks: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not size or (images.shape[-1] == size and images.shape[-2] == size) or len(images) == 0:
        return images, masks
    import torch
    import torch.nn.functional as F

    h, w = images.shape[-2:]
    side = max(h, w)
    if h != w:  # pad to a square with background so anatomy keeps its aspect ratio
        ph, pw = side - h, side - w
        images = np.pad(images, ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), constant_values=-1)
        masks = np.pad(masks, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
    img = F.interpolate(
        torch.from_numpy(np.ascontiguousarray(images)),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    msk = (
        F.interpolate(
            torch.from_numpy(masks.astype(np.float32))[:, None], size=(size, size), mode="bilinear", align_corners=False
        )[:, 0]
        > 0.5
    )
    return img.numpy(), msk.numpy()


def cache_key(dataset: CaseCollection, config: PreprocessConfig) -> str:
    payload = json.dumps(
        {
            "v": CACHE_VERSION,
            "files": dataset.fingerprint(),
            "modalities": dataset.modalities,
            "skipped": sorted(dataset.skipped),
            "config": asdict(config),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def prepare_slices(
    dataset: CaseCollection, config: PreprocessConfig, cache_dir: Path | None = None, progress: bool = True
) -> SliceTable:
    """Preprocess every case into a :class:`SliceTable`, cached under ``cache_dir``."""
    if cache_dir is not None:
        folder = Path(cache_dir) / cache_key(dataset, config)
        if (folder / "meta.json").is_file():
            try:
                return _said_if_no_tumour(_load(folder), dataset.root)
            except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
                log.warning("cache entry %s is unreadable (%s); rebuilding it", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)
    parts, skipped = [], list(dataset.skipped)
    with progress_bar(dataset.cases, "preprocessing", enabled=progress) as cases:
        for case in cases:
            try:
                part = case_slices(case, dataset.modalities, config)
            except UserError as exc:
                if not config.skip_bad_cases:
                    raise
                log.warning("skipping %s: %s", case.patient_id, exc)
                skipped.append(case.patient_id)
                continue
            parts.append((case.patient_id, part))
    if not parts:
        reasons = dataset.skip_reasons
        named = "; ".join(f"{pid}: {reasons[pid]}" if pid in reasons else pid for pid in skipped[:3])
        raise UserError(
            f"{dataset.root}: no usable case (skipped {len(skipped)}{': ' + named if named else ''}"
            f"{' ...' if len(skipped) > 3 else ''})"
        )
    table = SliceTable(
        images=np.concatenate([p["images"] for _, p in parts]),
        masks=np.concatenate([p["masks"] for _, p in parts]),
        domain=np.concatenate([p["domain"] for _, p in parts]).astype(np.int8),
        patient=np.concatenate([np.full(len(p["z"]), pid) for pid, p in parts]).astype(str),
        z=np.concatenate([p["z"] for _, p in parts]).astype(np.int64),
        modalities=tuple(dataset.modalities),
        spacing=tuple(float(s) for s in parts[0][1]["spacing"]),  # type: ignore[arg-type]
        volumes={pid: p["volume"] for pid, p in parts},
        skipped=tuple(skipped),
    )
    if cache_dir is not None:
        _save(table, folder)
    return _said_if_no_tumour(table, dataset.root)


def _said_if_no_tumour(table: SliceTable, root: Path | None) -> SliceTable:
    """Warn when every labelled case's segmentation is empty in the kept slices: tumour scores have nothing to find."""
    labelled = table.domain != UNLABELLED
    if labelled.any() and not np.asarray(table.masks[labelled]).any():
        cases = len(set(table.patient[labelled].tolist()))
        log.warning(
            "%s: the segmentation is empty in every one of its %d labelled case(s) (in the slices used); "
            "tumour scores such as Dice and HD95 have no tumour to find",
            root or "the dataset",
            cases,
        )
    return table


def _save(table: SliceTable, folder: Path) -> None:
    """Write the cache into a temporary folder and rename it into place (complete entries only)."""
    with atomic_folder(folder, f"choose another with --cache or ${CACHE_ENV}") as tmp:
        np.save(tmp / "images.npy", table.images)
        np.save(tmp / "masks.npy", table.masks)
        pd.DataFrame({"patient": table.patient, "z": table.z, "domain": table.domain}).to_csv(
            tmp / "index.csv", index=False
        )
        (tmp / "meta.json").write_text(
            json.dumps(
                {
                    "modalities": table.modalities,
                    "spacing": table.spacing,
                    "volumes": table.volumes,
                    "skipped": table.skipped,
                }
            )
        )


def _load(folder: Path) -> SliceTable:
    meta = json.loads((folder / "meta.json").read_text())
    index = pd.read_csv(folder / "index.csv", dtype={"patient": str})
    images = np.load(folder / "images.npy", mmap_mode="r")
    masks = np.load(folder / "masks.npy", mmap_mode="r")
    if not len(index) == len(images) == len(masks):
        raise ValueError(f"{len(index)} index rows, {len(images)} images, {len(masks)} masks")
    return SliceTable(
        images=images,
        masks=masks,
        domain=index["domain"].to_numpy(np.int8),
        patient=index["patient"].to_numpy(str),
        z=index["z"].to_numpy(np.int64),
        modalities=tuple(meta["modalities"]),
        spacing=tuple(meta["spacing"]),
        volumes=meta["volumes"],
        skipped=tuple(meta.get("skipped", ())),
    )
