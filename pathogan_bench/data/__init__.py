"""Data: reading BraTS-style folders, preprocessing into slices, augmentation, synthetic data."""

from .augment import AugmentConfig, Augmenter
from .cache import CACHE_ENV, default_cache_dir
from .cases import Case, CaseCollection, Volume, collect, detect_scheme, read_volume
from .slices import PreprocessConfig, SliceTable, prepare_slices, select_training
from .splits import fold_patients, fold_split, read_split_file, split_patients
from .synthetic import synthesize, synthetic_root

__all__ = [
    "CACHE_ENV", "AugmentConfig", "Augmenter", "Case", "CaseCollection", "PreprocessConfig", "SliceTable", "Volume", "collect", "default_cache_dir",
    "detect_scheme", "fold_patients", "fold_split", "read_split_file", "prepare_slices", "read_volume", "select_training", "split_patients", "synthesize",
    "synthetic_root",
]
