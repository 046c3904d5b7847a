"""Small dataset folders in the MSD, nnU-Net, BIDS and IXI layouts, built from a real brain.

The anatomy is nibabel's own small structural scan (``anatomical.nii``,
33 x 41 x 25 voxels of 2 mm, LAS) when the installed nibabel ships it, else
a synthetic head of the same size. Four contrasts are derived from it and
lesions are painted in where asked: a sphere of label 1 (edema) around a
core of 2 and 3, as in the Decathlon's brain tumour labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
ANATOMICAL = NIBABEL_DATA / "anatomical.nii"
SHAPE = (33, 41, 25)
#: the MSD Task01 channel names, in its order
MSD_CHANNELS = ("FLAIR", "T1w", "t1gd", "T2w")
MSD_LABELS = {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}


def real_anatomy() -> tuple[np.ndarray, np.ndarray]:
    """nibabel's anatomical.nii as float32 and its affine; skips the test when this nibabel lacks it."""
    if not ANATOMICAL.is_file():
        pytest.skip(f"this nibabel build lacks {ANATOMICAL.name}")
    img = nib.load(str(ANATOMICAL))
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(img.affine)


def anatomy() -> tuple[np.ndarray, np.ndarray]:
    """The real anatomy when available, else a synthetic head of the same grid (2 mm, LAS)."""
    if ANATOMICAL.is_file():
        return real_anatomy()
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE), indexing="ij")
    head = ((x**2 + y**2 + z**2) < 0.8).astype(np.float32)
    data = head * (1000 + 300 * np.sin(6 * x) * np.cos(5 * y))
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    return data.astype(np.float32), affine


def lesion(center: tuple[int, int, int], radius: float = 4.0) -> np.ndarray:
    """Labels 0-3: edema (1) around non-enhancing (2) and enhancing (3) tumour."""
    grid = np.indices(SHAPE).astype(np.float32)
    r = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, center)))
    seg = np.zeros(SHAPE, np.uint8)
    seg[r <= radius] = 1
    seg[r <= radius * 0.6] = 3
    seg[r <= radius * 0.3] = 2
    return seg


#: lesion centres of the cases (None: tumour-free)
CENTRES: tuple[tuple[int, int, int] | None, ...] = ((16, 20, 12), (12, 26, 14), None, (20, 15, 10))


def contrasts(seg: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """FLAIR, T1, T1c and T2 derived from the anatomy; a lesion brightens FLAIR and T2, its rim T1c."""
    t1, _ = anatomy()
    head = t1 > np.percentile(t1, 20)
    top = float(t1.max())
    t2 = np.where(head, top - t1, 0).astype(np.float32)
    out = {"flair": 0.5 * t1 + 0.5 * t2, "t1": t1.copy(), "t1c": t1.copy(), "t2": t2}
    if seg is not None:
        out["flair"][seg > 0] += 0.8 * top
        out["t2"][seg > 0] += 0.6 * top
        out["t1c"][seg == 3] += 0.7 * top
        out["t1"][seg > 0] *= 0.6
    return {k: v.astype(np.float32) for k, v in out.items()}


def save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, anatomy()[1] if affine is None else affine), str(path))
    return path


def _order(names: tuple[str, ...]) -> list[str]:
    canon = {"flair": "flair", "t1w": "t1", "t1gd": "t1c", "t2w": "t2", "t1": "t1", "t2": "t2", "t1c": "t1c"}
    return [canon[n.lower()] for n in names]


def msd(
    root: Path, n: int = 4, n_test: int = 1, channels: tuple[str, ...] = MSD_CHANNELS, slice_range: bool = True
) -> Path:
    """Task01_BrainTumour in small: 4D imagesTr/BRATS_00i.nii.gz, labelsTr/, imagesTs/, dataset.json."""
    training = []
    for i in range(1, n + n_test + 1):
        centre = CENTRES[(i - 1) % len(CENTRES)]
        seg = lesion(centre) if centre else np.zeros(SHAPE, np.uint8)
        volumes = contrasts(seg)
        stack = np.stack([volumes[m] for m in _order(channels)], axis=-1)
        name = f"BRATS_{i:03d}.nii.gz"
        if i <= n:
            save(root / "imagesTr" / name, stack)
            save(root / "labelsTr" / name, seg)
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            save(root / "imagesTs" / name, stack)
    description = {
        "name": "BRATS",
        "tensorImageSize": "4D",
        "modality": {str(i): c for i, c in enumerate(channels)},
        "labels": MSD_LABELS,
        "numTraining": n,
        "training": training,
        "test": [f"./imagesTs/BRATS_{i:03d}.nii.gz" for i in range(n + 1, n + n_test + 1)],
    }
    if slice_range:  # not in the Decathlon's file; every slice is the default anyway
        description["slice_range"] = [0, SHAPE[2] - 1]
    (root / "dataset.json").write_text(json.dumps(description, indent=1))
    return root


def nnunet(root: Path, n: int = 4, channels: tuple[str, ...] = MSD_CHANNELS, n_test: int = 0, version: int = 2) -> Path:
    """An nnU-Net raw dataset: imagesTr/CASE_XXXX.nii.gz per channel, labelsTr/CASE.nii.gz, dataset.json (v2:
    "channel_names" and "file_ending"; v1: "modality" and a "training" list naming each case without channel)."""
    for i in range(1, n + n_test + 1):
        centre = CENTRES[(i - 1) % len(CENTRES)]
        seg = lesion(centre) if centre else np.zeros(SHAPE, np.uint8)
        volumes = contrasts(seg)
        folder = "imagesTr" if i <= n else "imagesTs"
        for c, modality in enumerate(_order(channels)):
            save(root / folder / f"BRATS_{i:03d}_{c:04d}.nii.gz", volumes[modality])
        if i <= n:
            save(root / "labelsTr" / f"BRATS_{i:03d}.nii.gz", seg)
    description: dict = {
        "channel_names": {str(i): c for i, c in enumerate(channels)},
        "labels": {"background": 0, "edema": 1, "non_enhancing": 2, "enhancing": 3},
        "numTraining": n,
        "file_ending": ".nii.gz",
    }
    if version == 1:
        description = {
            "name": "BRATS",
            "modality": {str(i): c for i, c in enumerate(channels)},
            "labels": MSD_LABELS,
            "numTraining": n,
            "training": [
                {"image": f"./imagesTr/BRATS_{i:03d}.nii.gz", "label": f"./labelsTr/BRATS_{i:03d}.nii.gz"}
                for i in range(1, n + 1)
            ],
        }
    (root / "dataset.json").write_text(json.dumps(description, indent=1))
    return root


def bids(root: Path, n: int = 3, lesions: bool = True, sessions: bool = True) -> Path:
    """sub-0i/[ses-1/]anat/sub-0i[_ses-1]_FLAIR/_T1w/_T2w/_ce-gadolinium_T1w.nii.gz; lesion masks in derivatives/."""
    suffixes = {"flair": "FLAIR", "t1": "T1w", "t1c": "ce-gadolinium_T1w", "t2": "T2w"}
    for i in range(1, n + 1):
        sub = f"sub-{i:02d}"
        ses = "ses-1" if sessions and i % 2 else ""
        key = f"{sub}_{ses}" if ses else sub
        anat = root / sub / ses / "anat" if ses else root / sub / "anat"
        centre = CENTRES[(i - 1) % len(CENTRES)] if lesions else None
        seg = lesion(centre) if centre else np.zeros(SHAPE, np.uint8)
        for modality, volume in contrasts(seg if lesions else None).items():
            save(anat / f"{key}_{suffixes[modality]}.nii.gz", volume)
        if lesions:
            deriv = root / "derivatives" / "lesions" / sub / (ses or "") / "anat"
            save(deriv / f"{key}_label-lesion_mask.nii.gz", (seg > 0).astype(np.uint8))
    (root / "dataset_description.json").write_text(json.dumps({"Name": "tiny", "BIDSVersion": "1.8.0"}))
    return root


def ixi(root: Path, n: int = 3, affine: np.ndarray | None = None) -> Path:
    """IXI00i-Guys-08xx-T1/-T2.nii.gz in per-modality folders (registered: one grid), healthy."""
    volumes = contrasts()
    for i in range(1, n + 1):
        pid = f"IXI{i:03d}-Guys-{800 + i:04d}"
        save(root / "IXI-T1" / f"{pid}-T1.nii.gz", volumes["t1"], affine)
        save(root / "IXI-T2" / f"{pid}-T2.nii.gz", volumes["t2"], affine)
        save(root / "IXI-PD" / f"{pid}-PD.nii.gz", volumes["t2"], affine)
    return root


#: the BraTS 2012-2015 releases' folder names per modality (the number is the SMIR object id)
NATIVE_NAMES = {
    "flair": "VSD.Brain.XX.O.MR_Flair.{id}",
    "t1": "VSD.Brain.XX.O.MR_T1.{id}",
    "t1c": "VSD.Brain.XX.O.MR_T1c.{id}",
    "t2": "VSD.Brain.XX.O.MR_T2.{id}",
    "seg": "VSD.Brain_3more.XX.O.OT.{id}",
}


def brats2012(root: Path, n: int = 3) -> Path:
    """The BraTS 2012-2015 release layout in small: HGG/brats_2013_pat000i_1/VSD.Brain.XX.O.MR_Flair.N/*.mha.

    Written with SimpleITK from the same anatomy (its LPS geometry from the NIfTI's RAS affine), so that a reader
    can be checked against the NIfTI copy; skips the test without SimpleITK.
    """
    sitk = pytest.importorskip("SimpleITK")
    _, affine = anatomy()
    flip = np.diag([-1.0, -1.0, 1.0])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = flip @ affine[:3, :3] / spacing
    for i in range(1, n + 1):
        centre = CENTRES[(i - 1) % len(CENTRES)]
        seg = lesion(centre) if centre else np.zeros(SHAPE, np.uint8)
        volumes = {**contrasts(seg), "seg": seg}
        case = root / "HGG" / f"brats_2013_pat{i:04d}_1"
        for j, (role, pattern) in enumerate(NATIVE_NAMES.items()):
            name = pattern.format(id=1000 * i + j)
            image = sitk.GetImageFromArray(np.transpose(volumes[role]))
            image.SetSpacing(tuple(float(v) for v in spacing))
            image.SetDirection(tuple(float(v) for v in direction.ravel()))
            image.SetOrigin(tuple(float(v) for v in flip @ affine[:3, 3]))
            (case / name).mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(image, str(case / name / f"{name}.mha"))
    return root
