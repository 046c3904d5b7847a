"""What the CUDA checks (tests/test_cuda.py) decide without a GPU: the device they run on, how far bf16 may be from
float32, and the tiny options each model is built with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: the device the CUDA checks run on: "cuda" (fail when there is none), "cpu" (the device check's dry run) or "auto"
CHECK_DEVICE_ENV = "PATHOGAN_BENCH_CHECK_DEVICE"


def check_device(requested: str | None, cuda_available: bool) -> str | None:
    """The device the CUDA checks run on; None when they are to be skipped (no GPU, nothing asked).

    Asking for CUDA on a machine without it is an error, not a skip: the
    device check must not pass on a broken GPU by skipping everything.
    """
    requested = (requested or "auto").strip()
    if requested == "auto":
        return "cuda" if cuda_available else None
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not cuda_available:
            raise RuntimeError(f"{CHECK_DEVICE_ENV}={requested}: CUDA is not available on this machine")
        return requested
    raise ValueError(f"{CHECK_DEVICE_ENV}={requested!r}: expected auto, cpu or cuda")


@dataclass(frozen=True)
class Tolerance:
    """|candidate - reference| <= atol + rtol * |reference|, as numpy.isclose."""

    rtol: float
    atol: float

    def accepts(self, reference: float, candidate: float) -> bool:
        return math.isfinite(candidate) and abs(candidate - reference) <= self.atol + self.rtol * abs(reference)


#: how far a model's first training losses may be from float32's on the same weights, batch and seed. bf16 keeps 8
#: bits of mantissa (a relative rounding of 2^-9 per value); through a few dozen layers with normalisation that grows
#: to about 1 % of a loss, and 5 % leaves room without hiding a wrong cast or layout (those move a loss by its size).
LOSS_TOLERANCE = {"float32": Tolerance(rtol=1e-5, atol=1e-6), "bfloat16": Tolerance(rtol=0.05, atol=0.02)}
#: the same for probability maps: the mean absolute difference of two segmentations of the same images
MAP_TOLERANCE = {"float32": 1e-5, "bfloat16": 0.02}


def loss_mismatches(reference: dict[str, float], candidate: dict[str, float], tolerance: Tolerance) -> list[str]:
    """Every loss of ``candidate`` that ``tolerance`` does not accept against ``reference``, one line each, and every
    name only one of them logged."""
    problems = [f"{name}: logged by one run only" for name in sorted(set(reference) ^ set(candidate))]
    for name in sorted(set(reference) & set(candidate)):
        if not math.isfinite(reference[name]):
            problems.append(f"{name}: the reference is not finite ({reference[name]})")
        elif not tolerance.accepts(reference[name], candidate[name]):
            problems.append(
                f"{name}: {candidate[name]:.6g} against {reference[name]:.6g} "
                f"(allowed: {tolerance.atol:g} + {tolerance.rtol:g} x |reference|)"
            )
    return problems


#: options that make each built-in model small enough for a step in a second or two on a CPU
TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "pathogan": {"width": 0.125, "z": 8},
    "cyclegan": {"width": 1 / 16},
    "mdgru": {"width": 0.25, "kernel": 3},
    "unet": {"width": 1 / 16, "levels": 3},
    "dae": {"width": 0.0625},
    "anoddpm": {"width": 0.0625, "timesteps": 100, "level": 50, "sampling_steps": 5},
    "diffusion-guided": {"width": 0.0625, "timesteps": 100, "level": 50, "sampling_steps": 5},
    "threshold": {},
}


def tiny_options(name: str, model_class: Any) -> dict[str, Any]:
    """The tiny options of a built-in model; for any other registered model its quick preset's options, at width
    0.125 when it takes a width."""
    if name in TINY_OPTIONS:
        return dict(TINY_OPTIONS[name])
    options = dict(getattr(model_class, "preset_options", {}).get("quick", {}))
    known = model_class.option_names()
    if known is None or "width" in known:
        options["width"] = 0.125
    return options
