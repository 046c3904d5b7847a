"""The device check's speed stage: training steps and volume inference at the paper's size, each beside an eager
float32 step of the same model in the same process; steps/s, peak memory, FLOPs, achieved TFLOP/s and MFU.

    python benchmarks/gpu_speed.py --json speed.json --seconds 150 [--dry-run]

Measurements run in order of importance until ``--seconds`` are spent; the rest are listed as not measured. Each
row is written to ``--json`` as soon as it is measured, so a stage stopped from outside keeps what it had. MFU is
the achieved FLOP/s over a large bf16 matrix product's on the same device (float32 on the CPU), measured first.
``--dry-run``: the same measurements at tiny sizes on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from speed import (
    PAPER_BATCH,
    PAPER_CHANNELS,
    PAPER_SIZE,
    build,
    fake_batch,
    flops_of,
    matmul_rate,
    peak_memory_gib,
    reset_peak_memory,
    timed,
)

#: shared/TARGETS.md, per measurement kind and model: (what, the test on the measured row)
TARGETS: dict[tuple[str, str], tuple[str, Any]] = {
    ("train", "pathogan"): (">= 30 steps/s", lambda row: row["steps_per_s"] >= 30),
    ("train", "cyclegan"): (">= 30 it/s", lambda row: row["steps_per_s"] >= 30),
    ("train", "mdgru"): ("<= 100 ms per step", lambda row: row["ms_per_step"] <= 100),
    ("volume", "*"): ("< 0.5 s per volume", lambda row: row["seconds_per_volume"] < 0.5),
}
VOLUME_SLICES = 155
#: options that keep the dry run's models tiny
DRY_OPTIONS: dict[str, dict[str, Any]] = {
    "pathogan": {"width": 0.0625, "z": 8},
    "cyclegan": {"width": 0.0625},
    "mdgru": {"width": 0.25, "kernel": 3},
    "unet": {"width": 0.0625, "levels": 3},
}


@dataclass(frozen=True)
class Measurement:
    """One row to measure: a model's training step or a whole volume's segmentation, in one variant."""

    kind: str  # "train" or "volume"
    model: str
    variant: str
    bf16: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    compile: bool = False


def plan() -> list[Measurement]:
    """What the stage measures, most important first: each model's fp32 and bf16 step, the volumes, then the
    PathoGAN variants (one call per pass, paired discriminators, compiled)."""
    rows = []
    for model in ("pathogan", "cyclegan", "mdgru"):
        rows.append(Measurement("train", model, "fp32 eager", bf16=False))
        rows.append(Measurement("train", model, "bf16 channels-last"))
    rows += [Measurement("volume", model, "bf16 channels-last") for model in ("pathogan", "cyclegan", "mdgru", "unet")]
    rows.append(Measurement("train", "pathogan", "bf16, one call per pass", options={"batched_passes": False}))
    rows.append(
        Measurement("train", "pathogan", "bf16, paired discriminators", options={"paired_discriminators": True})
    )
    rows.append(Measurement("train", "pathogan", "bf16, compiled (reduce-overhead)", compile=True))
    return rows


@dataclass(frozen=True)
class Size:
    size: int
    channels: int
    batch: int

    @classmethod
    def for_run(cls, dry_run: bool) -> Size:
        return cls(32, PAPER_CHANNELS, 2) if dry_run else cls(PAPER_SIZE, PAPER_CHANNELS, PAPER_BATCH)


#: slices segmented at a time in the volume measurement
VOLUME_BATCH = 32


def target_of(kind: str, model: str) -> tuple[str, Any] | None:
    return TARGETS.get((kind, model)) or TARGETS.get((kind, "*"))


def measure(m: Measurement, size: Size, device: str, dry_run: bool, seconds: float, peak: float) -> dict[str, Any]:
    """One row: the measurement's numbers, within about ``seconds`` (at least one timed call)."""
    torch.manual_seed(0)
    options = {**(DRY_OPTIONS[m.model] if dry_run else {}), **m.options}
    width = options.pop("width", None)
    cuda = device.startswith("cuda")
    model = build(
        m.model,
        size.size,
        size.channels,
        width,
        device,
        size.batch,
        amp=m.bf16 and cuda,
        channels_last=m.bf16 and cuda,
        **options,
    )
    row: dict[str, Any] = {}
    # a dry run checks that each measurement runs: a few calls are enough
    most = 3 if dry_run else 50
    if m.kind == "train":
        row.update(_train_step(model, m, size, device, seconds, most, dry_run))
    else:
        row.update(_volume(model.eval(), size, device, seconds, min(most, 5)))
    if row.get("flops_per_s"):
        row["tflops_per_s"] = row["flops_per_s"] / 1e12
        row["mfu"] = row["flops_per_s"] / peak
    return row


def _train_step(
    model: Any, m: Measurement, size: Size, device: str, seconds: float, most: int, dry_run: bool
) -> dict[str, Any]:
    batch = fake_batch(type(model).supervision, size.batch, size.channels, size.size, device)
    started = time.perf_counter()
    flops = flops_of(lambda: model.train_step(batch, 0))  # counted eagerly: compiling changes no arithmetic
    slow = time.perf_counter() - started > 1.0
    compiled = None
    if m.compile:
        from pathogan_bench.engine.build import compile_networks

        # a dry run traces the networks without generating code: inductor's C++ build takes minutes on a CPU
        compiled = compile_networks(model, "reduce-overhead", "aot_eager" if dry_run else "inductor")
    # warm-up (caches, autotuning, compilation); a step of over a second has had its warm-up in the FLOP count
    for i in range(2 if compiled is not None or not slow else 0):
        model.train_step(batch, 1 + i)
    per_step, steps, peak = _rate(
        lambda i: model.train_step(batch, 3 + i), seconds - (time.perf_counter() - started), most, device
    )
    row = {
        "steps": steps,
        "steps_per_s": 1 / per_step,
        "ms_per_step": per_step * 1e3,
        "peak_memory_gib": peak,
        "gflop_per_step": flops / 1e9,
        "flops_per_s": flops / per_step,
    }
    if compiled is not None:
        row["eager_fallbacks"] = compiled.eager_fallbacks
    return row


def _rate(call: Any, seconds: float, most: int, device: str) -> tuple[float, int, float | None]:
    """Seconds per call (one timed call, then as many more as fit in ``seconds``, at most ``most``), the number of
    calls timed and the peak memory while timing."""
    reset_peak_memory(device)
    first = timed(call, 1, device)
    more = min(most - 1, int((seconds - first) / max(first, 1e-6)))
    if more < 1:
        return first, 1, peak_memory_gib(device)
    return timed(lambda i: call(1 + i), more, device) / more, more, peak_memory_gib(device)


def _volume(model: Any, size: Size, device: str, seconds: float, most: int) -> dict[str, Any]:
    """A whole volume (155 slices), segmented VOLUME_BATCH slices at a time."""
    volume = torch.rand(VOLUME_SLICES, size.channels, size.size, size.size, device=device) * 2 - 1

    def segment(_: int) -> None:
        with torch.no_grad():
            for start in range(0, VOLUME_SLICES, VOLUME_BATCH):
                model.segment(volume[start : start + VOLUME_BATCH])

    started = time.perf_counter()
    flops = flops_of(lambda: segment(0))  # also the warm-up
    per_volume, repeats, peak = _rate(segment, seconds - (time.perf_counter() - started), most, device)
    return {
        "repeats": repeats,
        "seconds_per_volume": per_volume,
        "peak_memory_gib": peak,
        "gflop_per_volume": flops / 1e9,
        "flops_per_s": flops / per_volume,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1))
    os.replace(partial, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="where the rows go (rewritten after each row)")
    parser.add_argument("--seconds", type=float, default=150, help="the stage's time")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    args = parser.parse_args()
    deadline = time.perf_counter() + args.seconds
    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_speed.py: no CUDA GPU on this machine (--dry-run measures on the CPU)")
    size = Size.for_run(args.dry_run)
    rate, what = matmul_rate(device)
    measurements = plan()
    rows: list[dict[str, Any]] = []
    for m in measurements:
        target = target_of(m.kind, m.model)
        width = (DRY_OPTIONS[m.model] if args.dry_run else m.options).get("width", 1.0)
        shape = {"batch": size.batch, "size": size.size, "channels": size.channels, "width": width}
        if m.kind == "volume":
            shape.update(slices=VOLUME_SLICES, batch=VOLUME_BATCH)
        rows.append({**asdict(m), **shape, "target": target[0] if target else "", "status": "pending"})
    out: dict[str, Any] = {"device": device, "matmul": {"flops_per_s": rate, "what": what}, "rows": rows}
    write_json(args.json, out)
    for index, (m, row) in enumerate(zip(measurements, rows)):
        left = deadline - time.perf_counter()
        if left < 5:
            row["status"] = "not measured: the stage's time was spent"
            continue
        # an even share of the time left (at least 10 s), so that each fp32 reference and its bf16 row fit
        share = min(left, max(10.0, left / (len(measurements) - index)))
        started = time.perf_counter()
        try:
            row.update(measure(m, size, device, args.dry_run, share * 0.8, rate))
            row["status"] = "measured"
            target = target_of(m.kind, m.model)
            if target and not args.dry_run:  # the targets are for the paper's size
                row["met"] = bool(target[1](row))
        except Exception as exc:  # a failing variant (out of memory, a compiler error) must not stop the others
            lines = str(exc).strip().splitlines()
            row["status"] = f"failed: {type(exc).__name__}: {lines[0] if lines else ''}"[:300]
        row["seconds_spent"] = time.perf_counter() - started
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        write_json(args.json, out)
        print(f"{m.model} {m.kind}, {m.variant}: {row['status']} ({row['seconds_spent']:.1f} s)", flush=True)
    write_json(args.json, out)


if __name__ == "__main__":
    main()
