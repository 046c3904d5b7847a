"""A run's data record (``data.json``) against the data on disk now: resuming refuses changed data, a study reuses
a finished run only on the data it was trained on, and ``evaluate`` and ``segment`` say when the data differ."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ..config import RunConfig, to_table
from ..data.cases import Case
from ..data.fingerprint import DATA_RECORD, DataFingerprint, print_file, read_record, sentence
from ..errors import UserError
from ..registry import Registry
from ..utils.io import write_json
from .data_folders import preprocess_config
from .datasets import AUTO, read_dataset
from .prepare import data_root, fingerprint_of, read_options, scan_data

#: the config fields naming each role's folder
ROOT_FIELDS = {"data": "path", "test": "test_path", "healthy": "healthy_path"}


def write_record(run_dir: Path, fingerprint: DataFingerprint | None) -> None:
    if fingerprint is not None:
        write_json(Path(run_dir) / DATA_RECORD, fingerprint.to_dict())


def with_recorded_roots(config: RunConfig, record: DataFingerprint | None) -> RunConfig:
    """``config`` reading its folders where the run read them (absolute paths), so that a run resumes on its data
    from whichever folder the command is launched in."""
    if record is None:
        return config
    changes = {
        ROOT_FIELDS[role]: folder.root
        for role, folder in record.folders.items()
        if role in ROOT_FIELDS and getattr(config.data, ROOT_FIELDS[role])
    }
    return dataclasses.replace(config, data=dataclasses.replace(config.data, **changes)) if changes else config


def current_fingerprint(config: RunConfig, registry: Registry, known: DataFingerprint | None = None) -> DataFingerprint:
    """The fingerprint of the data ``config`` reads, taken from the folders without preparing any slice (files
    whose size and time match ``known`` are not read again)."""
    root, name = data_root(config)
    dataset = scan_data(config, registry)
    read: dict[str, tuple[Path, Any]] = {"data": (root, dataset)}
    modalities = list(dataset.modalities)
    if config.data.test_path:
        test_root = Path(config.data.test_path).expanduser()
        read["test"] = (
            test_root,
            read_dataset(registry, name, test_root, modalities=modalities, **read_options(config)),
        )
    if config.data.healthy_path:
        healthy_root = Path(config.data.healthy_path).expanduser()
        options = {**read_options(config), "allow_unlabelled": True}
        read["healthy"] = (healthy_root, read_dataset(registry, AUTO, healthy_root, modalities=modalities, **options))
    return fingerprint_of(read, modalities, preprocess_config(config, dataset).slice_range, known)


def check_resumed_data(config: RunConfig, registry: Registry, run_dir: Path) -> RunConfig:
    """The config a run resumes with (its recorded folders); refuses, in one line naming the run and the first
    change, when the data under them differ from what the run was started on."""
    record = read_record(run_dir)
    if record is None:
        return config
    config = with_recorded_roots(config, record)
    changes = record.changes(current_fingerprint(config, registry, record))
    if changes:
        raise UserError(
            f"{run_dir}: the data changed since this run started ({sentence(changes)}); a run resumes only on the "
            "data it was trained on: restore it, or start a new run"
        )
    return config


_CURRENT: dict[str, DataFingerprint] = {}


def reuse_data_change(config: RunConfig, run_dir: Path, registry: Registry) -> str | None:
    """Why a finished run cannot be reused for ``config`` on data grounds (None: the same data, or a run made
    before runs recorded their data). The data of one config is fingerprinted once per process."""
    record = read_record(run_dir)
    if record is None:
        return None
    key = json.dumps(
        {"data": to_table(config)["data"], "seed": config.seed, "cwd": os.getcwd()}, sort_keys=True, default=str
    )
    if key not in _CURRENT:
        _CURRENT[key] = current_fingerprint(config, registry, record)
    changes = record.changes(_CURRENT[key])
    return f"data changed: {sentence(changes, 1)}" if changes else None


def forget_current() -> None:
    """Drop the fingerprints taken in this process (the data may have changed since)."""
    _CURRENT.clear()


def record_notes(run_dir: Path) -> list[str]:
    """What ``evaluate`` says about the run's data: changed or missing since the run (its stored predictions and
    labels are what is scored)."""
    record = read_record(run_dir)
    if record is None:
        return []
    missing = [
        f"{role} folder {folder.root}" for role, folder in record.folders.items() if not Path(folder.root).is_dir()
    ]
    if missing:
        return [f"the run's {', '.join(missing)} is not here; its stored predictions and labels are scored"]
    changed = []
    for folder in record.folders.values():
        for item in folder.files:
            path = Path(folder.root) / item.path
            if not path.is_file():
                changed.append(f"{path}: missing")
            elif (st := path.stat()).st_size != item.size or st.st_mtime_ns != item.mtime_ns:
                if print_file(Path(folder.root), path).sha1 != item.sha1:
                    changed.append(f"{path}: content changed")
    if not changed:
        return []
    return [
        f"the data changed since the run ({sentence(changed)}); its stored predictions and labels of the data as "
        "it was are scored"
    ]


def case_notes(run_dir: Path, case: Case) -> list[str]:
    """What ``segment`` says about an input case the run read: the split it was in, and whether its files
    changed since."""
    try:
        splits = json.loads((Path(run_dir) / "splits.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        splits = {}
    notes = []
    split = next((name for name, members in splits.items() if case.patient_id in members), None)
    record = read_record(run_dir)
    files = [*case.images.values(), *(f for f in (case.label, case.brain_mask) if f is not None)]
    recorded = {}
    for folder in record.folders.values() if record is not None else ():
        recorded.update({os.path.normpath(Path(folder.root) / f.path): (folder.root, f) for f in folder.files})
    mine = [os.path.normpath(os.path.abspath(f)) for f in files]
    known = [recorded[p] for p in mine if p in recorded]
    if split is not None and (known or record is None):
        notes.append(
            f"{case.patient_id} is a {split} patient of this run"
            + ("; its segmentation is not a test result" if split != "test" else "")
        )
    if known:
        changed = [p for p, (root, item) in zip(mine, known) if print_file(Path(root), Path(p)).sha1 != item.sha1]
        if changed:
            notes.append(f"{changed[0]} differs from the file this run read ({len(changed)} file(s) changed)")
    return notes
