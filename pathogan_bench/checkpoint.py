"""Checkpoints as safetensors plus JSON: tensors and plain data only.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` with every tensor
and ``NAME.json`` with everything else (step, optimizer hyper-parameters,
scheduler state, RNG states, fitted thresholds), where each tensor appears as
a reference ``{"__tensor__": key}``. Loading one never unpickles anything.
The JSON is written last and names the size of its tensor file, so a
checkpoint whose writing was interrupted is never mistaken for a complete one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .io import atomic_path, write_json

FORMAT = "pathogan-bench-checkpoint/1"


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
    tensor_file = stem.with_name(stem.name + ".safetensors")
    with atomic_path(tensor_file) as tmp:
        save_file(tensors, str(tmp))
    meta = {"format": FORMAT, "tensors": tensor_file.name, "tensor_bytes": tensor_file.stat().st_size, "state": skeleton}
    return write_json(stem.with_name(stem.name + ".json"), meta)


def load_checkpoint(json_path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path}: not a pathogan-bench checkpoint")
    tensor_file = json_path.with_name(meta["tensors"])
    if not tensor_file.exists() or tensor_file.stat().st_size != meta["tensor_bytes"]:
        raise ValueError(f"{json_path}: its tensor file {tensor_file.name} is missing or incomplete")
    tensors = load_file(str(tensor_file), device=str(device))
    return unflatten(meta["state"], tensors)


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder`` (its JSON path)."""
    folder = Path(folder)
    best: tuple[int, Path] | None = None
    for meta_path in folder.glob("step-*.json"):
        try:
            step = int(meta_path.stem.split("-")[1])
            meta = json.loads(meta_path.read_text())
            tensor_file = meta_path.with_name(meta["tensors"])
            complete = tensor_file.exists() and tensor_file.stat().st_size == meta["tensor_bytes"]
        except (ValueError, KeyError, IndexError, OSError):
            continue
        if complete and (best is None or step > best[0]):
            best = (step, meta_path)
    return best[1] if best else None


def remove_checkpoint(json_path: Path) -> None:
    try:
        meta = json.loads(json_path.read_text())
        json_path.with_name(meta["tensors"]).unlink(missing_ok=True)
    except (OSError, ValueError, KeyError):
        pass
    json_path.unlink(missing_ok=True)
