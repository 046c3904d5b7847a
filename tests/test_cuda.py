"""The CUDA path: a training step of every registered model on the GPU, bf16 against float32 from the same seed,
--compile, and a run killed mid-training and resumed against one trained straight through.

Marked ``cuda`` and skipped without a GPU. With ``PATHOGAN_BENCH_CHECK_DEVICE=cpu`` they run on the CPU at the same
tiny sizes (``benchmarks/gpu_check.sh --dry-run``), so that they cannot rot on machines without one; bf16 autocast
and channels-last are CUDA-only, so there the precision check compares float32 with float32.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_RUN, invoke_cli
from device_check import CHECK_DEVICE_ENV, LOSS_TOLERANCE, MAP_TOLERANCE, check_device, loss_mismatches, tiny_options
from safetensors.torch import load_file
from test_baselines import brain_images, square_mask

from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.engine.checkpoint import latest_checkpoint
from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.engine.model_options import model_class
from pathogan_bench.registry import get_registry

pytestmark = pytest.mark.cuda

SIZE, BATCH, MODALITIES = 32, 2, ("flair", "t1", "t1c", "t2")
MODELS = get_registry().names("model")
#: the tiny PathoGAN of the run-level checks
RUN_MODEL = ("--model", "pathogan", "--model-option", "width=0.0625", "--model-option", "z=8")


@pytest.fixture(scope="module")
def device() -> str:
    chosen = check_device(os.environ.get(CHECK_DEVICE_ENV), torch.cuda.is_available())
    if chosen is None:
        pytest.skip(f"needs a CUDA GPU ({CHECK_DEVICE_ENV}=cpu runs these checks on the CPU)")
    return chosen


def build(name: str, device: str, bf16: bool, seed: int = 0) -> SegmentationModel:
    """A tiny model on ``device``; ``bf16``: autocast and channels-last as a CUDA run has them."""
    registry = get_registry()
    cuda = device.startswith("cuda")
    entry = model_class(registry.get("model", name))
    ctx = ModelContext(
        in_channels=len(MODALITIES),
        image_size=SIZE,
        modalities=MODALITIES,
        device=torch.device(device),
        total_steps=10,
        loss_terms=resolve_loss_set(registry, "full") if entry.uses_loss_set else (),
        loss_set="full" if entry.uses_loss_set else "",
        batch_size=BATCH,
        amp=bf16 and cuda,
        channels_last=bf16 and cuda,
        registry=registry,
    )
    torch.manual_seed(seed)
    return registry.create("model", name, ctx, **tiny_options(name, entry)).to(device)


def batch_for(model: SegmentationModel, device: str, seed: int = 0) -> dict[str, torch.Tensor]:
    images = brain_images(BATCH, SIZE, seed=seed).to(device)
    if model.supervision == "full":
        return {"image": images, "mask": square_mask(BATCH, SIZE).to(device)}
    if model.supervision == "healthy":
        return {"x_a": images}
    return {"x_a": images, "x_b": brain_images(BATCH, SIZE, seed=seed + 1).to(device)}


def first_losses(model: SegmentationModel, device: str) -> dict[str, float]:
    torch.manual_seed(1)
    return {k: float(v) for k, v in model.train_step(batch_for(model, device), 0).items()}


def on_device(tensor: torch.Tensor, device: str) -> bool:
    return tensor.device.type == torch.device(device).type


# -- every model on the device ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_and_segments_on_the_device(device, name):
    model = build(name, device, bf16=True)
    placed = [k for k, v in model.state_dict().items() if isinstance(v, torch.Tensor) and not on_device(v, device)]
    assert not placed, f"{name}: not on {device}: {placed[:5]}"
    images = brain_images(3, SIZE, seed=5).to(device)
    if model.trainable:
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        for step in range(2):
            losses = model.train_step(batch_for(model, device, seed=step), step)
            assert losses, f"{name}: train_step logged nothing"
            for key, value in losses.items():
                assert value.dim() == 0 and not value.requires_grad and on_device(value, device), key
                assert torch.isfinite(value), f"{name}: {key} = {float(value)}"
        changed = [k for k, v in model.named_parameters() if not torch.equal(before[k], v.detach())]
        assert changed, f"{name}: two steps changed no weight"
    model.calibrate(brain_images(4, SIZE, seed=6).to(device))
    probability = model.segment(images)
    assert probability.shape == (3, SIZE, SIZE) and probability.dtype == torch.float32
    assert torch.isfinite(probability).all() and 0 <= probability.min() and probability.max() <= 1


@pytest.mark.parametrize("name", [n for n in MODELS if model_class(get_registry().get("model", n)).trainable])
def test_a_training_step_never_waits_for_the_gpu(device, name):
    """The model contract: train_step does not synchronise with the host (a sync stalls the launch queue)."""
    if not device.startswith("cuda"):
        pytest.skip("host synchronisation is a CUDA matter")
    model = build(name, device, bf16=True)
    model.train_step(batch_for(model, device), 0)  # first use: library handles, caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        model.train_step(batch_for(model, device, seed=1), 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# -- precision -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in MODELS if model_class(get_registry().get("model", n)).trainable])
def test_bf16_gives_the_float32_losses_and_maps_within_tolerance(device, name):
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    reference, fast = build(name, device, bf16=False), build(name, device, bf16=True)
    images = brain_images(3, SIZE, seed=5).to(device)
    torch.manual_seed(2)
    expected_map = reference.segment(images)
    torch.manual_seed(2)
    got_map = fast.segment(images)
    problems = loss_mismatches(first_losses(reference, device), first_losses(fast, device), LOSS_TOLERANCE[dtype])
    difference = float((got_map - expected_map).abs().mean())
    if not difference <= MAP_TOLERANCE[dtype]:
        problems.append(f"segmentation: mean |difference| {difference:.3g} > {MAP_TOLERANCE[dtype]:g}")
    assert not problems, f"{name} in {dtype} against float32:\n" + "\n".join(problems)


# -- whole runs (the compiled one last: compiling takes the longest) -------------------------------------------------


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RUN.replace("checkpoint_every = 1000", "checkpoint_every = 2"))
    return path


def run_command(config: Path, out: Path, name: str, device: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pathogan_bench",
        "run",
        "--config",
        str(config),
        *RUN_MODEL,
        "--steps",
        "100000",
        "--deterministic",
        "--device",
        device,
        "--out",
        str(out),
        "--name",
        name,
        *extra,
    ]


def weights(checkpoint_json: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint_json.with_suffix(".safetensors")))


@pytest.mark.slow
def test_a_killed_and_resumed_run_equals_one_trained_straight_through(device, tiny_config, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "runs"
    killed = subprocess.Popen(
        run_command(tiny_config, out, "killed", device), stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    folder = out / "killed" / "checkpoints"
    deadline = time.monotonic() + 240
    while latest_checkpoint(folder) is None and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # no chance to save: resume from the last complete checkpoint
    _, killed_err = killed.communicate(timeout=60)
    saved = latest_checkpoint(folder)
    assert saved is not None, f"no checkpoint before the kill: {killed_err[-2000:]}"
    stop = int(saved.stem.split("-")[1]) + 4
    resumed = subprocess.run(
        [sys.executable, "-m", "pathogan_bench", "run", "--resume", str(out / "killed"), "--stop-at", str(stop)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(
        run_command(tiny_config, out, "straight", device, "--stop-at", str(stop)),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert straight.returncode == 0, straight.stderr
    got = weights(out / "killed" / "checkpoints" / f"step-{stop:08d}.json")
    expected = weights(out / "straight" / "checkpoints" / f"step-{stop:08d}.json")
    assert got.keys() == expected.keys()
    differing = sorted(
        (
            (float((got[k].double() - expected[k].double()).abs().max()), k)
            for k in got
            if not torch.equal(got[k], expected[k])
        ),
        reverse=True,
    )
    nondeterministic = sorted({line for line in straight.stderr.splitlines() if "deterministic" in line})
    assert not differing, (
        f"{len(differing)} of {len(got)} tensors differ after a kill at step {saved.stem} and a resume to {stop} "
        f"(largest: {differing[:3]}); torch said: {nondeterministic[:5]}"
    )


@pytest.mark.slow
def test_compile_trains_or_falls_back_with_one_message(device, tiny_config, tmp_path):
    """On CUDA the networks compile as a run compiles them (inductor, CUDA graphs); on the CPU they are traced with
    aot_eager instead, since inductor's C++ code for six networks takes minutes to build there."""
    if not device.startswith("cuda"):
        tiny_config.write_text(tiny_config.read_text().replace("[train]\n", '[train]\ncompile_backend = "aot_eager"\n'))
    code, _, err = invoke_cli(
        "run",
        "--config",
        tiny_config,
        *RUN_MODEL,
        "--steps",
        "6",
        "--stop-at",
        "3",
        "--compile",
        "--device",
        device,
        "--out",
        tmp_path,
        "--name",
        "compiled",
    )
    assert code == 0, err
    facts = json.loads((tmp_path / "compiled" / "run.json").read_text())
    compiled = facts["compiled"]
    assert compiled["networks"] and facts["steps_done"] == 3
    said = [line for line in err.splitlines() if "torch.compile" in line]
    assert len(said) == (1 if compiled["eager_fallbacks"] else 0), err
    losses = pd.read_csv(tmp_path / "compiled" / "losses.csv")
    assert losses.drop(columns=["step"]).notna().all().all()
    print(f"compiled {compiled['mode']}: {compiled['networks']}; eager fallbacks: {compiled['eager_fallbacks']}")
