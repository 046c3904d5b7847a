"""Listing a dataset folder: every entry read or an error naming the folder, never an empty result; one file per
role."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError

NII = re.compile(r"\.nii(\.gz)?$")


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """A folder's entries; an unreadable folder is an error naming it, never an empty listing."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except PermissionError:
        raise UserError(f"{folder}: cannot read the folder (permission denied)") from None
    except NotADirectoryError:
        raise UserError(f"{folder}: not a folder") from None
    except OSError as exc:
        raise UserError(f"{folder}: cannot read the folder ({exc.strerror or type(exc).__name__})") from None


def is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def walk_files(root: Path, _seen: set[str] | None = None) -> Iterator[Path]:
    """Every file under ``root``, sorted per folder, broken symbolic links included (a scanner that matches one
    names it); a folder reached twice (through a symbolic link) is walked once, so a link loop ends. Stops with an
    error at an unreadable folder."""
    seen = set() if _seen is None else _seen
    real = os.path.realpath(root)
    if real in seen:
        return
    seen.add(real)
    for entry in entries(root):
        if is_dir(entry):
            yield from walk_files(Path(entry.path), seen)
        elif is_file(entry) or entry.is_symlink():
            yield Path(entry.path)


def put_once(found: dict[str, Path], key: str, path: Path, what: str) -> None:
    """``found[key] = path``, refusing a second file for one role (never resolved by listing order) and a broken
    symbolic link, each in one line naming the files."""
    if path.is_symlink() and not path.exists():
        raise UserError(f"{path}: a broken symbolic link (to {os.readlink(path)}), the {what}")
    if key in found and os.path.realpath(found[key]) != os.path.realpath(path):
        raise UserError(f"{path}: a second {what} beside {found[key]}; keep one (move the other out of the folder)")
    found[key] = path


def nifti_files(folder: Path) -> list[Path]:
    return [Path(e.path) for e in entries(folder) if (is_file(e) or e.is_symlink()) and NII.search(e.name)]
