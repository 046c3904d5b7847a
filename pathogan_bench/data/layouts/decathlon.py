"""The Medical Segmentation Decathlon and nnU-Net (v1 and v2) raw layouts, both described by a ``dataset.json``.

MSD (Task01_BrainTumour)::

    Task01_BrainTumour/dataset.json      {"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
                                          "labels": {"0": "background", "1": "edema", ...}, "training": [...]}
    Task01_BrainTumour/imagesTr/BRATS_001.nii.gz   4D: the channels along the 4th axis
    Task01_BrainTumour/labelsTr/BRATS_001.nii.gz
    Task01_BrainTumour/imagesTs/BRATS_485.nii.gz   unlabelled

nnU-Net v1 (``TaskXXX_Name``: per-channel files like v2, channels named by "modality" like MSD)::

    Task501_Glioma/dataset.json          {"modality": {"0": "FLAIR", ...}, "labels": {"0": "background", ...}}
    Task501_Glioma/imagesTr/CASE_0000.nii.gz, CASE_0001.nii.gz, ...

nnU-Net v2::

    Dataset001_BrainTumour/dataset.json  {"channel_names": {"0": "FLAIR", ...}, "labels": {"background": 0, ...},
                                          "file_ending": ".nii.gz"}
    Dataset001_BrainTumour/imagesTr/BRATS_001_0000.nii.gz, BRATS_001_0001.nii.gz, ...   one file per channel
    Dataset001_BrainTumour/labelsTr/BRATS_001.nii.gz
    Dataset001_BrainTumour/imagesTs/...

The whole tumour is every non-zero label, as for BraTS; label values the
"labels" table does not name are refused. A role filled twice (``CASE.nii``
beside ``CASE.nii.gz``, two label files of one case) is refused naming both
files. Both layouts read every axial slice unless ``--slices`` or a
"slice_range" in dataset.json says otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UserError
from ..cases import Case, CaseCollection, Volume, _first_line, read_nifti
from ..folders import NII, entries, is_file, put_once

if TYPE_CHECKING:
    pass

DESCRIPTION = "dataset.json"
#: label values accepted where a dataset has no label table (lesion masks: 0/1, 0/255, classes)
ANY_LABEL = frozenset(range(256))

#: channel names (lower case, letters and digits only) -> canonical modality
CHANNEL_NAMES = {
    "flair": "flair",
    "t2flair": "flair",
    "t2f": "flair",
    "t1": "t1",
    "t1w": "t1",
    "t1n": "t1",
    "t1native": "t1",
    "t1pre": "t1",
    "t1c": "t1c",
    "t1ce": "t1c",
    "t1gd": "t1c",
    "t1wce": "t1c",
    "t1wgd": "t1c",
    "t1post": "t1c",
    "t1contrast": "t1c",
    "cet1w": "t1c",
    "t2": "t2",
    "t2w": "t2",
}


def canonical_channel(name: str) -> str | None:
    """The canonical modality (flair, t1, t1c, t2) a channel name stands for, or None."""
    return CHANNEL_NAMES.get(re.sub(r"[^a-z0-9]", "", str(name).lower()))


@dataclass(frozen=True)
class LabelledCase(Case):
    """A case whose label values come from its dataset's own table (None: any value; non-zero is lesion)."""

    label_values: frozenset[int] | None = None
    #: the file each modality was expected in (for messages about a missing one)
    expected: dict[str, Path] = field(default_factory=dict)

    def load_label(self, labels: frozenset[int] | None = None, *args: Any, **kwargs: Any) -> np.ndarray | None:
        if labels is None:
            labels = self.label_values if self.label_values is not None else ANY_LABEL
        return Case.load_label(self, labels, *args, **kwargs)


@dataclass(frozen=True)
class ChannelCase(LabelledCase):
    """A case whose modalities are channels of one 4D file (the MSD layout)."""

    #: modality -> index along the 4th axis
    channels: dict[str, int] = field(default_factory=dict)
    #: the channel names of dataset.json, in order
    channel_names: tuple[str, ...] = ()
    description: Path | None = None

    def load(self, modality: str) -> Volume:
        return self._read()[modality]

    def load_all(self, modalities: Sequence[str]) -> tuple[np.ndarray, Volume]:
        volumes = self._read()
        stack = np.stack([volumes[m].data for m in modalities])
        return stack, volumes[modalities[0]]

    def _read(self) -> dict[str, Volume]:
        path = next(iter(self.images.values()))
        data, affine, zooms = read_channels(path, len(self.channel_names))
        if data.ndim == 3:
            data = data[..., None]
        if data.shape[3] != len(self.channel_names):
            where = self.description.name if self.description else DESCRIPTION
            raise UserError(
                f"{path}: {data.shape[3]} channel(s) along the 4th axis, while {where} names "
                f"{len(self.channel_names)} ({', '.join(self.channel_names)})"
            )
        try:
            from ..geometry import checked_affine
        except ImportError:  # pragma: no cover
            pass
        else:
            checked_affine(path, affine)
        return {m: Volume(np.ascontiguousarray(data[..., i]), affine, zooms) for m, i in self.channels.items()}


def read_channels(path: Path, n_channels: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A 3D or 4D NIfTI image as float32 (X, Y, Z[, C]), with the same one-line errors as a 3D volume."""
    data, affine, zooms = read_nifti(path)
    if data.ndim not in (3, 4):
        raise UserError(
            f"{path}: expected a 4D image of {n_channels} channel(s), got {data.ndim}D with shape {data.shape}"
        )
    return data, affine, zooms


@dataclass
class DescribedCollection(CaseCollection):
    """A collection whose reading depends on a description file, which its cache key therefore covers."""

    description: Path | None = None

    def fingerprint(self) -> list[tuple[str, int, int]]:
        out = super().fingerprint()
        if self.description is not None and self.description.is_file():
            st = self.description.stat()
            out.append((str(self.description.resolve()), st.st_size, int(st.st_mtime_ns)))
        return out


@dataclass
class Scan:
    """What a layout's scanner found."""

    cases: list[Case] = field(default_factory=list)
    #: unlabelled cases of imagesTs/
    tests: list[Case] = field(default_factory=list)
    #: the modalities the description declares, in its order (empty: none declared)
    declared: tuple[str, ...] = ()


def description_file(root: Path, scheme: str) -> Path | None:
    path = root / DESCRIPTION
    return path if scheme in ("msd", "nnunet") and path.is_file() else None


def read_description(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The folder's dataset.json as a dict, or None when it has none; unreadable JSON is an error naming it."""
    path = root / DESCRIPTION
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(
            f'{path}: not valid JSON ({_first_line(exc)}); expected an MSD or nnU-Net description, or {{"slice_range": '
            "[FIRST, LAST]}"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object")
    return path, raw


def channel_table(path: Path, table: Any, key: str) -> dict[int, tuple[str, str]]:
    """Channel index -> (name in the file, canonical modality); unknown or repeated names are errors."""
    if not isinstance(table, dict) or not table:
        raise UserError(f'{path}: "{key}" must map channel numbers to names, e.g. {{"0": "FLAIR", "1": "T1w"}}')
    out: dict[int, tuple[str, str]] = {}
    seen: dict[str, str] = {}
    for index, name in table.items():
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise UserError(f'{path}: "{key}" has channel number {index!r}; expected 0, 1, ...') from None
        modality = canonical_channel(name)
        if modality is None:
            raise UserError(
                f'{path}: channel {i} "{name}" of "{key}" is none of the MRI modalities read '
                "(FLAIR, T1w, T1gd/T1ce, T2w); rename it or convert the dataset"
            )
        if modality in seen:
            raise UserError(f'{path}: channels "{seen[modality]}" and "{name}" of "{key}" both name {modality}')
        seen[modality] = str(name)
        out[i] = (str(name), modality)
    if sorted(out) != list(range(len(out))):
        raise UserError(f'{path}: "{key}" numbers its channels {sorted(out)}; expected 0 to {len(out) - 1}')
    return dict(sorted(out.items()))


def label_values(path: Path, table: Any) -> frozenset[int]:
    """The label values of a "labels" table: {"0": "background", ...} (MSD) or {"background": 0, ...} (nnU-Net)."""
    if table is None:
        raise UserError(f'{path}: no "labels" table')
    if not isinstance(table, dict):
        raise UserError(f'{path}: "labels" must be a JSON object')
    values = {0}

    def add(value: Any) -> None:
        if isinstance(value, list):  # nnU-Net regions: {"whole tumor": [1, 2, 3]}
            for v in value:
                add(v)
            return
        try:
            values.add(int(value))
        except (TypeError, ValueError):
            raise UserError(f'{path}: "labels" value {value!r} is not a label number') from None

    for key, value in table.items():
        add(key if isinstance(value, str) else value)
    return frozenset(values)


def _nifti(folder: Path) -> list[Path]:
    """The NIfTI files of a folder (broken symbolic links included, so a reader names them), without macOS
    resource forks (``._BRATS_001.nii.gz``)."""
    if not folder.is_dir():
        return []
    return [
        Path(e.path)
        for e in entries(folder)
        if (is_file(e) or e.is_symlink()) and not e.name.startswith(".") and NII.search(e.name) is not None
    ]


def scan_msd(root: Path) -> Scan:
    """MSD: 4D images in imagesTr/ (and imagesTs/), channels named by dataset.json "modality"."""
    found = read_description(root)
    if (
        found is None
        or "modality" not in found[1]
        or not (root / "imagesTr").is_dir()
        and not (root / "imagesTs").is_dir()
    ):
        return Scan()
    path, desc = found
    table = channel_table(path, desc["modality"], "modality")
    if _per_channel_files(root, len(table)):  # nnU-Net v1: read by scan_nnunet
        return Scan()
    labels = label_values(path, desc.get("labels"))
    names = tuple(name for name, _ in table.values())
    channels = {modality: i for i, (_, modality) in table.items()}
    listed = desc.get("training")
    if isinstance(listed, list):  # every image the description lists must be there
        for item in listed:
            image = item.get("image") if isinstance(item, dict) else None
            if isinstance(image, str) and not (root / image).is_file():
                raise UserError(f'{(root / image).resolve()}: file not found (listed in {path.name} "training")')

    def cases(folder: str, labelled: bool) -> list[Case]:
        out: list[Case] = []
        images: dict[str, Path] = {}
        for image in _nifti(root / folder):
            put_once(images, NII.sub("", image.name), image, f"image of {NII.sub('', image.name)}")
        for pid, image in sorted(images.items()):
            label = label_file(root, pid) if labelled else None
            out.append(
                ChannelCase(
                    pid,
                    {m: image for m in channels},
                    label,
                    label_values=labels,
                    channels=channels,
                    channel_names=names,
                    description=path,
                )
            )
        return out

    return Scan(cases("imagesTr", True), cases("imagesTs", False), tuple(channels))


CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})\.nii(\.gz)?$")


def _per_channel_files(root: Path, n_channels: int) -> bool:
    """Whether imagesTr/ (or imagesTs/) holds one file per channel (CASE_0000.nii.gz: nnU-Net), not 4D images (MSD)."""
    names = [p.name for folder in ("imagesTr", "imagesTs") for p in _nifti(root / folder)]
    matches = [CHANNEL_FILE.match(name) for name in names]
    return bool(names) and all(m is not None and int(m["channel"]) < n_channels for m in matches)


def label_file(root: Path, pid: str) -> Path | None:
    """labelsTr/PID.nii.gz (or .nii); both present is refused naming them."""
    found: dict[str, Path] = {}
    for ending in (".nii.gz", ".nii"):
        candidate = root / "labelsTr" / f"{pid}{ending}"
        if candidate.is_file() or candidate.is_symlink():
            put_once(found, pid, candidate, f"segmentation of {pid}")
    return found.get(pid)


def scan_nnunet(root: Path) -> Scan:
    """nnU-Net raw data: imagesTr/CASE_XXXX<file_ending>, one file per channel named by dataset.json
    "channel_names" (v2) or "modality" (v1, whose files always end in .nii.gz)."""
    found = read_description(root)
    if found is None:
        return Scan()
    path, desc = found
    if "channel_names" in desc:
        key = "channel_names"
    elif "modality" in desc and _per_channel_files(
        root, len(desc["modality"]) if isinstance(desc["modality"], dict) else 0
    ):
        key = "modality"
    else:
        return Scan()
    table = channel_table(path, desc[key], key)
    labels = label_values(path, desc.get("labels"))
    ending = desc.get("file_ending", ".nii.gz") if key == "channel_names" else ".nii.gz"
    if ending not in (".nii.gz", ".nii"):
        raise UserError(f'{path}: "file_ending" {ending!r}: only NIfTI (.nii.gz, .nii) is read; convert the images')

    def cases(folder: str, labelled: bool) -> list[Case]:
        files: dict[str, dict[str, Path]] = {}
        for image in _nifti(root / folder):
            match = CHANNEL_FILE.match(image.name)
            if match is None:
                raise UserError(f"{image}: not named CASE_XXXX{ending} (XXXX: the channel number of {path.name})")
            channel = int(match["channel"])
            if channel not in table:
                raise UserError(
                    f'{image}: channel {channel} is not in "{key}" of {path} '
                    f"(channels 0 to {len(table) - 1}: {', '.join(n for n, _ in table.values())})"
                )
            name = table[channel][0]
            put_once(files.setdefault(match["case"], {}), table[channel][1], image, f"{name} image of {match['case']}")
        out: list[Case] = []
        for pid, images in sorted(files.items()):
            label = label_file(root, pid) if labelled else None
            expected = {m: root / folder / f"{pid}_{i:04d}{ending}" for i, (_, m) in table.items()}
            out.append(
                LabelledCase(
                    pid,
                    images,
                    label,
                    label_values=labels,
                    expected=expected,
                )
            )
        return out

    return Scan(cases("imagesTr", True), cases("imagesTs", False), tuple(m for _, m in table.values()))
