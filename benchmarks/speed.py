"""Timing training steps and inference: models built at a given size, steps per second with variants measured in
turns, FLOPs, peak memory, the device's matrix-multiply rate (the denominator of MFU) and where a step's time goes.

Used by the benchmark suites, the device check (``gpu_check.sh``) and, as a script, to profile one step::

    python benchmarks/speed.py --model pathogan --size 64 --width 0.125 --threads 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.registry import get_registry

PAPER_SIZE = 240
PAPER_CHANNELS = 4
PAPER_BATCH = 4
MODALITIES = ("flair", "t1", "t1c", "t2")


def build(
    model: str,
    size: int,
    channels: int,
    width: float | None,
    device: str,
    batch: int = 4,
    amp: bool = False,
    channels_last: bool = False,
    loss_set: str = "full",
    **options: Any,
) -> SegmentationModel:
    """A registered model for ``channels`` x ``size`` x ``size`` images on ``device`` (seed it first)."""
    registry = get_registry()
    ctx = ModelContext(
        in_channels=channels,
        image_size=size,
        modalities=MODALITIES[:channels],
        device=torch.device(device),
        total_steps=10_000,
        loss_terms=resolve_loss_set(registry, loss_set),
        loss_set=loss_set,
        batch_size=batch,
        amp=amp,
        channels_last=channels_last,
        registry=registry,
    )
    if width is not None:
        options["width"] = width
    return registry.create("model", model, ctx, **options).to(device)


def fake_batch(supervision: str, batch: int, channels: int, size: int, device: str) -> dict[str, torch.Tensor]:
    """A training batch of uniform noise in [-1, 1] for a model of ``supervision`` (a fixed draw)."""
    gen = torch.Generator().manual_seed(0)

    def images() -> torch.Tensor:
        return (torch.rand(batch, channels, size, size, generator=gen) * 2 - 1).to(device)

    if supervision == "full":
        mask = (torch.rand(batch, 1, size, size, generator=gen) > 0.8).float().to(device)
        return {"image": images(), "mask": mask}
    if supervision == "healthy":
        return {"x_a": images()}
    return {"x_a": images(), "x_b": images()}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(call: Callable[[int], Any], calls: int, device: str) -> float:
    """Seconds for ``call(0) ... call(calls - 1)``, the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    for i in range(calls):
        call(i)
    sync(device)
    return time.perf_counter() - start


def interleaved_rates(
    variants: dict[str, Callable[[int], Any]], rounds: int, calls: int, device: str
) -> dict[str, list[float]]:
    """Calls per second of each variant, ``calls`` at a time, the variants in turns (and in reverse order every
    other round), so that a change in the machine's load falls on all of them alike."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            rates[name].append(calls / timed(variants[name], calls, device))
    return rates


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def flops_of(call: Callable[[], Any]) -> int:
    """Floating-point operations of one call (matrix products and convolutions, forward and backward)."""
    counter = FlopCounterMode(display=False)
    with counter:
        call()
    return int(counter.get_total_flops())


def matmul_rate(device: str) -> tuple[float, str]:
    """FLOP/s of a large matrix product on ``device`` and what was multiplied: bf16 8192 x 8192 on CUDA (the
    denominator of MFU), float32 1024 x 1024 on the CPU."""
    cuda = device.startswith("cuda")
    n, dtype, repeats = (8192, torch.bfloat16, 10) if cuda else (1024, torch.float32, 3)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    seconds = timed(lambda _: a @ b, repeats, device)
    return 2 * n**3 * repeats / seconds, f"{str(dtype).removeprefix('torch.')} {n}x{n}x{n} matmul"


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib(device: str) -> float | None:
    """The most device memory allocated since :func:`reset_peak_memory` (None on the CPU)."""
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def profile_rows(call: Callable[[int], Any], calls: int, device: str, top: int = 15) -> list[dict[str, Any]]:
    """Where the time of ``calls`` calls goes: the operators with the most self time (device time on CUDA), per
    call, with their share of the total."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        timed(call, calls, device)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    self_time = [(e, e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events]
    total = sum(t for _, t in self_time) or 1.0
    self_time.sort(key=lambda pair: -pair[1])
    return [
        {"operator": e.key, "ms_per_call": t / 1e3 / calls, "share": t / total, "count_per_call": e.count / calls}
        for e, t in self_time[:top]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Where one training step's time goes (torch profiler).")
    parser.add_argument("--model", default="pathogan")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=PAPER_CHANNELS)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--batch", type=int, default=PAPER_BATCH)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--option", action="append", default=[], help="model option KEY=true|false|NUMBER")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: {"true": True, "false": False}.get(v, v) for k, v in (o.split("=", 1) for o in args.option)}
    torch.manual_seed(0)
    model = build(args.model, args.size, args.channels, args.width, args.device, args.batch, **options)
    batch = fake_batch(type(model).supervision, args.batch, args.channels, args.size, args.device)
    for i in range(2):
        model.train_step(batch, i)
    flops = flops_of(lambda: model.train_step(batch, 2))
    seconds = timed(lambda i: model.train_step(batch, i), args.steps, args.device) / args.steps
    print(
        f"{args.model} at {args.size} px, width {args.width}, batch {args.batch}, {args.channels} channels, "
        f"{args.device}, {args.threads} thread(s): {1 / seconds:.2f} steps/s, {flops / 1e9:.1f} GFLOP per step, "
        f"{flops / seconds / 1e9:.1f} GFLOP/s"
    )
    print(f"{'operator':40s} {'ms/step':>9s} {'share':>7s} {'calls/step':>10s}")
    for row in profile_rows(lambda i: model.train_step(batch, i), args.steps, args.device):
        print(f"{row['operator']:40s} {row['ms_per_call']:9.2f} {row['share']:7.1%} {row['count_per_call']:10.0f}")


if __name__ == "__main__":
    main()
