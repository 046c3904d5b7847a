"""Dataset layouts beyond the BraTS naming schemes.

- ``msd``: the Medical Segmentation Decathlon (Task01_BrainTumour): 4D
  images in ``imagesTr/``, channels named by ``dataset.json`` "modality",
  labels by its "labels" table, in ``labelsTr/``;
- ``nnunet``: nnU-Net raw datasets: one file per channel
  (``imagesTr/CASE_0000.nii.gz``, ...) named by ``dataset.json``
  "channel_names" (v2, with ``file_ending``) or "modality" (v1), labels by
  its "labels" table;
- ``bids``: ``sub-XX/[ses-YY/]anat/sub-XX[_ses-YY]_FLAIR.nii.gz`` (``_T1w``,
  ``_T2w``, ``_ce-gadolinium_T1w``), lesion masks from ``derivatives/``;
- ``ixi``: the IXI naming ``IXI002-Guys-0828-T2.nii.gz``.

Each layout's scanner returns :class:`~pathogan_bench.data.cases.Case`
objects (or subclasses that read a channel of a 4D file, or check labels
against the dataset's own table), so preprocessing, caching, splitting and
segmentation treat them like BraTS cases. Channel names are mapped onto the
canonical modality names ``flair``, ``t1``, ``t1c``, ``t2``; a name that
maps to none of them is refused naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ...errors import UserError
from ..cases import Case, CaseCollection, choose_modalities, require_labels, require_modalities
from .bids import scan_bids, scan_ixi
from .decathlon import DescribedCollection, Scan, description_file, scan_msd, scan_nnunet

log = logging.getLogger("pathogan_bench")

#: every axial slice: the default of layouts not named after BraTS (MSD, nnU-Net, BIDS, IXI), which hold
#: volumes of any depth; a BraTS copy in one of them reads the paper's slices with --slices 60 100
EVERY_SLICE = (0, 100_000)


def _missing_file(cases: list[Case], modalities: Sequence[str]) -> None:
    """A case lacking a modality whose file its layout names: an error naming that file."""
    for case in cases:
        expected = getattr(case, "expected", {}) or {}
        for modality in modalities:
            if modality not in case.images and modality in expected:
                raise UserError(
                    f"{expected[modality]}: file not found ({modality} of {case.patient_id}, a channel that "
                    "dataset.json names); --allow-missing-modalities skips such cases"
                )


def collect_scan(
    root: Path,
    scheme: str,
    found: Scan,
    default_slice_range: tuple[int, int] | None,
    modalities: Sequence[str] | None = None,
    *,
    allow_missing_modalities: bool = False,
    allow_unlabelled: bool = False,
    test_images: bool = False,
) -> CaseCollection:
    """What a layout's scanner ``found`` under ``root``, checked like the BraTS schemes' cases.

    ``test_images``: also read the unlabelled ``imagesTs/`` cases of an MSD
    or nnU-Net folder (kept unlabelled: segmented, never trained on or
    scored); without it they are left out, as they have no labels.
    """
    from ..cases import described_slice_range

    cases, tests = found.cases, found.tests
    if not cases and not tests:
        raise UserError(f"{root}: no cases in the {scheme} layout found (see docs/DATA.md for its folder tree)")
    chosen = choose_modalities(cases or tests, modalities or found.declared or None, root)
    if not allow_missing_modalities:
        _missing_file(cases + (tests if test_images else []), chosen)
    kept, reasons = require_modalities(cases, chosen, root, allow_missing_modalities)
    require_labels(kept, allow_unlabelled)
    if tests and (test_images or not cases):  # a folder of imagesTs/ alone is read as it is
        more, more_reasons = require_modalities(tests, chosen, root, allow_missing_modalities)
        kept, reasons = kept + more, {**reasons, **more_reasons}
    elif tests:
        log.info("%s: %d unlabelled case(s) in imagesTs/ not read (dataset option test_images)", root, len(tests))
    slice_range = described_slice_range(root) or default_slice_range
    return DescribedCollection(
        root, kept, chosen, scheme, slice_range, list(reasons), reasons, description=description_file(root, scheme)
    )


__all__ = [
    "EVERY_SLICE",
    "Scan",
    "collect_scan",
    "scan_bids",
    "scan_ixi",
    "scan_msd",
    "scan_nnunet",
]
