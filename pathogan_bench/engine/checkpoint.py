"""Checkpoints as safetensors plus JSON: tensors and plain data only.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` with every tensor
and ``NAME.json`` with everything else (step, optimizer hyper-parameters,
scheduler state, RNG states, fitted thresholds), where each tensor appears as
a reference ``{"__tensor__": key}``. Loading one never unpickles anything.
The JSON is written last and names the size and SHA-256 of its tensor file,
so a checkpoint whose writing was interrupted, or whose tensor file was
altered since, is never mistaken for a complete one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from ..errors import UserError
from ..utils.io import atomic_path, write_json

log = logging.getLogger("pathogan_bench")

FORMAT = "pathogan-bench-checkpoint/1"


class CheckpointError(UserError):
    """A checkpoint that is incomplete, altered or not a checkpoint of this project."""


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """Replace every tensor in a nested structure by a reference, collecting tensors."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "tensor"
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: flatten(v, tensors, f"{prefix}.{k}" if prefix else k) for k, v in obj.items()}
        return {"__items__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoints hold tensors and plain data only; got {type(obj).__name__} at '{prefix}'")


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: unflatten(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def save_checkpoint(path_stem: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (nested dicts/lists of tensors and plain data) atomically."""
    stem = Path(path_stem)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, tensors)
    payload = save_bytes(tensors)
    tensor_file = stem.with_name(stem.name + ".safetensors")
    with atomic_path(tensor_file) as tmp:
        tmp.write_bytes(payload)
    meta = {
        "format": FORMAT,
        "tensors": tensor_file.name,
        "tensor_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "state": skeleton,
    }
    return write_json(stem.with_name(stem.name + ".json"), meta)


def _read_meta(json_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{json_path}: cannot read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "tensors" not in meta or "state" not in meta:
        raise CheckpointError(f"{json_path}: not a pathogan-bench checkpoint")
    return meta


def load_checkpoint(json_path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint`, its tensor file checked by size and SHA-256."""
    json_path = Path(json_path)
    meta = _read_meta(json_path)
    tensor_file = json_path.with_name(str(meta["tensors"]))
    try:
        payload = tensor_file.read_bytes()
    except OSError:
        raise CheckpointError(f"{tensor_file}: missing or unreadable") from None
    if len(payload) != meta.get("tensor_bytes"):
        raise CheckpointError(f"{tensor_file}: incomplete ({len(payload)} of {meta.get('tensor_bytes')} bytes)")
    if "sha256" in meta and hashlib.sha256(payload).hexdigest() != meta["sha256"]:
        raise CheckpointError(
            f"{tensor_file}: SHA-256 differs from the one recorded in {json_path.name} (altered or corrupt)"
        )
    try:
        tensors = {k: v.to(device) for k, v in load_bytes(payload).items()}
    except Exception as exc:  # safetensors raises its own error type for a bad header
        raise CheckpointError(f"{tensor_file}: not a readable safetensors file ({exc})") from None
    try:
        return unflatten(meta["state"], tensors)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{json_path}: refers to a tensor that is not in {tensor_file.name} ({exc})") from None


def checkpoints_newest_first(folder: str | Path) -> list[Path]:
    """The JSON paths of ``folder``'s checkpoints, highest step first."""
    found = []
    for meta_path in Path(folder).glob("step-*.json"):
        try:
            found.append((int(meta_path.stem.split("-")[1]), meta_path))
        except (ValueError, IndexError):
            continue
    return [path for _, path in sorted(found, reverse=True)]


def _complete(meta_path: Path) -> bool:
    try:
        meta = _read_meta(meta_path)
        tensor_file = meta_path.with_name(str(meta["tensors"]))
        return tensor_file.is_file() and tensor_file.stat().st_size == meta.get("tensor_bytes")
    except (CheckpointError, OSError):
        return False


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint (by size) with the highest step in ``folder``; a newer incomplete one is warned of."""
    for path in checkpoints_newest_first(folder):
        if _complete(path):
            return path
        log.warning("checkpoint %s is incomplete; falling back to an older one", path)
    return None


def load_latest(folder: str | Path, device: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads and verifies, or None when the folder has none.

    Each newer checkpoint that does not verify is warned of; when none
    verifies, the newest one's :class:`CheckpointError` is raised (one line
    naming the file and the problem).
    """
    failures: list[CheckpointError] = []
    for path in checkpoints_newest_first(folder):
        try:
            state = load_checkpoint(path, device=device)
        except CheckpointError as exc:
            failures.append(exc)
            continue
        for failure in failures:
            log.warning("%s; falling back to an older checkpoint", failure)
        return path, state
    if failures:
        raise failures[0]
    return None


def clean_partial_files(folder: str | Path) -> int:
    """Remove temporary files left by interrupted saves; returns how many."""
    removed = 0
    for tmp in Path(folder).glob(".step-*.tmp*"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d partial checkpoint file(s) from %s", removed, folder)
    return removed


def remove_checkpoint(json_path: Path) -> None:
    try:
        meta = json.loads(json_path.read_text())
        json_path.with_name(meta["tensors"]).unlink(missing_ok=True)
    except (OSError, ValueError, KeyError):
        pass
    json_path.unlink(missing_ok=True)
