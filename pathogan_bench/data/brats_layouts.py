"""The BraTS naming schemes: 2017-2020 (``Brats17_XXX_1_flair.nii.gz``), 2021 and later
(``BraTS-GLI-00001-000-t2f.nii.gz``), the 2013/2015 DeepMedic folders and the 2012-2015 MetaImage releases; each
scanner turns a folder into :class:`~pathogan_bench.data.cases.Case` objects."""

from __future__ import annotations

import re
from pathlib import Path

from .cases import ALIASES, Case
from .folders import NII, entries, is_dir, nifti_files, put_once, walk_files


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
    for path in sorted(walk_files(root)):
        match = pattern.match(path.name)
        if match:
            role = "segmentation" if match["mod"].lower() == "seg" else f"{match['mod']} image"
            put_once(found.setdefault(match["pid"], {}), match["mod"].lower(), path, f"{role} of {match['pid']}")
    cases = []
    for pid, files in sorted(found.items()):
        label = files.pop("seg", None)
        cases.append(Case(pid, {ALIASES[m]: p for m, p in files.items()}, label))
    return cases


DEEPMEDIC_FILES = {
    "flair": "Flair_subtrMeanDivStd",
    "t1c": "T1c_subtrMeanDivStd",
    "t1": "T1_subtrMeanDivStd",
    "t2": "T2_subtrMeanDivStd",
}


def scan_brats2013(root: Path) -> list[Case]:
    """The BraTS 2013/2015 DeepMedic layout: one folder per patient."""
    cases = []
    for folder in (Path(e.path) for e in entries(root) if is_dir(e)):
        files: dict[str, Path] = {}
        for path in nifti_files(folder):
            put_once(files, NII.sub("", path.name), path, f"{NII.sub('', path.name)} file of {folder.name}")
        images = {m: files[stem] for m, stem in DEEPMEDIC_FILES.items() if stem in files}
        if images:
            cases.append(Case(folder.name, images, files.get("OTMultiClass"), files.get("brainmask")))
    return cases


#: the BraTS 2012-2015 releases: BRATS_HG0001/VSD.Brain.XX.O.MR_Flair.54512/VSD.Brain.XX.O.MR_Flair.54512.mha
NATIVE_FILE = re.compile(
    r"^VSD\.Brain(?:_\d+more)?\.XX\.[A-Z]+\.(?P<mod>MR_Flair|MR_T1c|MR_T1|MR_T2|OT)\.\d+\.mha$", re.IGNORECASE
)
NATIVE_MODALITIES = {"mr_flair": "flair", "mr_t1": "t1", "mr_t1c": "t1c", "mr_t2": "t2", "ot": "seg"}


def scan_brats2012(root: Path) -> list[Case]:
    """The BraTS 2012-2015 releases as distributed (MetaImage files, one folder per image): a case is the folder
    holding the ``VSD.Brain...`` folders; ``OT`` is the segmentation."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(walk_files(root)):
        match = NATIVE_FILE.match(path.name)
        if match is None:
            continue
        folder = path.parent.parent if path.parent.name.lower().startswith("vsd.") else path.parent
        role = NATIVE_MODALITIES[match["mod"].lower()]
        what = "segmentation (OT)" if role == "seg" else f"{match['mod']} image"
        put_once(found.setdefault(folder.name, {}), role, path, f"{what} of {folder.name}")
    cases = []
    for pid, files in sorted(found.items()):
        label = files.pop("seg", None)
        cases.append(Case(pid, files, label))
    return cases
