"""What a run read: every input file's size, modification time and content hash, the folders they lie in, the
modalities and the slice range; so that a run can tell whether the data under its paths is still the data it was
trained on.

A file's hash covers the whole file up to :data:`WHOLE_FILE_BYTES`; a larger one is hashed by its size, its first
and last bytes (the header, the end of the compressed stream) and evenly spaced samples between them. A file whose
size and modification time are unchanged is taken as unchanged without reading it again; one touched but identical
still matches by its hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError

#: files up to this size are hashed whole
WHOLE_FILE_BYTES = 8 << 20
#: a larger file: its first and last bytes and this many samples of SAMPLE_BYTES between them
HEAD_BYTES, SAMPLES, SAMPLE_BYTES = 1 << 20, 32, 64 << 10
#: the run directory's record of its data
DATA_RECORD = "data.json"


@dataclass(frozen=True)
class FilePrint:
    """One input file: its path relative to its folder's root, size, modification time and content hash."""

    path: str
    size: int
    mtime_ns: int
    sha1: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns, "sha1": self.sha1}


def content_hash(path: Path, size: int) -> str:
    """SHA-1 of the whole file, or for a large one of its size, head, tail and evenly spaced samples."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(str(size).encode())
            digest.update(f.read(HEAD_BYTES))
            step = (size - 2 * HEAD_BYTES) // (SAMPLES + 1)
            for i in range(1, SAMPLES + 1):
                f.seek(HEAD_BYTES + i * step)
                digest.update(f.read(SAMPLE_BYTES))
            f.seek(size - HEAD_BYTES)
            digest.update(f.read(HEAD_BYTES))
    return digest.hexdigest()


def print_file(root: Path, path: Path, known: Mapping[str, FilePrint] | None = None) -> FilePrint:
    """The :class:`FilePrint` of ``path`` (under ``root``); a ``known`` print of the same size and time is reused
    without reading the file."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    relative = os.path.relpath(path, root) if _under(path, root) else str(path.resolve())
    before = (known or {}).get(relative)
    if before is not None and before.size == stat.st_size and before.mtime_ns == stat.st_mtime_ns:
        return before
    try:
        sha1 = content_hash(path, stat.st_size)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    return FilePrint(Path(relative).as_posix(), stat.st_size, stat.st_mtime_ns, sha1)


def _under(path: Path, root: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return False
    return True


@dataclass
class FolderPrint:
    """The files read from one folder (the data folder, a test folder, a healthy cohort)."""

    root: str
    files: list[FilePrint] = field(default_factory=list)

    def by_path(self) -> dict[str, FilePrint]:
        return {f.path: f for f in self.files}

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "files": [f.to_dict() for f in self.files]}


def print_folder(root: Path, paths: Iterable[Path], known: FolderPrint | None = None) -> FolderPrint:
    """The prints of ``paths`` under ``root`` (sorted, each once)."""
    absolute = Path(os.path.abspath(root))
    before = known.by_path() if known is not None else None
    unique = sorted({Path(os.path.abspath(p)) for p in paths})
    return FolderPrint(str(absolute), sorted((print_file(absolute, p, before) for p in unique), key=lambda f: f.path))


@dataclass
class DataFingerprint:
    """Everything a run read: per role ("data", "test", "healthy"), a folder and its files; the modalities and
    the axial slice range."""

    folders: dict[str, FolderPrint] = field(default_factory=dict)
    modalities: list[str] = field(default_factory=list)
    slice_range: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "folders": {role: folder.to_dict() for role, folder in self.folders.items()},
            "modalities": list(self.modalities),
            "slice_range": list(self.slice_range) if self.slice_range is not None else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: Path) -> DataFingerprint:
        try:
            folders = {
                role: FolderPrint(str(folder["root"]), [FilePrint(**f) for f in folder["files"]])
                for role, folder in raw["folders"].items()
            }
            slices = raw.get("slice_range")
            return cls(folders, [str(m) for m in raw["modalities"]], [int(v) for v in slices] if slices else None)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"{source}: not a data record (expected folders, modalities and slice_range)") from None

    def roots(self) -> dict[str, str]:
        return {role: folder.root for role, folder in self.folders.items()}

    def changes(self, now: DataFingerprint) -> list[str]:
        """How ``now`` differs from this record, one phrase each (empty: the same data). Files are compared by
        their path within their folder and their content: the same files in a moved folder are the same data."""
        out: list[str] = []
        if list(now.modalities) != list(self.modalities):
            out.append(f"modalities {','.join(self.modalities)} -> {','.join(now.modalities)}")
        if now.slice_range != self.slice_range:
            out.append(f"slice range {self.slice_range} -> {now.slice_range}")
        for role in sorted(set(self.folders) | set(now.folders)):
            before, after = self.folders.get(role), now.folders.get(role)
            if before is None or after is None:
                out.append(f"{role} folder {'added' if before is None else 'no longer read'}")
                continue
            old, new = before.by_path(), after.by_path()
            for path in sorted(set(old) | set(new)):
                if path not in new:
                    out.append(f"{Path(before.root) / path}: no longer read (removed, or its case left out)")
                elif path not in old:
                    out.append(f"{Path(after.root) / path}: new")
                elif old[path].sha1 != new[path].sha1:
                    out.append(f"{Path(after.root) / path}: content changed")
        return out


def sentence(changes: list[str], limit: int = 2) -> str:
    """The first ``limit`` changes and how many more."""
    more = f" (and {len(changes) - limit} more)" if len(changes) > limit else ""
    return "; ".join(changes[:limit]) + more


def read_record(run_dir: Path) -> DataFingerprint | None:
    """A run directory's data record, or None for a run made before runs recorded their data."""
    import json

    path = Path(run_dir) / DATA_RECORD
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable data record ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a data record (expected a JSON object)")
    return DataFingerprint.from_dict(raw, path)
