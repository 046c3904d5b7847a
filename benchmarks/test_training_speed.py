"""Training-step and inference throughput of every model.

CPU suites use small images and widths, so they run anywhere; the CUDA
suites run the paper's size (240 x 240, 4 channels, batch 4) and also
record achieved TFLOP/s (PyTorch's FLOP counter) and peak GPU memory in the
benchmark's ``extra_info``.
"""

from __future__ import annotations

import pytest
import torch
from conftest import PAPER_BATCH, PAPER_CHANNELS, PAPER_SIZE, build, fake_batch, mean_seconds, record_rate, sync
from torch.utils.flop_counter import FlopCounterMode

MODELS = ["pathogan", "cyclegan", "mdgru", "unet"]


def supervision_of(model) -> str:
    return type(model).supervision


@pytest.mark.parametrize("name", MODELS)
def test_train_step_cpu_small(benchmark, name):
    torch.manual_seed(0)
    model = build(name, size=64, channels=2, width=0.125, device="cpu")
    batch = fake_batch(supervision_of(model), 4, 2, 64, "cpu")
    model.train_step(batch, 0)  # warm-up
    step = iter(range(1, 10**9))
    benchmark.pedantic(lambda: model.train_step(batch, next(step)), rounds=5, iterations=1)
    record_rate(benchmark, "images_per_s", 4)


@pytest.mark.parametrize("name", MODELS)
def test_segment_cpu_small(benchmark, name):
    model = build(name, size=64, channels=2, width=0.125, device="cpu").eval()
    images = fake_batch("weak", 32, 2, 64, "cpu")["x_b"]
    with torch.no_grad():
        benchmark.pedantic(lambda: model.segment(images), rounds=5, iterations=1)
    record_rate(benchmark, "slices_per_s", 32)


def _flops_per_step(model, batch) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model.train_step(batch, 0)
    return counter.get_total_flops()


@pytest.mark.parametrize("name", MODELS)
def test_train_step_cuda_paper_size(benchmark, cuda_device, name):
    torch.manual_seed(0)
    model = build(
        name,
        size=PAPER_SIZE,
        channels=PAPER_CHANNELS,
        width=1.0,
        device=cuda_device,
        batch=PAPER_BATCH,
        amp=True,
        channels_last=True,
    )
    batch = fake_batch(supervision_of(model), PAPER_BATCH, PAPER_CHANNELS, PAPER_SIZE, cuda_device)
    flops = _flops_per_step(model, batch)
    for i in range(5):
        model.train_step(batch, i)
    sync(cuda_device)
    torch.cuda.reset_peak_memory_stats()
    step = iter(range(10, 10**9))

    def run():
        for _ in range(10):
            model.train_step(batch, next(step))
        sync(cuda_device)

    benchmark.pedantic(run, rounds=3, iterations=1)
    mean = mean_seconds(benchmark)
    if mean is None:
        return
    seconds_per_step = mean / 10
    benchmark.extra_info.update(
        steps_per_s=1 / seconds_per_step,
        images_per_s=PAPER_BATCH / seconds_per_step,
        tflop_per_step=flops / 1e12,
        tflops_per_s=flops / seconds_per_step / 1e12,
        peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30,
    )


@pytest.mark.parametrize("name", MODELS + ["threshold"])
def test_segment_volume_cuda(benchmark, cuda_device, name):
    """A whole 240 x 240 x 155 volume, slice-batched (target: < 0.5 s)."""
    model = build(name, size=PAPER_SIZE, channels=PAPER_CHANNELS, width=1.0, device=cuda_device).eval()
    volume = torch.rand(155, PAPER_CHANNELS, PAPER_SIZE, PAPER_SIZE, device=cuda_device) * 2 - 1

    def run():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            for start in range(0, 155, 32):
                model.segment(volume[start : start + 32])
        sync(cuda_device)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
