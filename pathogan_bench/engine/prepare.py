"""The run's data: read (or generate), preprocess, cache and split by patient."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as datalib
from ..config import RunConfig
from ..data.cases import DESCRIPTION_FILE
from ..data.fingerprint import DataFingerprint, print_folder
from ..data.slices import HEALTHY, PATHOLOGICAL
from ..registry import Registry
from .data_folders import check_data_folder, join_tables, preprocess_config
from .datasets import AUTO, SYNTHETIC, read_dataset
from .healthy_cohort import add_healthy_cohort

log = logging.getLogger("pathogan_bench")


@dataclass
class PreparedData:
    table: datalib.SliceTable
    splits: dict[str, list[str]]
    dataset_name: str
    #: the data folder (for the built-in synthetic data, its generated folder in the cache)
    data_path: str
    #: cases left out, and why
    skip_reasons: dict[str, str] = field(default_factory=dict)
    #: cases kept without a segmentation (segmented, never trained on or scored)
    unlabelled: list[str] = field(default_factory=list)
    #: the separate test folder, if the test split came from one
    test_path: str = ""
    #: the healthy cohort folder, if the healthy training slices came from one
    healthy_path: str = ""
    #: the healthy cohort's patients (in the train split; its slices are the only healthy training slices)
    healthy_patients: list[str] = field(default_factory=list)
    #: every file read, with its hash (the run's data.json)
    fingerprint: DataFingerprint | None = None

    def indices(self, split: str, domain: int | None = None) -> np.ndarray:
        """Slice indices of a split's patients, optionally of one domain (HEALTHY, PATHOLOGICAL, ...)."""
        idx = split_indices(self.table, self.splits, split)
        return idx if domain is None else idx[self.table.domain[idx] == domain]

    def healthy_source(self) -> np.ndarray | None:
        """Slice indices of the healthy cohort, when the healthy training slices come from one (else None)."""
        if not self.healthy_patients:
            return None
        return np.flatnonzero(
            np.isin(self.table.patient, np.asarray(self.healthy_patients, dtype=self.table.patient.dtype))
        )

    def display_affine(self) -> list[list[float]] | None:
        """The first training patient's NIfTI affine, to orient sample grids of training slices for display."""
        patients = self.splits.get("train") or self.table.patients()
        return self.table.volumes.get(str(patients[0]), {}).get("affine") if patients else None

    def split_sizes(self) -> dict[str, dict[str, int]]:
        """Patients, healthy and pathological slices per split."""
        return {
            split: {
                "patients": len(members),
                "healthy": len(self.indices(split, HEALTHY)),
                "pathological": len(self.indices(split, PATHOLOGICAL)),
            }
            for split, members in self.splits.items()
        }


def split_indices(table: datalib.SliceTable, splits: dict[str, list[str]], split: str) -> np.ndarray:
    members = np.isin(table.patient, np.asarray(splits.get(split, []), dtype=table.patient.dtype))
    return np.flatnonzero(members)


def prepare_data(config: RunConfig, registry: Registry) -> PreparedData:
    """Load (or generate), preprocess and split the run's data (and its separate test folder, if any)."""
    cache = datalib.default_cache_dir(config.data.cache_dir)
    dcfg = config.data
    root, dataset_name = data_root(config)
    dataset, table = _read(config, registry, root, dataset_name, cache)
    read = {"data": (root, dataset)}
    skip_reasons = dict(dataset.skip_reasons)
    unlabelled = list(dataset.unlabelled)
    test_patients: list[str] = []
    if dcfg.test_path:
        table, test_patients, test_dataset = _add_test_folder(config, registry, table, dataset, root, cache)
        read["test"] = (Path(dcfg.test_path).expanduser(), test_dataset)
        skip_reasons.update(test_dataset.skip_reasons)
        unlabelled += list(test_dataset.unlabelled)
    splits, left_out = choose_splits(config, table, test_patients)
    for patient in left_out:
        skip_reasons[patient] = f"not listed in the split file {dcfg.split_file}"
    if left_out:
        table = dataclasses.replace(
            table.subset(np.flatnonzero(~np.isin(table.patient, left_out))),
            skipped=tuple(table.skipped) + tuple(left_out),
        )
        log.warning(
            "%d patient(s) not in the split file %s left out: %s",
            len(left_out),
            dcfg.split_file,
            ", ".join(left_out[:5]) + (" ..." if len(left_out) > 5 else ""),
        )
    healthy_patients: list[str] = []
    if dcfg.healthy_path:
        healthy_root = Path(dcfg.healthy_path).expanduser()
        table, healthy_patients, cohort = add_healthy_cohort(
            config, registry, table, root, healthy_root, cache, dataset
        )
        read["healthy"] = (healthy_root, cohort)
        splits = {**splits, "train": sorted(splits.get("train", [])) + healthy_patients}
    fingerprint = fingerprint_of(read, table.modalities, preprocess_config(config, dataset).slice_range)
    return PreparedData(
        table,
        splits,
        dataset_name,
        str(root),
        skip_reasons,
        unlabelled,
        test_path=str(Path(dcfg.test_path).expanduser()) if dcfg.test_path else "",
        healthy_path=str(Path(dcfg.healthy_path).expanduser()) if dcfg.healthy_path else "",
        healthy_patients=healthy_patients,
        fingerprint=fingerprint,
    )


def data_root(config: RunConfig) -> tuple[Path, str]:
    """The run's data folder (for the built-in synthetic data, generated into the cache when missing) and the
    dataset reader to read it with."""
    dcfg = config.data
    if dcfg.path:
        root = Path(dcfg.path).expanduser()
        check_data_folder(root)
        return root, dcfg.dataset
    root = datalib.synthetic_root(
        datalib.default_cache_dir(dcfg.cache_dir),
        patients=dcfg.synthetic_patients,
        size=dcfg.synthetic_size,
        seed=data_seed(config),
        modalities=tuple(dcfg.modalities) or None,
        difficulty=dcfg.synthetic_difficulty,
        levels=dcfg.synthetic_levels,
    )
    return root, SYNTHETIC if dcfg.dataset == AUTO else dcfg.dataset


def case_files(collection: Any) -> list[Path]:
    """Every file a run reads from a collection: each kept case's images of the read modalities, its label and
    brain mask, and the folder's description file."""
    files: list[Path] = []
    for case in collection.cases:
        files += [case.images[m] for m in collection.modalities if m in case.images]
        files += [f for f in (case.label, case.brain_mask) if f is not None]
    if collection.root is not None and (Path(collection.root) / DESCRIPTION_FILE).is_file():
        files.append(Path(collection.root) / DESCRIPTION_FILE)
    return files


def fingerprint_of(
    read: dict[str, tuple[Path, Any]],
    modalities: tuple[str, ...] | list[str],
    slice_range: tuple[int, int] | None,
    known: DataFingerprint | None = None,
) -> DataFingerprint:
    """The fingerprint of the collections a run read, per role (a ``known`` one spares re-reading unchanged files)."""
    folders = {
        role: print_folder(root, case_files(collection), known.folders.get(role) if known is not None else None)
        for role, (root, collection) in read.items()
    }
    return DataFingerprint(folders, list(modalities), list(slice_range) if slice_range is not None else None)


def data_seed(config: RunConfig) -> int:
    """The seed of the generated synthetic data (the run's seed unless ``data.synthetic_seed`` fixes it)."""
    return config.data.synthetic_seed if config.data.synthetic_seed >= 0 else config.seed


def split_seed(config: RunConfig) -> int:
    """The seed of the patient split and folds (the run's seed unless ``data.split_seed`` fixes it)."""
    return config.data.split_seed if config.data.split_seed >= 0 else config.seed


def _read(
    config: RunConfig,
    registry: Registry,
    root: Path,
    dataset_name: str,
    cache: Path,
    like: datalib.SliceTable | None = None,
    preprocess: datalib.PreprocessConfig | None = None,
) -> tuple[Any, datalib.SliceTable]:
    """A folder's dataset and slices; a test folder (``like`` the data folder's table) is read with its preprocessing."""
    wanted = list(like.modalities if like is not None else config.data.modalities) or None
    dataset = read_dataset(registry, dataset_name, root, modalities=wanted, **read_options(config))
    preprocess = preprocess or preprocess_config(config, dataset)
    return dataset, datalib.prepare_slices(dataset, preprocess, cache / "slices")


def scan_data(config: RunConfig, registry: Registry) -> Any:
    """The run's data folder read as cases (no slice prepared): its layout, modalities and files are checked."""
    root, name = data_root(config)
    return read_dataset(registry, name, root, modalities=list(config.data.modalities) or None, **read_options(config))


def read_options(config: RunConfig) -> dict[str, bool]:
    """The options every dataset reader of the run gets."""
    dcfg = config.data
    return {
        "skip_bad_cases": dcfg.skip_bad_cases,
        "allow_missing_modalities": dcfg.allow_missing_modalities,
        "allow_unlabelled": dcfg.allow_unlabelled,
    }


def choose_splits(
    config: RunConfig, table: datalib.SliceTable, test_patients: list[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """The patient splits by the one rule the config chose; and the patients a split file leaves out."""
    dcfg, seed = config.data, split_seed(config)
    fractions = tuple(dcfg.split_fractions)
    pathological = set(table.patient[table.domain == PATHOLOGICAL].tolist()) or None
    if dcfg.split_file:
        return datalib.read_split_file(dcfg.split_file, table.patients())
    if dcfg.folds:
        return datalib.fold_split(table.patients(), dcfg.folds, dcfg.fold, fractions, seed, pathological), []
    if test_patients:
        rest = [p for p in table.patients() if p not in set(test_patients)]
        split = datalib.split_patients(
            rest,
            (fractions[0], fractions[1], 0.0),
            seed=seed,
            pathological={p for p in rest if p in pathological} if pathological else None,
        )
        return {"train": split["train"], "val": split["val"], "test": sorted(test_patients)}, []
    return datalib.split_patients(table.patients(), fractions, seed=seed, pathological=pathological), []


def _add_test_folder(
    config: RunConfig,
    registry: Registry,
    table: datalib.SliceTable,
    dataset: Any,
    root: Path,
    cache: Path,
) -> tuple[datalib.SliceTable, list[str], Any]:
    """The data folder's slices joined with the test folder's (read with the data folder's preprocessing), the
    test patients, and the test folder's dataset."""
    test_root = Path(config.data.test_path).expanduser()
    check_data_folder(test_root)
    test_dataset, test_table = _read(
        config,
        registry,
        test_root,
        config.data.dataset,
        cache,
        like=table,
        preprocess=preprocess_config(config, dataset),
    )
    return join_tables(table, test_table, root, test_root), test_table.patients(), test_dataset
