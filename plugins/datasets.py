"""Built-in dataset layouts: the BraTS naming schemes (2012-2015 as released, 2013 DeepMedic, 2017-2020, 2021+),
the Medical Segmentation Decathlon, nnU-Net v1 and v2 raw datasets, BIDS, IXI, and the generated synthetic dataset. Each is a
:class:`~pathogan_bench.data.layout.Layout`, and ``--dataset auto`` reads a folder with the layout that finds the
most cases in it.

Every reader takes two options besides ``modalities``:

- ``allow_missing_modalities`` (default False): a case lacking one of the
  modalities (the requested ones, or every modality found in the folder) is
  skipped and listed in ``CaseCollection.skipped`` (with the reason in
  ``skip_reasons``) instead of stopping with an error naming it;
- ``allow_unlabelled`` (default False): when some cases have a
  segmentation, a case without one is kept unlabelled (segmented, never
  trained on or scored; listed in ``CaseCollection.unlabelled``) instead of
  stopping with an error naming it.

The ``msd`` and ``nnunet`` readers also take ``test_images`` (default
False): read the unlabelled ``imagesTs/`` cases too, kept unlabelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pathogan_bench.data import default_cache_dir, synthetic_root
from pathogan_bench.data.brats_layouts import scan_brats2012, scan_brats2013, scan_brats2017, scan_brats2021
from pathogan_bench.data.itk_image import require_simpleitk
from pathogan_bench.data.layouts import Scan, scan_bids, scan_ixi, scan_msd, scan_nnunet
from pathogan_bench.plugin import Case, CaseCollection, Layout, NamedFilesLayout, hookimpl


class BraTS2013(NamedFilesLayout):
    """BraTS 2013/2015 as redistributed with DeepMedic (Flair_subtrMeanDivStd, OTMultiClass, brainmask)"""

    name = "brats2013"

    def scan(self, root: Path) -> list[Case]:
        return scan_brats2013(root)


class BraTS2012(NamedFilesLayout):
    """BraTS 2012-2015 as released (BRATS_HG0001/VSD.Brain.XX.O.MR_Flair.NNNNN/*.mha; needs the mha extra)"""

    name = "brats2012"

    def scan(self, root: Path) -> list[Case]:
        cases = scan_brats2012(root)
        if cases:
            require_simpleitk(next(iter(cases[0].images.values())))
        return cases


class BraTS2017(NamedFilesLayout):
    """BraTS 2017-2020 (Brats17_XXX_1_flair.nii.gz ..., HGG/LGG or flat)"""

    name = "brats2017"

    def scan(self, root: Path) -> list[Case]:
        return scan_brats2017(root)


class BraTS2021(NamedFilesLayout):
    """BraTS 2021+ (BraTS-GLI-XXXXX-XXX-t1n/t1c/t2w/t2f.nii.gz, -seg)"""

    name = "brats2021"

    def scan(self, root: Path) -> list[Case]:
        return scan_brats2021(root)


class Decathlon(Layout):
    """Medical Segmentation Decathlon Task01_BrainTumour (4D imagesTr/BRATS_001.nii.gz, labelsTr/, dataset.json)"""

    name = "msd"

    def scan(self, root: Path) -> Scan:
        return scan_msd(root)


class NnUNet(Layout):
    """nnU-Net v1/v2 raw dataset (imagesTr/CASE_0000.nii.gz ..., labelsTr/CASE.nii.gz, dataset.json)"""

    name = "nnunet"

    def scan(self, root: Path) -> Scan:
        return scan_nnunet(root)


class BIDS(Layout):
    """BIDS (sub-XX/[ses-YY/]anat/sub-XX_FLAIR/_T1w/_T2w.nii.gz; lesion masks)"""

    name = "bids"

    def scan(self, root: Path) -> list[Case]:
        return scan_bids(root)


class IXI(Layout):
    """IXI (IXI002-Guys-0828-T1/-T2.nii.gz), a healthy cohort"""

    name = "ixi"

    def scan(self, root: Path) -> list[Case]:
        return scan_ixi(root)


class Synthetic(BraTS2021):
    """Synthetic BraTS-like brains with gliomas (generated and cached when no folder is given)"""

    name = "synthetic"

    def count_cases(self, root: Path) -> int:
        return 0  # generated data is asked for by name, never detected

    def __call__(
        self,
        root: Path | None,
        modalities: Sequence[str] | None = None,
        allow_missing_modalities: bool = False,
        allow_unlabelled: bool = False,
        test_images: bool = False,
        size: int = 64,
        patients: int = 10,
        seed: int = 0,
        cache_dir: Path | None = None,
        **options: Any,
    ) -> CaseCollection:
        if root is None:
            root = synthetic_root(default_cache_dir(cache_dir or ""), patients=patients, size=size, seed=seed)
        cases = super().__call__(
            root, modalities, allow_missing_modalities=allow_missing_modalities, allow_unlabelled=allow_unlabelled
        )
        cases.scheme = "synthetic"
        return cases


@hookimpl
def register_datasets() -> list[Layout]:
    return [BraTS2012(), BraTS2013(), BraTS2017(), BraTS2021(), Decathlon(), NnUNet(), BIDS(), IXI(), Synthetic()]
