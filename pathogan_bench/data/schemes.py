"""Which layout a dataset folder uses, and reading its cases: the BraTS naming schemes of :mod:`.cases` and the
layouts of :mod:`.layouts` (MSD, nnU-Net, BIDS, IXI)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from .cases import (
    SCANNERS,
    CaseCollection,
    choose_modalities,
    described_slice_range,
    require_labels,
    require_modalities,
)
from .layouts import LAYOUTS, collect_layout, count_cases


def detect_scheme(root: Path) -> str:
    """The naming scheme with the most cases under ``root``."""
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    counts = {name: len(scan(root)) for name, scan in SCANNERS.items()}
    counts.update(count_cases(root))
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    if counts[best] == 0:
        raise UserError(
            f"{root}: no BraTS-style NIfTI cases found, nor MSD, nnU-Net, BIDS or IXI ones "
            "(empty folder or unknown naming scheme)"
        )
    return best


def collect(
    root: Path | None,
    scheme: str,
    modalities: Sequence[str] | None = None,
    default_slice_range: tuple[int, int] | None = (60, 100),
    *,
    allow_missing_modalities: bool = False,
    allow_unlabelled: bool = False,
    **layout_options: Any,
) -> CaseCollection:
    """The cases of ``root`` in a naming scheme, checked for missing modalities and segmentations.

    The schemes of :mod:`.layouts` (``msd``, ``nnunet``, ``bids``, ``ixi``)
    are read by that package, with ``layout_options`` (``test_images``).

    ``allow_missing_modalities``: skip (and list in ``skipped``) a case that
    lacks one of the modalities instead of failing. ``allow_unlabelled``:
    keep a case without a segmentation, while others have one, unlabelled
    instead of failing.
    """
    if root is None or not Path(root).exists():
        raise UserError(f"{root}: data folder not found")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if scheme in LAYOUTS:
        return collect_layout(
            root,
            scheme,
            modalities,
            allow_missing_modalities=allow_missing_modalities,
            allow_unlabelled=allow_unlabelled,
            **layout_options,
        )
    if scheme not in SCANNERS:
        raise UserError(f"unknown naming scheme '{scheme}'; use {', '.join([*SCANNERS, *LAYOUTS])}")
    cases = SCANNERS[scheme](root)
    chosen = choose_modalities(cases, modalities, root)
    kept, reasons = require_modalities(cases, chosen, root, allow_missing_modalities)
    require_labels(kept, allow_unlabelled)
    described = described_slice_range(root)
    return CaseCollection(root, kept, chosen, scheme, described or default_slice_range, list(reasons), reasons)
