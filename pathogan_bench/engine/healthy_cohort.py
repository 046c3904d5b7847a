"""A healthy cohort (IXI, CamCAN, ...) joined to the labelled data as extra healthy training slices."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as datalib
from ..config import RunConfig
from ..data.slices import HEALTHY
from ..errors import UserError
from ..registry import Registry
from .data_folders import check_data_folder, join_tables, preprocess_config
from .datasets import AUTO, read_dataset

log = logging.getLogger("pathogan_bench")


def add_healthy_cohort(
    config: RunConfig,
    registry: Registry,
    table: datalib.SliceTable,
    root: Path,
    healthy_root: Path,
    cache: Path,
    dataset: Any,
) -> tuple[datalib.SliceTable, list[str], Any]:
    """The labelled data's slices joined with a healthy cohort's, every cohort slice healthy by declaration; the
    cohort's patients and its dataset.

    The cohort is read in any supported layout with the labelled data's
    modalities and preprocessing; its modalities, orientation, in-plane size
    and pixel size must match (one line naming the folder otherwise).
    Labels it may have are not used, but a lesion in them is an error.
    """
    check_data_folder(healthy_root)
    found = read_dataset(
        registry, AUTO, healthy_root, modalities=None, allow_missing_modalities=True, allow_unlabelled=True
    )
    has = set().union(*(case.images for case in found.cases)) if len(found) else set()
    lacking = [m for m in table.modalities if m not in has]
    if lacking:
        raise UserError(
            f"{healthy_root}: the healthy cohort has no {', '.join(lacking)} (it has {', '.join(sorted(has)) or 'none'}); "
            f"train and test on common modalities, e.g. --modalities {','.join(m for m in table.modalities if m in has)}"
        )
    cohort_dataset = read_dataset(
        registry,
        AUTO,
        healthy_root,
        modalities=list(table.modalities),
        skip_bad_cases=config.data.skip_bad_cases,
        allow_missing_modalities=config.data.allow_missing_modalities,
        allow_unlabelled=True,
    )
    cohort = datalib.prepare_slices(cohort_dataset, preprocess_config(config, dataset), cache / "slices")
    lesions = np.flatnonzero(cohort.masks.reshape(len(cohort.masks), -1).any(axis=1))
    if len(lesions):
        raise UserError(
            f"{healthy_root}: {len(lesions)} slice(s) of the healthy cohort have lesion labels "
            f"(patient {cohort.patient[lesions[0]]}); a healthy cohort holds healthy scans only"
        )
    check_cohort_geometry(table, cohort, root, healthy_root)
    shared = sorted(set(cohort.patients()) & set(table.patients()))
    if shared:
        raise UserError(f"{healthy_root}: patient(s) {', '.join(shared[:3])} are also in {root}")
    healthy = dataclasses.replace(
        cohort,
        domain=np.full(len(cohort.domain), HEALTHY, dtype=np.int8),
        masks=np.zeros(cohort.masks.shape, dtype=bool),
    )
    joined = join_tables(table, healthy, root, healthy_root)
    log.info(
        "healthy cohort %s: %d healthy slices of %d patients",
        healthy_root,
        len(healthy.domain),
        len(healthy.patients()),
    )
    return joined, healthy.patients(), cohort_dataset


def check_cohort_geometry(
    table: datalib.SliceTable, cohort: datalib.SliceTable, root: Path, healthy_root: Path
) -> None:
    """The healthy cohort's volumes have the labelled data's orientation and voxel size (one line naming the
    folder otherwise): a cohort must be registered to the test data's template first."""
    from ..utils.orientation import axis_codes

    codes = {
        which: {"".join(axis_codes(v.get("affine"))[0]) for v in t.volumes.values()}
        for which, t in (("data", table), ("cohort", cohort))
    }
    if codes["data"] != codes["cohort"]:
        raise UserError(
            f"{healthy_root}: orientation {', '.join(sorted(codes['cohort']))} differs from "
            f"{', '.join(sorted(codes['data']))} of {root}; register the cohort to the test data's template "
            "(docs/DATA.md, healthy cohorts)"
        )
    sizes = {
        which: {
            tuple(round(float(z), 3) for z in np.linalg.norm(np.asarray(v["affine"])[:3, :3], axis=0))
            for v in t.volumes.values()
            if v.get("affine")
        }
        for which, t in (("data", table), ("cohort", cohort))
    }
    if sizes["data"] and sizes["cohort"] and sizes["data"] != sizes["cohort"]:
        raise UserError(
            f"{healthy_root}: voxel size {_mm(sizes['cohort'])} mm differs from {_mm(sizes['data'])} mm of {root}; "
            "resample the cohort to the test data's template (docs/DATA.md, healthy cohorts)"
        )


def _mm(sizes: set[tuple[float, ...]]) -> str:
    return ", ".join(" x ".join(f"{z:g}" for z in size) for size in sorted(sizes))
