"""Shared fixtures for the benchmark suites.

``pytest benchmarks/`` runs every suite; CUDA suites at the paper's size are
skipped on machines without a GPU. Compare two commits with
``--benchmark-autosave`` on one and ``--benchmark-compare`` on the other.
"""

from __future__ import annotations

import pytest
import torch

from pathogan_bench.contracts.model import ModelContext
from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.registry import get_registry

PAPER_SIZE = 240
PAPER_CHANNELS = 4
PAPER_BATCH = 4


def build(
    model: str,
    size: int,
    channels: int,
    width: float,
    device: str,
    batch: int = 4,
    amp: bool = False,
    channels_last: bool = False,
    loss_set: str = "full",
):
    registry = get_registry()
    ctx = ModelContext(
        in_channels=channels,
        image_size=size,
        modalities=("flair", "t1", "t1c", "t2")[:channels],
        device=torch.device(device),
        total_steps=10_000,
        loss_terms=resolve_loss_set(registry, loss_set),
        loss_set=loss_set,
        batch_size=batch,
        amp=amp,
        channels_last=channels_last,
        registry=registry,
    )
    return registry.create("model", model, ctx, width=width).to(device)


def fake_batch(supervision: str, batch: int, channels: int, size: int, device: str) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = lambda: (torch.rand(batch, channels, size, size, generator=gen) * 2 - 1).to(device)  # noqa: E731
    if supervision == "full":
        mask = (torch.rand(batch, 1, size, size, generator=gen) > 0.8).float().to(device)
        return {"image": x(), "mask": mask}
    return {"x_a": x(), "x_b": x()}


def mean_seconds(benchmark) -> float | None:
    """The mean time of a benchmark's rounds; None when timing is off (``--benchmark-disable``)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.mean if stats is not None else None


def record_rate(benchmark, key: str, items: float) -> None:
    """``extra_info[key]`` = items per second, when the benchmark was timed."""
    mean = mean_seconds(benchmark)
    if mean:
        benchmark.extra_info[key] = items / mean


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@pytest.fixture
def cuda_device() -> str:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return "cuda"
