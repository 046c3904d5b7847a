"""Data path throughput: augmentation, training batches and preprocessing, in slices per second.

Augmentation runs batched on the training device; at the paper's size it must
keep far ahead of the training step (target: > 30 steps/s x 8 slices on a GPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PAPER_CHANNELS, PAPER_SIZE, record_rate

from pathogan_bench.data import PreprocessConfig, prepare_slices, synthesize
from pathogan_bench.data.augment import Augmenter
from pathogan_bench.engine.batches import DomainBatches
from pathogan_bench.registry import create


def _devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("batch", [4, 32])
def test_augmentation(benchmark, device, batch):
    images = torch.rand(batch, PAPER_CHANNELS, PAPER_SIZE, PAPER_SIZE, device=device) * 2 - 1
    masks = torch.rand(batch, PAPER_SIZE, PAPER_SIZE, device=device) > 0.9
    augment = Augmenter()
    generator = torch.Generator().manual_seed(0)

    def run():
        out = augment(images, masks, generator=generator)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    benchmark.pedantic(run, rounds=10, warmup_rounds=2, iterations=1)
    record_rate(benchmark, "slices_per_s", batch)


@pytest.mark.parametrize("device", _devices())
def test_training_batches(benchmark, device):
    """Index, gather, move and augment one PathoGAN batch (4 healthy + 4 pathological) at 240 px."""
    rng = np.random.default_rng(0)
    healthy = rng.uniform(-1, 1, (256, PAPER_CHANNELS, PAPER_SIZE, PAPER_SIZE)).astype(np.float32)
    pathological = rng.uniform(-1, 1, (256, PAPER_CHANNELS, PAPER_SIZE, PAPER_SIZE)).astype(np.float32)
    batches = DomainBatches(healthy, pathological, 4, 0, torch.device(device), augment=Augmenter())
    step = iter(range(10**9))

    def run():
        out = batches.batch(next(step))
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    benchmark.pedantic(run, rounds=20, warmup_rounds=2, iterations=1)
    record_rate(benchmark, "slices_per_s", 8)


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synthetic"), patients=2, size=PAPER_SIZE, progress=False)


def test_preprocess_volumes(benchmark, synthetic_folder):
    """Read, normalise and slice two 240 x 240 x 155 four-modality cases (no cache)."""
    dataset = create("dataset", "brats2021", synthetic_folder)
    table = benchmark.pedantic(
        lambda: prepare_slices(dataset, PreprocessConfig(), None, progress=False), rounds=2, iterations=1
    )
    record_rate(benchmark, "slices_per_s", len(table))
