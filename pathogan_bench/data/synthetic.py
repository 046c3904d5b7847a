"""A synthetic BraTS-like dataset: brain MRI with gliomas, deterministic per seed.

Each subject is built from tissue maps, not blobs: a skull-stripped brain
with a folded cortical grey-matter ribbon, white matter, deep grey nuclei,
cerebrospinal fluid in the sulci and the lateral ventricles. A tumour (in
most subjects) has a necrotic core, an enhancing rim and an irregular
surrounding edema that spreads along the white matter, and pushes the nearby
anatomy aside (mass effect). Each modality renders the tissues with its own
contrast (T1: WM > GM > CSF; T2: CSF > GM > WM; FLAIR: like T2 with dark
CSF; T1c: T1 with a bright enhancing rim), then a smooth bias field,
partial-volume blur and Rician noise are applied.

A difficulty level (``synthetic_knobs.DIFFICULTY``) adds what makes FLAIR alone ambiguous on
real scans: tumour parts that are not FLAIR-bright (a fluid-filled core, an
infiltrated outer edema that stands out on T2 and T1 only) and unlabelled
FLAIR-bright anatomy in every subject (periventricular caps, white-matter
hyperintensities, CSF flow artefacts, bright cortex). "easy" has none of
them.

Files follow the BraTS 2021+ layout (``SYN-00001/SYN-00001-t2f.nii.gz``,
``-seg`` with labels 1 necrosis, 2 edema, 4 enhancing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..utils.io import atomic_folder, atomic_path, write_json
from ..utils.progress import progress_bar
from ..utils.seeds import SYNTHETIC_CONFOUNDER_STREAM
from .cache import CACHE_ENV
from .cases import DESCRIPTION_FILE
from .synthetic_anatomy import (
    BG,
    BRIGHT_CORTEX,
    CSF,
    CYST,
    FLOW,
    GM,
    INFILTRATION,
    WM,
    WMH,
    render,
    smooth_noise,
    subject,
)
from .synthetic_knobs import DEFAULT_DIFFICULTY, DEFAULT_LEVELS, LEVELS, difficulty_knobs

FILE_SUFFIX = {"t1": "t1n", "t1c": "t1c", "t2": "t2w", "flair": "t2f"}
ALL_MODALITIES = ("flair", "t1", "t1c", "t2")
GENERATOR_VERSION = 4


def _edt(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Distance in mm from each voxel of ``mask`` to the nearest voxel outside it (0 outside)."""
    from scipy import ndimage

    return ndimage.distance_transform_edt(mask, sampling=spacing).astype(np.float32)


def _tumour_confounders(
    tissue: np.ndarray, labels: np.ndarray, spacing: float, rng: np.random.Generator, knobs: dict[str, float]
) -> None:
    """Make parts of the tumour FLAIR-iso or -dark, in place: a cystic core, an infiltrated outer edema."""
    found = np.argwhere(labels > 0)
    if len(found) == 0:
        return
    # work in the tumour's box with a margin of healthy voxels (views: the edits reach the volumes)
    box = tuple(slice(max(0, lo - 2), hi + 3) for lo, hi in zip(found.min(0), found.max(0)))
    tissue, labels = tissue[box], labels[box]
    core = (labels == 1) | (labels == 4)
    if rng.random() < knobs["cyst"] and core.any():
        cyst = _edt(core, spacing) > max(rng.uniform(2.0, 4.0), spacing)  # inside a thin enhancing rim
        tissue[cyst], labels[cyst] = CYST, 1
    edema = labels == 2
    if knobs["infiltration"] > 0 and edema.any() and core.any():
        from_core, to_edge = _edt(~core, spacing), _edt(labels > 0, spacing)
        outer = from_core / (from_core + to_edge)  # 0 at the core, 1 at the edge of the edema
        cells = max(2, int(round(max(tissue.shape) * spacing / 30)))  # undulations about 30 mm apart
        outer += 0.3 * smooth_noise(tissue.shape, cells, rng)  # an irregular, not concentric, border
        # a share of the volume, not of the thickness: the same at every resolution, however thin the edema
        share = min(1.0, knobs["infiltration"] * rng.uniform(0.6, 1.4))
        tissue[edema & (outer > np.quantile(outer[edema], 1 - share))] = INFILTRATION


def _periventricular(
    tissue: np.ndarray, free: np.ndarray, ventricles: np.ndarray, spacing: float, rng: np.random.Generator, caps: float
) -> None:
    """FLAIR-bright white matter around the lateral ventricles: caps at the horn tips, a thin rim along the walls."""
    near = _edt(~ventricles, spacing)
    y = (np.arange(tissue.shape[1], dtype=np.float32) - (tissue.shape[1] - 1) / 2)[None, :, None] * spacing
    yv = np.broadcast_to(y, tissue.shape)[ventricles]
    tips = np.clip(np.maximum(y - yv.max() + 12, yv.min() + 12 - y) / 12, 0, 1)  # 0 along the body, 1 at the tips
    reach = caps * (0.25 + 0.75 * tips) * (1 + 0.4 * smooth_noise(tissue.shape, 10, rng))
    tissue[(tissue == WM) & free & (near < reach)] = WMH


def _hyperintensities(
    tissue: np.ndarray,
    free: np.ndarray,
    depth_mm: np.ndarray,
    spacing: float,
    rng: np.random.Generator,
    mean_count: float,
) -> None:
    """Small, irregular white-matter hyperintensities scattered in the deep white matter."""
    candidates = np.argwhere((tissue == WM) & free & (depth_mm > 8))
    count = rng.poisson(mean_count)
    if count == 0 or len(candidates) == 0:
        return
    wobble = 1 + 0.3 * smooth_noise(tissue.shape, 16, rng)
    for centre in candidates[rng.integers(len(candidates), size=count)]:
        radius = max(rng.uniform(2.0, 6.0), 0.6 * spacing)
        reach = int(np.ceil(1.3 * radius / spacing))
        box = tuple(slice(max(0, c - reach), c + reach + 1) for c in centre)
        grid = np.ogrid[box]
        dist = spacing * np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
        blob = (dist < radius * wobble[box]) & (tissue[box] == WM) & free[box]
        tissue[box][blob] = WMH


def _bright_patches(
    tissue: np.ndarray, region: np.ndarray, share: float, cells: int, rng: np.random.Generator, value: int
) -> None:
    """Set the ``share`` of ``region`` where a smooth random field is highest to ``value``: a few smooth patches."""
    if share <= 0 or not region.any():
        return
    field = smooth_noise(tissue.shape, cells, rng)
    tissue[region & (field > np.quantile(field[region], 1 - share))] = value


def _healthy_confounders(
    tissue: np.ndarray, labels: np.ndarray, spacing: float, rng: np.random.Generator, knobs: dict[str, float]
) -> None:
    """Unlabelled FLAIR-bright anatomy, in place: periventricular caps, WM hyperintensities, flow, bright cortex."""
    brain = tissue != BG
    depth_mm = _edt(brain, spacing)
    free = labels == 0
    ventricles = (tissue == CSF) & (depth_mm > 25)  # sulci and fissure are shallower
    if knobs["caps"] > 0 and ventricles.any():
        _periventricular(tissue, free, ventricles, spacing, rng, knobs["caps"])
    if knobs["wmh"] > 0:
        _hyperintensities(tissue, free, depth_mm, spacing, rng, knobs["wmh"])
    _bright_patches(tissue, ventricles, knobs["flow"], 10, rng, FLOW)
    ribbon = (tissue == GM) & free & (depth_mm < 12)
    _bright_patches(tissue, ribbon, knobs["cortex"], 5, rng, BRIGHT_CORTEX)


def confound(
    tissue: np.ndarray, labels: np.ndarray, spacing: float, rng: np.random.Generator, knobs: dict[str, float]
) -> None:
    """Add the FLAIR confounders of a difficulty level to one subject, in place."""
    _tumour_confounders(tissue, labels, spacing, rng, knobs)
    _healthy_confounders(tissue, labels, spacing, rng, knobs)


def default_depth(size: int) -> int:
    return max(16, int(round(155 * size / 240)))


def subject_volumes(
    size: int,
    depth: int,
    seed: int,
    index: int,
    tumour: bool,
    modalities: Sequence[str] = ALL_MODALITIES,
    difficulty: str = DEFAULT_DIFFICULTY,
    levels: str = DEFAULT_LEVELS,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """BraTS labels and the images of ``modalities`` of subject ``index``, deterministic per (seed, index)."""
    knobs = difficulty_knobs(difficulty)
    rng = np.random.default_rng([seed, index])
    tissue, labels = subject(size, depth, rng, tumour=tumour, levels=levels)
    if any(knobs.values()):
        # a stream of its own: each level keeps the anatomy, the tumour and the noise of "easy"
        confounders = np.random.default_rng([seed, index, SYNTHETIC_CONFOUNDER_STREAM])
        confound(tissue, labels, 240.0 / size, confounders, knobs)
    return labels, {modality: render(tissue, modality, rng) for modality in modalities}


def synthesize(
    out_dir: str | Path,
    patients: int = 10,
    size: int = 240,
    depth: int | None = None,
    modalities: Sequence[str] = ALL_MODALITIES,
    seed: int = 0,
    healthy_fraction: float | None = None,
    progress: bool = True,
    difficulty: str = DEFAULT_DIFFICULTY,
    levels: str = DEFAULT_LEVELS,
) -> Path:
    """Write ``patients`` synthetic subjects in the BraTS 2021+ layout under ``out_dir`` (``healthy_fraction``:
    the share of subjects without a tumour, by default the one ``levels`` gives)."""
    import nibabel as nib

    difficulty_knobs(difficulty)  # an unknown level fails before anything is written
    if levels not in LEVELS:
        raise UserError(f"synthetic levels '{levels}': expected one of {', '.join(LEVELS)}")
    if healthy_fraction is None:
        healthy_fraction = LEVELS[levels]["healthy_fraction"]
    out_dir = Path(out_dir)
    depth = depth or default_depth(size)
    check_room(out_dir, patients * (len(modalities) + 1) * size * size * depth)
    spacing = 240.0 / size
    affine = np.diag([-spacing, -spacing, spacing, 1.0])  # LPS-like, as BraTS
    n_healthy = int(round(healthy_fraction * patients))
    with progress_bar(range(patients), "synthesising", enabled=progress) as bar:
        for i in bar:
            labels, images = subject_volumes(size, depth, seed, i, i >= n_healthy, modalities, difficulty, levels)
            pid = f"SYN-{i + 1:05d}"
            folder = out_dir / pid
            folder.mkdir(parents=True, exist_ok=True)
            for modality, image in images.items():
                with atomic_path(folder / f"{pid}-{FILE_SUFFIX[modality]}.nii.gz") as tmp:
                    nib.save(nib.Nifti1Image(image, affine), str(tmp))
            with atomic_path(folder / f"{pid}-seg.nii.gz") as tmp:
                nib.save(nib.Nifti1Image(labels, affine), str(tmp))
    lo, hi = synthetic_slice_range(depth)
    write_json(out_dir / DESCRIPTION_FILE, {"slice_range": [lo, hi], "difficulty": difficulty, "levels": levels})
    return out_dir


#: compressed bytes per voxel of a written volume, with margin (measured: about 0.6 at 64 and 128 px)
BYTES_PER_VOXEL = 1.0


def check_room(out_dir: Path, voxels: int) -> None:
    """Refuse, before anything is written, a dataset the disk under ``out_dir`` cannot hold."""
    import shutil

    need = voxels * BYTES_PER_VOXEL
    folder = next((p for p in (out_dir, *out_dir.parents) if p.exists()), Path.cwd())
    free = shutil.disk_usage(folder).free
    if need > free:
        raise UserError(
            f"{out_dir}: the synthetic dataset needs about {need / 1e9:.1f} GB and {free / 1e9:.1f} GB are free there; "
            "ask for fewer patients or a smaller size"
        )


def synthetic_root(
    cache_dir: str | Path,
    patients: int = 10,
    size: int = 64,
    seed: int = 0,
    modalities: Sequence[str] | None = None,
    difficulty: str = DEFAULT_DIFFICULTY,
    levels: str = DEFAULT_LEVELS,
) -> Path:
    """A synthetic dataset generated once into ``cache_dir`` and reused."""
    difficulty_knobs(difficulty)
    modalities = tuple(modalities or ALL_MODALITIES)
    identity: list = [GENERATOR_VERSION, patients, size, seed, sorted(modalities), difficulty]
    if levels != DEFAULT_LEVELS:  # the natural data keeps the key it always had
        identity.append(levels)
    key = hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:12]
    tag = difficulty if levels == DEFAULT_LEVELS else f"{difficulty}-{levels}"
    root = Path(cache_dir) / f"synthetic-{size}px-{patients}p-{tag}-{key}"
    if (root / ".complete").is_file():
        return root
    with atomic_folder(root, f"choose another cache folder with ${CACHE_ENV}") as tmp:
        synthesize(
            tmp, patients=patients, size=size, modalities=modalities, seed=seed, difficulty=difficulty, levels=levels
        )
        (tmp / ".complete").write_text("ok\n")
    return root


def synthetic_slice_range(depth: int) -> tuple[int, int]:
    """The synthetic counterpart of BraTS slices 60-100 of 155: the central part of the brain."""
    return int(round(depth * 0.28)), int(round(depth * 0.72))
