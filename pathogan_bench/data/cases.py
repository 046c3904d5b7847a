"""Patient cases on disk: which file holds which modality, and reading them.

Three BraTS naming schemes are understood; each dataset plugin builds a
:class:`CaseCollection` from a folder. Modalities have canonical names
``flair``, ``t1``, ``t1c`` and ``t2``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

log = logging.getLogger("pathogan_bench")

CANONICAL = ("flair", "t1", "t1c", "t2")
ALIASES = {"t2f": "flair", "flair": "flair", "t1n": "t1", "t1": "t1", "t1c": "t1c", "t1ce": "t1c", "t1gd": "t1c",
           "t2w": "t2", "t2": "t2"}
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
        for m, v in zip(modalities, volumes):
            if v.data.shape != first.data.shape:
                raise UserError(f"{self.images[m]}: shape {v.data.shape} differs from "
                                f"{self.images[modalities[0]].name} {first.data.shape}")
        return np.stack([v.data for v in volumes]), first

    def load_label(self, labels: frozenset[int] = BRATS_LABELS) -> np.ndarray | None:
        """Whole-tumour mask (label > 0), or None for an unlabelled case."""
        if self.label is None:
            return None
        volume = read_volume(self.label)
        values = np.unique(volume.data)
        if not np.all(np.isin(values, list(labels))):
            bad = [float(v) for v in values if v not in labels][:5]
            raise UserError(f"{self.label}: label values {bad} are outside the scheme {sorted(labels)}")
        return volume.data > 0


@dataclass
class CaseCollection:
    """The cases of one dataset folder and the modalities to read from them."""

    root: Path | None
    cases: list[Case]
    modalities: tuple[str, ...]
    scheme: str
    #: axial slice range used when the preprocessing config gives none
    default_slice_range: tuple[int, int] | None = (60, 100)
    skipped: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

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
    """A 3D NIfTI volume as float32, with clear errors for bad files."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except Exception as exc:  # nibabel raises many kinds for truncated / foreign files
        raise UserError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UserError(f"{path}: expected a 3D volume, got {data.ndim}D with shape {data.shape}")
    if not np.isfinite(data).all():
        raise UserError(f"{path}: contains NaN or infinite values")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Volume(data, np.asarray(img.affine, dtype=np.float64), zooms)  # type: ignore[arg-type]


def choose_modalities(cases: list[Case], requested: Sequence[str] | None, root: Path | None) -> tuple[str, ...]:
    """Requested modalities (validated), or every modality all cases have."""
    if not cases:
        raise UserError(f"{root}: no cases found (empty folder or unknown naming scheme)")
    if requested:
        wanted = []
        for name in requested:
            canonical = ALIASES.get(name.lower())
            if canonical is None:
                raise UserError(f"unknown modality '{name}'; use flair, t1, t1c or t2")
            wanted.append(canonical)
        for case in cases:
            missing = [m for m in wanted if m not in case.images]
            if missing:
                raise UserError(f"{_case_dir(case)}: modality {', '.join(missing)} missing for {case.patient_id}")
        return tuple(wanted)
    common = set(CANONICAL)
    for case in cases:
        common &= set(case.images)
    if not common:
        raise UserError(f"{root}: no modality is present in every case")
    return tuple(m for m in CANONICAL if m in common)


def _case_dir(case: Case) -> Path:
    return next(iter(case.images.values())).parent if case.images else Path(case.patient_id)


# -- naming schemes ----------------------------------------------------------
NII = re.compile(r"\.nii(\.gz)?$")


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and NII.search(p.name))


def scan_brats2021(root: Path) -> list[Case]:
    """``BraTS-GLI-00001-000/BraTS-GLI-00001-000-t2f.nii.gz`` (and ``-seg``); also the synthetic layout."""
    pattern = re.compile(r"^(?P<pid>.+)-(?P<mod>t1n|t1c|t2w|t2f|seg)\.nii(\.gz)?$")
    return _scan(root, pattern)


def scan_brats2017(root: Path) -> list[Case]:
    """``Brats17_XXX_1_flair.nii.gz`` etc., in HGG/LGG subfolders or flat."""
    pattern = re.compile(r"^(?P<pid>Brats\d*_.+?)_(?P<mod>flair|t1ce|t1|t2|seg)\.nii(\.gz)?$", re.IGNORECASE)
    return _scan(root, pattern)


def _scan(root: Path, pattern: re.Pattern[str]) -> list[Case]:
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.rglob("*")):
        match = pattern.match(path.name) if path.is_file() else None
        if match:
            found.setdefault(match["pid"], {})[match["mod"].lower()] = path
    cases = []
    for pid, files in sorted(found.items()):
        label = files.pop("seg", None)
        cases.append(Case(pid, {ALIASES[m]: p for m, p in files.items()}, label))
    return cases


DEEPMEDIC_FILES = {"flair": "Flair_subtrMeanDivStd", "t1c": "T1c_subtrMeanDivStd", "t1": "T1_subtrMeanDivStd",
                   "t2": "T2_subtrMeanDivStd"}


def scan_brats2013(root: Path) -> list[Case]:
    """The BraTS 2013/2015 DeepMedic layout: one folder per patient."""
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = {NII.sub("", p.name): p for p in _nifti_files(folder)}
        images = {m: files[stem] for m, stem in DEEPMEDIC_FILES.items() if stem in files}
        if images:
            cases.append(Case(folder.name, images, files.get("OTMultiClass"), files.get("brainmask")))
    return cases


SCANNERS = {"brats2021": scan_brats2021, "brats2017": scan_brats2017, "brats2013": scan_brats2013}


def detect_scheme(root: Path) -> str:
    """The naming scheme with the most cases under ``root``."""
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    counts = {name: len(scan(root)) for name, scan in SCANNERS.items()}
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    if counts[best] == 0:
        raise UserError(f"{root}: no BraTS-style NIfTI cases found (empty folder or unknown naming scheme)")
    return best


def collect(root: Path | None, scheme: str, modalities: Sequence[str] | None = None,
            default_slice_range: tuple[int, int] | None = (60, 100)) -> CaseCollection:
    if root is None or not Path(root).is_dir():
        raise UserError(f"{root}: data folder not found")
    root = Path(root)
    cases = SCANNERS[scheme](root)
    chosen = choose_modalities(cases, modalities, root)
    described = described_slice_range(root)
    return CaseCollection(root, cases, chosen, scheme, described or default_slice_range)


#: optional description of a dataset folder, e.g. {"slice_range": [18, 46]} for volumes that are not 155 slices deep
DESCRIPTION_FILE = "dataset.json"


def described_slice_range(root: Path) -> tuple[int, int] | None:
    """The axial slice range a folder's ``dataset.json`` gives, if it has one."""
    path = root / DESCRIPTION_FILE
    if not path.is_file():
        return None
    try:
        lo, hi = json.loads(path.read_text())["slice_range"]
        return int(lo), int(hi)
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: expected JSON with \"slice_range\": [FIRST, LAST]") from None
