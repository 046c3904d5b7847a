"""Which device a run uses, and how many CPU threads: decided here, once per command."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UserError


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cpu' and 'cuda[:N]' are checked."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"--device {name}: expected auto, cpu or cuda")
    return name


def physical_cores(cpus: set[int]) -> int:
    """Distinct physical cores among ``cpus`` (Linux topology; the CPU count elsewhere)."""
    seen = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            seen.add(siblings.read_text().strip())
        except OSError:
            return len(cpus)
    return len(seen) or len(cpus)


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` if set, else the physical cores this process may run on.

    Hyper-threads share a core's arithmetic units; more torch threads than
    cores only adds contention, and on a shared machine it can slow training
    several-fold.
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    return max(1, physical_cores(cpus))


def configure_threads(requested: int = 0) -> int:
    """Set torch's intra-op thread count (``requested``, or :func:`default_threads` for 0); returns it."""
    threads = requested or default_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
