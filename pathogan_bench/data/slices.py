"""From patient volumes to a table of preprocessed axial slices (paper, section 2.5).

Each volume's brain voxels are normalised to N(0, std) (paper: std = 1/3)
and clipped to [-1, 1]; the background is set to -1. Axial slices in the
configured range are kept when *healthy* (no tumour pixel) or *pathological*
(more than ``pathological_min_pixels`` tumour pixels); the rest are
discarded. Slices of unlabelled cases are kept with domain -1. The result is
cached once per input files and configuration as memory-mapped arrays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..progress import progress_bar
from .cases import Case, CaseCollection

log = logging.getLogger("pathogan_bench")

CACHE_VERSION = 2
HEALTHY, PATHOLOGICAL, UNLABELLED = 0, 1, -1


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

    def subset(self, idx: np.ndarray) -> "SliceTable":
        idx = np.asarray(idx)
        return SliceTable(self.images[idx], self.masks[idx], self.domain[idx], self.patient[idx], self.z[idx],
                          self.modalities, self.spacing, self.volumes, self.skipped)

    def patients(self) -> list[str]:
        return sorted(set(self.patient.tolist()))

    def split_patients(self, fractions: tuple[float, ...], seed: int) -> dict[str, list[str]]:
        """Train / val / test patients, stratified by whether they have pathological slices."""
        pathological = set(self.patient[self.domain == PATHOLOGICAL].tolist())
        return split_patients(self.patients(), fractions, seed=seed, pathological=pathological or None)


def normalise_volume(volume: np.ndarray, brain: np.ndarray, std: float = 1 / 3, clip: float = 1.0) -> np.ndarray:
    """Brain voxels to zero mean and standard deviation ``std``, clipped; background to -clip."""
    out = np.full(volume.shape, -clip, dtype=np.float32)
    values = volume[brain]
    if values.size:
        scale = values.std()
        out[brain] = (values - values.mean()) / (scale if scale > 0 else 1.0) * std
    return np.clip(out, -clip, clip, out=out)


def case_slices(case: Case, modalities: tuple[str, ...], config: PreprocessConfig) -> dict[str, Any]:
    """Preprocess one case: the kept slices and their domains."""
    stack, info = case.load_all(modalities)  # (C, X, Y, Z)
    label = case.load_label()
    if label is not None and label.shape != stack.shape[1:]:
        raise UserError(f"{case.label}: shape {label.shape} differs from the images {stack.shape[1:]}")
    if case.brain_mask is not None:
        from .cases import read_volume

        brain = read_volume(case.brain_mask).data > 0
    else:
        brain = np.any(stack != 0, axis=0)
    if config.normalise:
        stack = np.stack([normalise_volume(v, brain, config.std, config.clip) for v in stack])
    depth = stack.shape[-1]
    lo, hi = config.slice_range if config.slice_range else (0, depth - 1)
    if lo > depth - 1:
        raise UserError(f"{case.images[modalities[0]]}: slice range {lo}-{hi} lies outside its {depth} axial slices "
                        "(choose one with --slices)")
    zs = np.arange(max(0, lo), min(depth - 1, hi) + 1)
    if label is None:
        domains = np.full(len(zs), UNLABELLED, np.int8)
        masks = np.zeros((len(zs),) + stack.shape[1:3], bool)
    else:
        tumour = label[:, :, zs].sum(axis=(0, 1))
        domains = np.where(tumour == 0, HEALTHY, np.where(tumour > config.pathological_min_pixels, PATHOLOGICAL, -2))
        keep = domains != -2
        zs, domains = zs[keep], domains[keep].astype(np.int8)
        masks = np.moveaxis(label[:, :, zs], -1, 0)
    images = np.moveaxis(stack[:, :, :, zs], -1, 0)  # (N, C, X, Y)
    side = max(images.shape[-2:])
    images, masks = _resize(images, masks, config.image_size)
    scale = side / images.shape[-1]  # resized pixels are larger; distances stay in mm
    return {"images": images.astype(np.float32), "masks": masks, "domain": domains, "z": zs,
            "volume": {"shape": list(stack.shape[1:]), "affine": info.affine.tolist()},
            "spacing": tuple(float(s) * scale for s in info.spacing[:2])}


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
    img = F.interpolate(torch.from_numpy(np.ascontiguousarray(images)), size=(size, size), mode="bilinear",
                        align_corners=False, antialias=True)
    msk = F.interpolate(torch.from_numpy(masks.astype(np.float32))[:, None], size=(size, size), mode="bilinear",
                        align_corners=False)[:, 0] > 0.5
    return img.numpy(), msk.numpy()


def cache_key(dataset: CaseCollection, config: PreprocessConfig) -> str:
    payload = json.dumps({"v": CACHE_VERSION, "files": dataset.fingerprint(), "modalities": dataset.modalities,
                          "config": asdict(config)}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def prepare_slices(dataset: CaseCollection, config: PreprocessConfig, cache_dir: Path | None = None,
                   progress: bool = True) -> SliceTable:
    """Preprocess every case into a :class:`SliceTable`, cached under ``cache_dir``."""
    if cache_dir is not None:
        folder = Path(cache_dir) / cache_key(dataset, config)
        if (folder / "meta.json").is_file():
            return _load(folder)
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
        raise UserError(f"{dataset.root}: no usable case (skipped {len(skipped)})")
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
    return table


def _save(table: SliceTable, folder: Path) -> None:
    """Write the cache into a temporary folder and rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        np.save(tmp / "images.npy", table.images)
        np.save(tmp / "masks.npy", table.masks)
        pd.DataFrame({"patient": table.patient, "z": table.z, "domain": table.domain}).to_csv(tmp / "index.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps({"modalities": table.modalities, "spacing": table.spacing,
                                                   "volumes": table.volumes, "skipped": table.skipped}))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process filled the cache first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(folder: Path) -> SliceTable:
    meta = json.loads((folder / "meta.json").read_text())
    index = pd.read_csv(folder / "index.csv", dtype={"patient": str})
    return SliceTable(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        masks=np.load(folder / "masks.npy", mmap_mode="r"),
        domain=index["domain"].to_numpy(np.int8),
        patient=index["patient"].to_numpy(str),
        z=index["z"].to_numpy(np.int64),
        modalities=tuple(meta["modalities"]),
        spacing=tuple(meta["spacing"]),
        volumes=meta["volumes"],
        skipped=tuple(meta.get("skipped", ())),
    )


def select_training(table: SliceTable, n_healthy: int, n_pathological: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to ``n_healthy`` healthy and ``n_pathological`` pathological slices (seeded)."""
    rng = np.random.default_rng(seed)
    healthy = np.flatnonzero(table.domain == HEALTHY)
    patho = np.flatnonzero(table.domain == PATHOLOGICAL)
    if len(healthy) > n_healthy:
        healthy = np.sort(rng.choice(healthy, n_healthy, replace=False))
    if len(patho) > n_pathological:
        patho = np.sort(rng.choice(patho, n_pathological, replace=False))
    return healthy, patho


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


def split_patients(patients: list[str], fractions: tuple[float, ...] = (0.6, 0.2, 0.2), seed: int = 0,
                   pathological: set[str] | None = None) -> dict[str, list[str]]:
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
    ordered = sorted(set(patients))
    if pathological is None:
        strata = [ordered]
    else:
        strata = [[p for p in ordered if p in pathological], [p for p in ordered if p not in pathological]]
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for index, stratum in enumerate(strata):
        rng = np.random.default_rng([seed, index] if pathological is not None else seed)
        shuffled = [stratum[i] for i in rng.permutation(len(stratum))]
        n_train, n_val, _ = _split_counts(len(shuffled), fractions, at_least_one=index == 0)
        split["train"] += shuffled[:n_train]
        split["val"] += shuffled[n_train:n_train + n_val]
        split["test"] += shuffled[n_train + n_val:]
    if not split["train"]:
        raise UserError(f"{len(ordered)} patient(s) cannot be split into train/val/test {list(fractions)}: "
                        "no training patient left")
    return {name: sorted(members) for name, members in split.items()}
