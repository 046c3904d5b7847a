"""Patient cases on disk: which file holds which modality, and reading them.

Each dataset plugin builds a :class:`CaseCollection` from a folder (the BraTS
naming schemes: :mod:`.brats_layouts`; the others: :mod:`.layouts`). Modalities have canonical names
``flair``, ``t1``, ``t1c`` and ``t2``.

Nothing is left out silently. The modalities read are the requested ones,
or without a request every modality found in the folder; a case that lacks
one is an error naming it, unless ``allow_missing_modalities`` is set: then
that case is skipped (the others keep every modality) and listed in
:attr:`CaseCollection.skipped` with the reason. When some cases have a
segmentation, a case without one is an error, unless ``allow_unlabelled``
is set: then it is kept unlabelled (segmented, never trained on or scored)
and listed in :attr:`CaseCollection.unlabelled`. A folder that cannot be
read is an error, never an empty result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ..errors import UserError
from .geometry import align, checked_affine

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

log = logging.getLogger("pathogan_bench")

CANONICAL = ("flair", "t1", "t1c", "t2")
ALIASES = {
    "t2f": "flair",
    "flair": "flair",
    "t1n": "t1",
    "t1": "t1",
    "t1c": "t1c",
    "t1ce": "t1c",
    "t1gd": "t1c",
    "t2w": "t2",
    "t2": "t2",
}
#: label values allowed in BraTS segmentations (3 in BraTS 2023+, 4 before)
BRATS_LABELS = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True)
class Volume:
    data: np.ndarray  # float32, (X, Y, Z)
    affine: np.ndarray  # 4 x 4
    spacing: tuple[float, float, float]


@dataclass(frozen=True)
class Case:
    """One patient: a file per modality, optionally a label file."""

    patient_id: str
    images: dict[str, Path]
    label: Path | None = None
    #: a brain mask file, when the dataset ships one
    brain_mask: Path | None = None

    def load(self, modality: str) -> Volume:
        return read_volume(self.images[modality])

    def load_all(self, modalities: Sequence[str]) -> tuple[np.ndarray, Volume]:
        """(C, X, Y, Z) float32 image stack and the first modality's volume info."""
        volumes = [self.load(m) for m in modalities]
        first = volumes[0]
        reference = self.images[modalities[0]]
        stack = [first.data]
        for m, v in zip(modalities[1:], volumes[1:]):
            data = align(self.images[m], v.data, v.affine, reference, first.affine, first.data.shape)
            if data.shape != first.data.shape:
                raise UserError(
                    f"{self.images[m]}: shape {v.data.shape} differs from "
                    f"{self.images[modalities[0]].name} {first.data.shape}"
                )
            stack.append(data)
        checked_affine(reference, first.affine)
        return np.stack(stack), first

    def align(self, path: Path, volume: Volume, reference: Path, to: Volume) -> np.ndarray:
        """``volume`` (read from ``path``) on the voxel grid of ``to`` (read from ``reference``): see geometry."""
        return align(path, volume.data, volume.affine, reference, to.affine, to.data.shape)

    def load_label(
        self, labels: frozenset[int] = BRATS_LABELS, reference: tuple[Path, Volume] | None = None
    ) -> np.ndarray | None:
        """Whole-tumour mask (label > 0), or None for an unlabelled case.

        With ``reference`` (an image file and its volume) the mask is brought
        to that image's voxel grid (see :mod:`.geometry`).
        """
        if self.label is None:
            return None
        volume = read_volume(self.label)
        values = np.unique(volume.data)
        if not np.all(np.isin(values, list(labels))):
            bad = [float(v) for v in values if v not in labels][:5]
            raise UserError(f"{self.label}: label values {bad} are outside the scheme {sorted(labels)}")
        data = volume.data if reference is None else self.align(self.label, volume, *reference)
        return data > 0


@dataclass
class CaseCollection:
    """The cases of one dataset folder and the modalities to read from them."""

    root: Path | None
    cases: list[Case]
    modalities: tuple[str, ...]
    scheme: str
    #: axial slice range used when the preprocessing config gives none
    default_slice_range: tuple[int, int] | None = (60, 100)
    #: patients left out of ``cases`` (e.g. lacking a modality with ``allow_missing_modalities``)
    skipped: list[str] = field(default_factory=list)
    #: why each patient of ``skipped`` was left out
    skip_reasons: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def unlabelled(self) -> list[str]:
        """Patients without a segmentation (kept: segmented, never trained on or scored)."""
        return [case.patient_id for case in self.cases if case.label is None]

    def fingerprint(self) -> list[tuple[str, int, int]]:
        """(path, size, mtime) of every file read, for cache keys."""
        out = []
        for case in self.cases:
            paths = [case.images[m] for m in self.modalities] + ([case.label] if case.label else [])
            for p in paths:
                st = p.stat()
                out.append((str(p.resolve()), st.st_size, int(st.st_mtime_ns)))
        return out


def read_volume(path: Path) -> Volume:
    """A 3D NIfTI volume as float32, with clear errors for bad files.

    Complex-valued images, volumes with more than three dimensions and
    volumes with NaN or infinite voxels (also those whose values do not fit
    in float32) are refused with one line naming the file.
    """
    data, affine, zooms = read_image(path)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UserError(f"{path}: expected a 3D volume, got {data.ndim}D with shape {data.shape}")
    return Volume(data, affine, zooms)


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A NIfTI image, or an ITK one (``.mha``, ``.mhd``, ``.nrrd``: see :mod:`.itk_image`), as float32 with its RAS
    affine and voxel size; the same one-line refusals for both."""
    from .itk_image import is_itk_image, read_itk_image

    if not is_itk_image(path):
        return read_nifti(path)
    data, affine, zooms = read_itk_image(path)
    check_finite(path, data)
    return data, affine, zooms


def read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Any NIfTI image as float32 with its affine and voxel size, refused in one line naming the file when it
    cannot be read, is complex-valued, or holds NaN or infinite voxels (also values beyond float32)."""
    import nibabel as nib

    try:
        img = cast("SpatialImage", nib.load(str(path)))
        dtype = np.dtype(img.get_data_dtype())
        if dtype.kind == "c":
            raise UserError(f"{path}: complex-valued image ({dtype}); expected real intensities")
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.asarray(img.dataobj, dtype=np.float32)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except PermissionError:
        raise UserError(f"{path}: cannot read the file (permission denied)") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a NIfTI file") from None
    except Exception as exc:  # nibabel raises many kinds for truncated / foreign files
        raise UserError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {_first_line(exc)})") from None
    check_finite(path, data)
    zooms = cast("tuple[float, float, float]", tuple(float(z) for z in img.header.get_zooms()[:3]))
    return data, np.asarray(img.affine, dtype=np.float64), zooms


def check_finite(path: Path, data: np.ndarray) -> None:
    """Refuses, naming ``path``, an image with NaN or infinite voxels (or values beyond float32)."""
    finite = np.isfinite(data)
    if not finite.all():
        nan = int(np.isnan(data).sum())
        inf = int((~finite).sum()) - nan
        parts = [f"{nan} NaN" if nan else "", f"{inf} infinite or beyond float32" if inf else ""]
        raise UserError(f"{path}: contains NaN or infinite values ({' and '.join(p for p in parts if p)} voxel(s))")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def choose_modalities(cases: list[Case], requested: Sequence[str] | None, root: Path | None) -> tuple[str, ...]:
    """The requested modalities (validated, canonical names), or every modality any case has."""
    if not cases:
        raise UserError(f"{root}: no cases found (empty folder or unknown naming scheme)")
    if requested:
        wanted: list[str] = []
        for name in requested:
            canonical = ALIASES.get(str(name).strip().lower())
            if canonical is None:
                raise UserError(
                    f"unknown modality '{name}' (--modalities, [data] modalities); use flair, t1, t1c or t2"
                )
            if canonical not in wanted:
                wanted.append(canonical)
        return tuple(wanted)
    found = set().union(*(case.images for case in cases))
    return tuple(m for m in CANONICAL if m in found)


def require_modalities(
    cases: list[Case], modalities: Sequence[str], root: Path | None, allow_missing: bool = False
) -> tuple[list[Case], dict[str, str]]:
    """The cases that have every modality, and why each other one is skipped (an error unless ``allow_missing``).

    With ``allow_missing`` every case may be skipped: the collection is then
    empty, and preparing slices from it fails naming the reasons.
    """
    kept, reasons = [], {}
    for case in cases:
        missing = [m for m in modalities if m not in case.images]
        if missing:
            reasons[case.patient_id] = f"modality {', '.join(missing)} missing"
        else:
            kept.append(case)
    if reasons and not allow_missing:
        first = next(c for c in cases if c.patient_id in reasons)
        more = f" (and {len(reasons) - 1} more case(s))" if len(reasons) > 1 else ""
        raise UserError(
            f"{case_folder(first)}: {reasons[first.patient_id]} for {first.patient_id}{more}; "
            f"choose --modalities, or skip such cases with --allow-missing-modalities"
        )
    for pid, reason in reasons.items():  # listed by whoever reports the collection (data prepare, run.json)
        log.info("skipping %s: %s", pid, reason)
    return kept, reasons


def require_labels(cases: list[Case], allow_unlabelled: bool = False) -> None:
    """When some cases have a segmentation, one without is an error unless ``allow_unlabelled``."""
    unlabelled = [c for c in cases if c.label is None]
    if not unlabelled or len(unlabelled) == len(cases) or allow_unlabelled:
        return
    first = unlabelled[0]
    more = f" (and {len(unlabelled) - 1} more case(s))" if len(unlabelled) > 1 else ""
    raise UserError(
        f"{case_folder(first)}: no segmentation for {first.patient_id}{more}, while "
        f"{len(cases) - len(unlabelled)} other case(s) have one; --allow-unlabelled keeps such cases "
        "unlabelled (segmented, never trained on or scored)"
    )


def case_folder(case: Case) -> Path:
    """The folder of a case's files (for messages)."""
    files = [*case.images.values(), case.label, case.brain_mask]
    return next((f.parent for f in files if f is not None), Path(case.patient_id))


#: optional description of a dataset folder, e.g. {"slice_range": [18, 46]} for volumes that are not 155 slices deep
DESCRIPTION_FILE = "dataset.json"


def described_slice_range(root: Path) -> tuple[int, int] | None:
    """The axial slice range a folder's ``dataset.json`` gives, if it has one."""
    path = root / DESCRIPTION_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        if isinstance(raw, dict) and "slice_range" not in raw and ("modality" in raw or "channel_names" in raw):
            return None  # an MSD or nnU-Net description without a slice range
        lo, hi = raw["slice_range"]
        lo, hi = int(lo), int(hi)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UserError(f'{path}: expected JSON with "slice_range": [FIRST, LAST]') from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not 0 <= lo <= hi:
        raise UserError(f"{path}: slice_range [{lo}, {hi}]: expected 0 <= FIRST <= LAST")
    return lo, hi
