"""BIDS and IXI: the usual forms of healthy cohorts (IXI, CamCAN) and of many lesion datasets.

BIDS::

    sub-01/anat/sub-01_FLAIR.nii.gz, sub-01_T1w.nii.gz, sub-01_T2w.nii.gz, sub-01_ce-gadolinium_T1w.nii.gz
    sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz                     one case per subject and session
    derivatives/lesions/sub-01/anat/sub-01_label-lesion_mask.nii.gz   (optional) lesion mask: the label
    derivatives/hdbet/sub-01/anat/sub-01_desc-brain_mask.nii.gz       (optional) brain mask

A mask is a lesion label when its entities name a lesion (``label-lesion``,
``desc-T1lesion``, ...); any non-zero voxel is lesion. ``_T1w`` with a
``ce-`` entity is T1c. Other suffixes (PD, T2star, ...) are not read.

IXI: ``IXI002-Guys-0828-T1.nii.gz``, ``-T2``, flat or in per-modality
folders (``IXI-T1/``, ``IXI-T2/``); PD, MRA and DTI are not read. IXI's raw
T1 and T2 scans are not registered to each other (sagittal and axial, of
different shapes): register them first (docs/DATA.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..cases import Case
from ..folders import put_once, walk_files
from .decathlon import LabelledCase

_ENTITY = r"(?:_[a-zA-Z]+-[a-zA-Z0-9]+)*"
BIDS_FILE = re.compile(
    rf"^(?P<sub>sub-[a-zA-Z0-9]+)(?:_(?P<ses>ses-[a-zA-Z0-9]+))?(?P<entities>{_ENTITY})_(?P<suffix>[a-zA-Z0-9]+)"
    r"\.nii(\.gz)?$"
)
#: BIDS suffix -> canonical modality (T1w with a ce- entity is t1c)
BIDS_SUFFIXES = {"FLAIR": "flair", "T1w": "t1", "T2w": "t2"}
MASK_SUFFIXES = ("mask", "dseg", "roi")


def _modality(suffix: str, entities: str) -> str | None:
    modality = BIDS_SUFFIXES.get(suffix)
    if modality == "t1" and re.search(r"_ce-", entities):
        return "t1c"
    return modality


def scan_bids(root: Path) -> list[Case]:
    """One case per subject (and session) with anatomical images; lesion masks from anywhere below ``root``."""
    images: dict[str, dict[str, Path]] = {}
    labels: dict[str, Path] = {}
    brains: dict[str, Path] = {}
    for path in walk_files(root):
        match = BIDS_FILE.match(path.name)
        if match is None:
            continue
        key = match["sub"] + (f"_{match['ses']}" if match["ses"] else "")
        entities, suffix = match["entities"], match["suffix"]
        if suffix in MASK_SUFFIXES:
            if "lesion" in entities.lower():
                put_once(labels, key, path, "lesion mask")
            elif re.search(r"_desc-brain(_|$)", entities):
                put_once(brains, key, path, "brain mask")
            continue
        modality = _modality(suffix, entities)
        if modality is None or "derivatives" in path.relative_to(root).parts[:-1]:
            continue
        put_once(images.setdefault(key, {}), modality, path, f"{suffix} image of {key}")
    return [LabelledCase(key, files, labels.get(key), brains.get(key)) for key, files in sorted(images.items())]


IXI_FILE = re.compile(r"^(?P<pid>IXI\d{3}-[A-Za-z]+-\d{3,4})[-_](?P<mod>T1|T2|PD|MRA|DTI-\d+)\.nii(\.gz)?$", re.I)
IXI_MODALITIES = {"t1": "t1", "t2": "t2"}


def scan_ixi(root: Path) -> list[Case]:
    """``IXI002-Guys-0828-T2.nii.gz`` etc. anywhere below ``root``; unlabelled (a healthy cohort)."""
    found: dict[str, dict[str, Path]] = {}
    for path in walk_files(root):
        match = IXI_FILE.match(path.name)
        if match is None or match["mod"].lower() not in IXI_MODALITIES:
            continue
        modality = IXI_MODALITIES[match["mod"].lower()]
        put_once(found.setdefault(match["pid"], {}), modality, path, f"{modality} image of {match['pid']}")
    return [LabelledCase(pid, files) for pid, files in sorted(found.items())]
