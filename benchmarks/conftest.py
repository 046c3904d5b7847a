"""Shared fixtures for the benchmark suites.

``pytest benchmarks/`` runs every suite; CUDA suites at the paper's size are
skipped on machines without a GPU. Compare two commits with
``--benchmark-autosave`` on one and ``--benchmark-compare`` on the other.
"""

from __future__ import annotations

import pytest
import torch
from speed import PAPER_BATCH, PAPER_CHANNELS, PAPER_SIZE, build, fake_batch, sync

__all__ = ["PAPER_BATCH", "PAPER_CHANNELS", "PAPER_SIZE", "build", "fake_batch", "sync"]


def mean_seconds(benchmark) -> float | None:
    """The mean time of a benchmark's rounds; None when timing is off (``--benchmark-disable``)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.mean if stats is not None else None


def record_rate(benchmark, key: str, items: float) -> None:
    """``extra_info[key]`` = items per second, when the benchmark was timed."""
    mean = mean_seconds(benchmark)
    if mean:
        benchmark.extra_info[key] = items / mean


@pytest.fixture
def cuda_device() -> str:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return "cuda"
