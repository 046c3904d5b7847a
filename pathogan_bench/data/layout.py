"""A dataset layout as a plugin implements it: ``scan(root)`` finds the cases; the base class reads them with every
check the toolkit makes (requested and missing modalities, missing segmentations, the slice range a folder
describes) and counts them for ``--dataset auto`` (pathogan_bench.contracts.dataset). docs/PLUGINS.md has a
complete layout in one file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from .cases import Case, CaseCollection, choose_modalities, described_slice_range, require_labels, require_modalities
from .layouts import EVERY_SLICE, Scan, collect_scan

#: the paper's axial slices of a 155-slice BraTS volume
BRATS_SLICES = (60, 100)


class Layout:
    """Base of a dataset layout; a subclass states its ``name`` and implements :meth:`scan`."""

    #: the registry name (``--dataset NAME``)
    name: ClassVar[str] = ""
    #: the axial slices read when neither the run nor the folder's dataset.json says (BraTS: the paper's 60-100)
    default_slice_range: ClassVar[tuple[int, int] | None] = EVERY_SLICE

    def scan(self, root: Path) -> list[Case] | Scan:
        """The cases under ``root`` in this layout (none when the folder is not in it)."""
        raise NotImplementedError

    def count_cases(self, root: Path) -> int:
        """How many cases :meth:`scan` finds under ``root`` (for ``--dataset auto``)."""
        found = self._scanned(root)
        return len(found.cases) + len(found.tests)

    def __call__(
        self,
        root: Path | None,
        modalities: Sequence[str] | None = None,
        allow_missing_modalities: bool = False,
        allow_unlabelled: bool = False,
        test_images: bool = False,
        **options: Any,
    ) -> CaseCollection:
        """The checked cases of ``root`` (``options`` the reader does not use are ignored)."""
        root = checked_root(root)
        return collect_scan(
            root,
            self.name,
            self._scanned(root),
            self.default_slice_range,
            modalities,
            allow_missing_modalities=allow_missing_modalities,
            allow_unlabelled=allow_unlabelled,
            test_images=test_images,
        )

    def _scanned(self, root: Path) -> Scan:
        found = self.scan(root)
        return found if isinstance(found, Scan) else Scan(list(found))


class NamedFilesLayout(Layout):
    """A layout whose cases are named by their files alone (the BraTS schemes): a folder without any is read as
    empty, and the paper's slices are the default."""

    default_slice_range: ClassVar[tuple[int, int] | None] = BRATS_SLICES

    def __call__(
        self,
        root: Path | None,
        modalities: Sequence[str] | None = None,
        allow_missing_modalities: bool = False,
        allow_unlabelled: bool = False,
        test_images: bool = False,
        **options: Any,
    ) -> CaseCollection:
        root = checked_root(root)
        cases = self._scanned(root).cases
        chosen = choose_modalities(cases, modalities, root)
        kept, reasons = require_modalities(cases, chosen, root, allow_missing_modalities)
        require_labels(kept, allow_unlabelled)
        described = described_slice_range(root)
        return CaseCollection(
            root, kept, chosen, self.name, described or self.default_slice_range, list(reasons), reasons
        )


def checked_root(root: Path | None) -> Path:
    """``root`` as a readable folder, or a :class:`UserError` naming it."""
    if root is None or not Path(root).exists():
        raise UserError(f"{root}: data folder not found")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    return root
