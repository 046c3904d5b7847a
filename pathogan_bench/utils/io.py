"""Atomic file output: nothing half-written is ever left behind.

Every file the toolkit writes goes through :func:`atomic_path`: the content
is written to a temporary file in the same folder and renamed over the target
only once it is complete, so an error or an interrupt leaves either the old
file or none. Files and folders get the usual permissions of the user's umask
(a temporary file alone would be private).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import disk_full


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    The temporary name keeps the target's suffix (libraries such as nibabel
    and matplotlib choose the format from it).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, target)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        full = disk_full(exc, target)
        if full is not None and full is not exc:
            raise full from exc
        raise


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], unwritable: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; rename it to ``target`` on success, remove it on failure.

    A folder another process completed first is kept (the temporary one is
    dropped). ``unwritable`` ends the one-line error raised when the parent
    cannot be written (e.g. "choose another cache folder").
    """
    from ..errors import UserError

    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise UserError(f"{target.parent}: cannot write ({exc.strerror or type(exc).__name__}); {unwritable}") from None
    try:
        apply_umask(tmp, directory=True)  # mkdtemp makes it private; results are shared like any folder
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:  # completed concurrently by another process
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        full = disk_full(exc, target)
        if full is not None and full is not exc:
            raise full from exc
        raise


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike[str], directory: bool = False) -> None:
    """Give a file (0666) or folder (0777) made by ``tempfile`` the permissions the umask allows."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_csv(target: str | os.PathLike[str], frame: Any) -> Path:
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(target)


def save_figure(target: str | os.PathLike[str], fig: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(target)


def save_nifti(target: str | os.PathLike[str], data: Any, affine: Any, zooms: Any = None) -> Path:
    """Write a NIfTI volume with the given affine (and voxel size, if given) atomically."""
    import nibabel as nib

    image = nib.Nifti1Image(data, affine)
    if zooms is not None:
        image.header.set_zooms(tuple(zooms)[: data.ndim])
    with atomic_path(target) as tmp:
        nib.save(image, str(tmp))
    return Path(target)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
