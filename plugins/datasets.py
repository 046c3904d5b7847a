"""Built-in dataset readers: the BraTS naming schemes, MSD, nnU-Net, BIDS, IXI and the synthetic dataset.

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

from pathlib import Path
from typing import Any

from pathogan_bench.data import default_cache_dir, synthetic_root
from pathogan_bench.plugin import CaseCollection, Spec, collect, detect_scheme, hookimpl


def _reader(scheme: str):
    def factory(
        root: Path | None,
        modalities: list[str] | None = None,
        allow_missing_modalities: bool = False,
        allow_unlabelled: bool = False,
        **options,
    ) -> CaseCollection:
        layout: dict[str, Any] = {"test_images": bool(options["test_images"])} if "test_images" in options else {}
        return collect(
            Path(root) if root else None,
            scheme,
            modalities,
            allow_missing_modalities=allow_missing_modalities,
            allow_unlabelled=allow_unlabelled,
            **layout,
        )

    return factory


def auto(
    root: Path | None,
    modalities: list[str] | None = None,
    allow_missing_modalities: bool = False,
    allow_unlabelled: bool = False,
    **options,
) -> CaseCollection:
    """Detect the folder's layout: a BraTS naming scheme (2013 DeepMedic, 2017-2020, 2021+), MSD, nnU-Net, BIDS or IXI."""
    flags: dict[str, Any] = {"allow_missing_modalities": allow_missing_modalities, "allow_unlabelled": allow_unlabelled}
    if root is None:
        return synthetic(None, modalities, **flags, **options)
    scheme = detect_scheme(Path(root))
    if scheme in ("msd", "nnunet") and "test_images" in options:
        flags["test_images"] = bool(options["test_images"])
    return collect(Path(root), scheme, modalities, **flags)


def synthetic(
    root: Path | None,
    modalities: list[str] | None = None,
    size: int = 64,
    patients: int = 10,
    seed: int = 0,
    cache_dir: Path | None = None,
    allow_missing_modalities: bool = False,
    allow_unlabelled: bool = False,
    **options,
) -> CaseCollection:
    """Synthetic BraTS-like brains with gliomas (generated and cached when no folder is given)."""
    if root is None:
        root = synthetic_root(default_cache_dir(cache_dir or ""), patients=patients, size=size, seed=seed)
    cases = collect(
        Path(root),
        "brats2021",
        modalities,  # its dataset.json gives the slice range
        allow_missing_modalities=allow_missing_modalities,
        allow_unlabelled=allow_unlabelled,
    )
    cases.scheme = "synthetic"
    return cases


@hookimpl
def register_datasets():
    return [
        Spec("auto", auto),
        Spec(
            "brats2013",
            _reader("brats2013"),
            "BraTS 2013/2015 as redistributed with DeepMedic (Flair_subtrMeanDivStd, OTMultiClass, brainmask)",
        ),
        Spec("brats2017", _reader("brats2017"), "BraTS 2017-2020 (Brats17_XXX_1_flair.nii.gz ..., HGG/LGG or flat)"),
        Spec("brats2021", _reader("brats2021"), "BraTS 2021+ (BraTS-GLI-XXXXX-XXX-t1n/t1c/t2w/t2f.nii.gz, -seg)"),
        Spec(
            "msd",
            _reader("msd"),
            "Medical Segmentation Decathlon Task01_BrainTumour (4D imagesTr/BRATS_001.nii.gz, labelsTr/, dataset.json)",
        ),
        Spec(
            "nnunet",
            _reader("nnunet"),
            "nnU-Net v2 raw dataset (imagesTr/CASE_0000.nii.gz ..., labelsTr/CASE.nii.gz, dataset.json channel_names)",
        ),
        Spec("bids", _reader("bids"), "BIDS (sub-XX/[ses-YY/]anat/sub-XX_FLAIR/_T1w/_T2w.nii.gz; lesion masks)"),
        Spec("ixi", _reader("ixi"), "IXI (IXI002-Guys-0828-T1/-T2.nii.gz), a healthy cohort"),
        Spec("synthetic", synthetic),
    ]
