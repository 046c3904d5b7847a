"""Data: reading BraTS-style folders, preprocessing into slices, augmentation, synthetic data.

The names below are imported on first use, so that reading a constant of one
module (the command line's choices, for one) does not load torch and pandas.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

#: exported name -> the submodule that defines it
_EXPORTS = {
    "AugmentConfig": "augment",
    "Augmenter": "augment",
    "CACHE_ENV": "cache",
    "default_cache_dir": "cache",
    "Case": "cases",
    "CaseCollection": "cases",
    "Volume": "cases",
    "Layout": "layout",
    "read_volume": "cases",
    "HEALTHY": "slices",
    "MINOR": "slices",
    "PATHOLOGICAL": "slices",
    "UNLABELLED": "slices",
    "PreprocessConfig": "slices",
    "SliceTable": "slices",
    "prepare_slices": "slices",
    "fold_patients": "splits",
    "fold_split": "splits",
    "read_split_file": "splits",
    "split_patients": "splits",
    "synthesize": "synthetic",
    "synthetic_root": "synthetic",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
