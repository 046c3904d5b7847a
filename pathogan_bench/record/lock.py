"""``run.lock``: the process that trains a run directory, so that a second one refuses and a dead one is seen.

The lock holds the owner's PID, host and start time. A second process on the same run directory refuses in one
line naming the owner. A lock whose process no longer runs on this host (killed with SIGKILL, a crash of the
machine) is stale: it is removed with a message, and the run's recorded status "training" reads "interrupted".
A lock of another host cannot be checked from here: it is honoured, and the message says how to clear it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

LOCK_FILE = "run.lock"


@dataclass(frozen=True)
class LockOwner:
    pid: int
    host: str
    started: str

    def alive(self) -> bool | None:
        """Whether the owner still runs (None: on another host, not checkable)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return not _is_zombie(self.pid)

    def describe(self) -> str:
        return f"process {self.pid} on {self.host} (since {self.started})"


def _is_zombie(pid: int) -> bool:
    """A killed process that no parent has reaped yet (a container's init often never does): it holds nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # no /proc (macOS) or the process has just gone
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def read_owner(run_dir: Path) -> LockOwner | None:
    """The recorded owner of ``run_dir``, or None (no lock, or one that cannot be read: a process writing it)."""
    try:
        raw = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
        return LockOwner(int(raw["pid"]), str(raw["host"]), str(raw.get("started", "?")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def held(run_dir: Path) -> bool:
    """Whether a live process (or one on another host) holds ``run_dir``."""
    owner = read_owner(run_dir)
    return owner is not None and owner.alive() is not False


def _create(path: Path, content: str) -> bool:
    """Create ``path`` holding ``content``; False when it exists already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    return True


def _is_me(owner: LockOwner) -> bool:
    return owner.pid == os.getpid() and owner.host == socket.gethostname()


@contextlib.contextmanager
def run_lock(run_dir: Path, announce: Callable[[str], object] | None = None) -> Iterator[None]:
    """Hold ``run_dir`` for this process: refuses when another live process holds it, clears a stale lock (saying
    so through ``announce``), and removes the lock on the way out (a lock this process holds already is kept)."""
    path = Path(run_dir) / LOCK_FILE
    mine = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": _dt.datetime.now().isoformat(timespec="seconds")}
    )
    taken = False
    for _ in range(3):
        if _create(path, mine):
            taken = True
            break
        owner = read_owner(run_dir)
        if owner is None:  # being written by another process, or unreadable: not ours to clear
            raise UserError(f"{path}: the run is locked by another process (unreadable lock file)")
        if _is_me(owner):
            break
        alive = owner.alive()
        if alive is not False:
            where = "" if alive else f"; if it no longer runs, delete {path}"
            raise UserError(f"{run_dir}: in use by {owner.describe()}; wait for it to finish or stop it{where}")
        path.unlink(missing_ok=True)
        if announce is not None:
            announce(f"{run_dir}: removed the stale lock of {owner.describe()}, which no longer runs")
    else:  # pragma: no cover - processes racing for one stale lock
        raise UserError(f"{path}: could not take the lock; try again")
    try:
        yield
    finally:
        if taken:
            path.unlink(missing_ok=True)
