"""The anatomy of a synthetic subject: tissue classes on a 3D grid (a folded cortex, white matter, deep grey nuclei,
ventricles), a glioma with mass effect, and how each modality renders the tissues (contrast, bias field,
partial-volume blur, Rician noise). Deterministic for a given random generator."""

from __future__ import annotations

import numpy as np

from .synthetic_knobs import DEFAULT_LEVELS, LEVELS

# tissue classes
BG, CSF, GM, WM, NECROSIS, EDEMA, ENHANCING = range(7)
# ... and those of the FLAIR confounders (difficulty "standard" and "hard"): a fluid-filled tumour core, infiltrated
# tissue at the edge of the edema, white-matter hyperintensities, CSF with a flow artefact, FLAIR-bright cortex
CYST, INFILTRATION, WMH, FLOW, BRIGHT_CORTEX = range(7, 12)
#: intensity of each tissue class per modality (BG, CSF, GM, WM, necrosis, edema, enhancing,
#: cyst, infiltration, WM hyperintensity, flow artefact, bright cortex)
CONTRAST = {
    "t1": np.array([0.0, 0.22, 0.58, 0.84, 0.28, 0.50, 0.55, 0.20, 0.50, 0.76, 0.22, 0.57]),
    "t1c": np.array([0.0, 0.24, 0.60, 0.84, 0.26, 0.52, 1.35, 0.20, 0.52, 0.76, 0.24, 0.59]),
    "t2": np.array([0.0, 1.00, 0.62, 0.42, 0.92, 0.84, 0.70, 1.00, 0.84, 0.76, 1.00, 0.70]),
    "flair": np.array([0.0, 0.10, 0.62, 0.46, 0.55, 1.05, 0.80, 0.30, 0.66, 1.00, 0.85, 0.88]),
}


def smooth_noise(shape: tuple[int, ...], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field with about ``cells`` oscillations per axis, unit std."""
    import torch
    import torch.nn.functional as F
    from scipy import ndimage

    coarse = rng.standard_normal(tuple(max(2, int(cells * s / max(shape)) + 2) for s in shape)).astype(np.float32)
    coarse = ndimage.gaussian_filter(coarse, 0.7, mode="wrap")  # smooth before the (linear) upsampling
    upsampled = F.interpolate(torch.from_numpy(coarse)[None, None], size=shape, mode="trilinear", align_corners=True)
    field = upsampled[0, 0].numpy()
    return (field - field.mean()) / (field.std() + 1e-8)


def _grid(shape: tuple[int, int, int], spacing: float) -> list[np.ndarray]:
    """Physical coordinates in mm, centred."""
    return [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * spacing for n in shape]


def subject(
    size: int, depth: int, rng: np.random.Generator, tumour: bool, levels: str = DEFAULT_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """Tissue classes (X, Y, Z) and BraTS labels for one subject (``levels``: where tumours lie, see LEVELS)."""
    spacing = 240.0 / size
    shape = (size, size, depth)
    x, y, z = np.meshgrid(*_grid(shape, spacing), indexing="ij")
    z = z + 8.0  # the axial range of interest sits a little above the brain's centre
    tissue, brain, depth_mm = _anatomy(x, y, z, spacing, rng)
    labels = np.zeros(shape, np.uint8)
    if not tumour:
        return tissue, labels
    return _with_tumour(tissue, labels, brain, depth_mm, (x, y, z), spacing, rng, levels)


def _anatomy(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, spacing: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue classes of a healthy brain on the grid (x, y, z) in mm, its brain mask and depth below the surface."""
    from scipy import ndimage

    shape, size = x.shape, x.shape[0]
    # brain: an ellipsoid (radii in mm, varied per subject) with a bumpy, lobed outline
    ax, ay, az = rng.uniform(62, 70), rng.uniform(78, 88), rng.uniform(62, 70)
    bump = smooth_noise(shape, 5, rng)
    r = np.sqrt(
        (x / ax) ** 2 + (y / ay) ** 2 + (np.maximum(z, -30) / az) ** 2 + 0.5 * (np.minimum(z + 30, 0) / az) ** 2
    )
    lobes = 0.04 * np.cos(2.5 * np.arctan2(y, x))  # frontal/occipital poles and temporal bulges
    brain = r < 1.0 + 0.035 * bump + lobes
    depth_mm = ndimage.distance_transform_edt(brain, sampling=spacing).astype(np.float32)

    # cortex: grey matter whose inner boundary folds deeply (gyri), cut by thin CSF-filled sulci
    folds = smooth_noise(shape, max(6, size // 7), rng)
    gm_depth = 2.5 + 5.5 * np.clip(folds + 0.4, 0, None)
    tissue = np.full(shape, BG, np.int8)
    tissue[brain] = WM
    tissue[brain & (depth_mm < gm_depth)] = GM
    sulci = brain & (np.abs(folds - 0.5) < 0.09) & (depth_mm < gm_depth - 1.5)
    tissue[sulci] = CSF
    fissure = (np.abs(x) < max(1.0, 0.6 * spacing)) & (depth_mm < 22) & (np.abs(y) > 40)
    tissue[brain & fissure] = CSF  # interhemispheric fissure, front and back
    tissue[brain & (depth_mm < min(1.5, spacing))] = CSF  # subarachnoid rim

    # deep grey nuclei (thalamus, basal ganglia) and the lateral + third ventricles
    for side in (-1, 1):
        for cx, cy, cz, rx, ry, rz in ((12, -4, 0, 10, 14, 10), (22, 14, 2, 7, 14, 10)):
            blob = ((x - side * cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 < 1
            tissue[blob & brain] = GM
    vsize = rng.uniform(0.8, 1.3)
    for side in (-1, 1):
        # a curved horn: body along y, tilted upward towards the back
        body = ((x - side * (5 + 0.06 * y)) / (4.0 * vsize)) ** 2 + ((y - 4) / (30 * vsize)) ** 2 + (
            (z - 10 - 0.004 * y**2) / (7 * vsize)
        ) ** 2 < 1
        tissue[body & brain] = CSF
    third = (np.abs(x) < 1.2 * vsize + 0.5 * spacing) & (np.abs(y + 2) < 14) & (np.abs(z + 2) < 9)
    tissue[third & brain] = CSF
    return tissue, brain, depth_mm


def _with_tumour(
    tissue: np.ndarray,
    labels: np.ndarray,
    brain: np.ndarray,
    depth_mm: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    spacing: float,
    rng: np.random.Generator,
    levels: str,
) -> tuple[np.ndarray, np.ndarray]:
    """A glioma grown into the white matter of one hemisphere: mass effect, then oedema, core and necrosis."""
    from scipy import ndimage

    x, y, z = grid
    shape, size, depth = x.shape, x.shape[0], x.shape[2]
    # tumour: centre in the white matter of one hemisphere, not too close to the surface
    placement = LEVELS[levels]
    candidates = np.argwhere((tissue == WM) & (depth_mm > 22) & (np.abs(z) < placement["band"]))
    if len(candidates) == 0:
        return tissue, labels
    c = candidates[rng.integers(len(candidates))]
    cx, cy, cz = x[tuple(c)], y[tuple(c)], z[tuple(c)]
    radius = rng.uniform(placement["radius_lo"], placement["radius_hi"])  # tumour core radius in mm
    dx, dy, dz = x - cx, y - cy, z - cz
    dist = np.sqrt(dx**2 + dy**2 + dz**2) + 1e-6

    # mass effect: pull tissue from closer to the centre, i.e. push anatomy outward
    push = radius * 0.9 * np.exp(-((dist / (2.2 * radius)) ** 2))
    src = [
        (g - push * d / dist) / spacing + (n - 1) / 2
        for g, d, n in ((x, dx, size), (y, dy, size), (z - 8.0, dz, depth))
    ]
    tissue = ndimage.map_coordinates(tissue, src, order=0, mode="nearest").astype(np.int8)
    tissue[~brain] = BG

    shape_noise = smooth_noise(shape, 14, rng)
    rel = dist / (radius * (1 + 0.3 * shape_noise))
    core = brain & (rel < 1.0)
    necrosis = brain & (rel < rng.uniform(0.35, 0.65))
    edema_reach = rng.uniform(1.6, 2.4) * (1 + 0.35 * smooth_noise(shape, 10, rng))
    edema = brain & (rel < edema_reach) & ~core & ((tissue == WM) | (tissue == GM) & (rel < 1.5))
    tissue[edema] = EDEMA
    tissue[core] = ENHANCING
    tissue[necrosis] = NECROSIS
    labels[edema] = 2
    labels[core] = 4
    labels[necrosis] = 1
    return tissue, labels


def render(tissue: np.ndarray, modality: str, rng: np.random.Generator, noise: float = 0.025) -> np.ndarray:
    """MR intensities of one modality: contrast, texture, partial volume, bias field, Rician noise."""
    from scipy import ndimage

    shape = tissue.shape
    image = CONTRAST[modality][tissue].astype(np.float32)
    image *= 1 + 0.05 * smooth_noise(shape, max(12, shape[0] // 5), rng)  # tissue heterogeneity
    image = ndimage.gaussian_filter(image, 0.6)  # partial volume
    image *= np.exp(0.12 * smooth_noise(shape, 2, rng))  # coil bias field
    real = image + rng.normal(0, noise, shape)
    imag = rng.normal(0, noise, shape)
    image = np.sqrt(real**2 + imag**2).astype(np.float32)  # Rician magnitude
    image[tissue == BG] = 0  # skull stripped
    return image * 1000
