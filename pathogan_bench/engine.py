"""The run: data -> model -> training -> segmentation -> scores -> report.

This module wires components together by registry name only; it never
imports a model, loss, dataset or metric implementation.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from . import __version__
from .batches import DomainBatches, MaskedBatches
from .config import RunConfig, to_toml
from .errors import UserError
from .io import write_json, write_text
from .losses import loss_set_pairs, resolve_loss_set
from .model import ModelContext, SegmentationModel
from .registry import get_registry
from .rundir import attach_log, new_run_dir
from .trainer import Trainer

log = logging.getLogger("pathogan_bench")


@dataclass
class RunResult:
    run_dir: Path
    summary: Any = None


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"--device {name}: expected auto, cpu or cuda")
    return name


def cache_dir(config: RunConfig) -> Path:
    if config.data.cache_dir:
        return Path(config.data.cache_dir).expanduser()
    env = os.environ.get("PATHOGAN_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pathogan-bench"


# -- data ------------------------------------------------------------------
@dataclass
class PreparedData:
    table: Any  # pathogan_bench.data.SliceTable
    splits: dict[str, list[str]]
    dataset_name: str
    data_path: str


def prepare_data(config: RunConfig, console: Console | None = None) -> PreparedData:
    """Load (or generate), preprocess and split the run's data."""
    from . import data as datalib

    registry = get_registry()
    cache = cache_dir(config)
    dcfg = config.data
    if dcfg.path:
        root = Path(dcfg.path).expanduser()
        if not root.exists():
            raise UserError(f"{root}: data folder not found")
        dataset_name = dcfg.dataset
    else:
        root = datalib.synthetic_root(cache, patients=dcfg.synthetic_patients, size=dcfg.synthetic_size,
                                      seed=config.seed, modalities=tuple(dcfg.modalities) or None)
        dataset_name = "synthetic" if dcfg.dataset == "auto" else dcfg.dataset
    dataset = registry.create("dataset", dataset_name, root, modalities=list(dcfg.modalities) or None,
                              skip_bad_cases=dcfg.skip_bad_cases)
    pre = _preprocess_config(datalib, dcfg, dataset)
    table = datalib.prepare_slices(dataset, pre, cache / "slices")
    split_seed = dcfg.split_seed if dcfg.split_seed >= 0 else config.seed
    splits = table.split_patients(tuple(dcfg.split), seed=split_seed)
    return PreparedData(table, splits, dataset_name, str(root))


def _preprocess_config(datalib: Any, dcfg: Any, dataset: Any) -> Any:
    kwargs: dict[str, Any] = {
        "image_size": dcfg.image_size or None,
        "pathological_min_pixels": dcfg.pathological_min_pixels,
        "skip_bad_cases": dcfg.skip_bad_cases,
    }
    if dcfg.slice_range:
        if len(dcfg.slice_range) != 2:
            raise UserError(f"data.slice_range: expected [first, last], got {dcfg.slice_range}")
        kwargs["slice_range"] = tuple(dcfg.slice_range)
    elif getattr(dataset, "default_slice_range", None) is not None:
        kwargs["slice_range"] = tuple(dataset.default_slice_range)
    return datalib.PreprocessConfig(**kwargs)


def split_indices(table: Any, splits: dict[str, list[str]], split: str) -> np.ndarray:
    members = np.isin(table.patient, np.asarray(splits.get(split, []), dtype=table.patient.dtype))
    return np.flatnonzero(members)


# -- model -----------------------------------------------------------------
def build_model(config: RunConfig, table: Any, device: torch.device, total_steps: int) -> SegmentationModel:
    registry = get_registry()
    entry = registry.get("model", config.model)
    terms = resolve_loss_set(registry, config.loss_set, config.loss, config.without, config.loss_sets)
    cuda = device.type == "cuda"
    ctx = ModelContext(
        in_channels=int(table.images.shape[1]),
        image_size=int(table.images.shape[-1]),
        modalities=tuple(table.modalities),
        device=device,
        total_steps=total_steps,
        loss_terms=terms,
        loss_set=config.loss_set,
        batch_size=config.train.batch_size,
        amp=config.train.amp and cuda,
        channels_last=config.train.channels_last and cuda,
        deterministic=config.train.deterministic,
        registry=registry,
    )
    try:
        model = entry.spec.factory(ctx, **config.model_options)
    except TypeError as exc:
        raise UserError(f"model '{config.model}': bad model_options {config.model_options}: {exc}") from None
    model = model.to(device)
    if config.train.compile:
        compile_networks(model, config.train.compile_mode)
    return model


def compile_networks(model: torch.nn.Module, mode: str = "reduce-overhead") -> None:
    """torch.compile each network of the model; a network that fails to compile runs eagerly.

    At batch 4 these networks are bound by kernel launches, so the default
    mode is reduce-overhead (CUDA graphs); on the CPU it behaves as default.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # fall back to eager on compiler errors
    for name, child in model.named_children():
        if any(p.requires_grad for p in child.parameters()):
            try:
                child.compile(mode=mode)
            except Exception as exc:  # compile is optional; eager is always correct
                log.warning("torch.compile of %s failed (%s); running it eagerly", name, exc)


def model_supervision(name: str) -> str:
    """A model's supervision kind, from its registry entry, without building it."""
    spec = get_registry().get("model", name).spec
    return spec.tags.get("supervision") or getattr(spec.factory, "supervision", "weak")


def make_batches(supervision: str, config: RunConfig, table: Any, train_idx: np.ndarray, device: torch.device,
                 rank: int = 0, world: int = 1) -> Any:
    """Batches for the model's supervision kind; only a fully supervised model gets masks."""
    from . import data as datalib

    augment = datalib.Augmenter(datalib.AugmentConfig()) if config.data.augment else None
    seed = config.seed * 1009 + rank
    healthy_idx, patho_idx = datalib.select_training(
        table.subset(train_idx), config.data.n_healthy, config.data.n_pathological, seed=config.seed)
    healthy_idx, patho_idx = train_idx[healthy_idx], train_idx[patho_idx]
    if world > 1:  # each rank reads its own shard
        healthy_idx, patho_idx = healthy_idx[rank::world], patho_idx[rank::world]
    if len(patho_idx) == 0:
        raise UserError("the training split has no pathological slices; use more patients or another split")
    if supervision == "full":
        patho_idx = _label_fraction(table, patho_idx, config.data.label_fraction, config.seed)
        return MaskedBatches(table.images[patho_idx], table.masks[patho_idx], config.train.batch_size, seed, device, augment)
    if len(healthy_idx) == 0:
        raise UserError("the training split has no healthy slices; weakly supervised models need both domains")
    return DomainBatches(table.images[healthy_idx], table.images[patho_idx], config.train.batch_size, seed, device, augment)


def _label_fraction(table: Any, idx: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Keep the slices of a seeded ``fraction`` of the training patients (at least one)."""
    if fraction >= 1.0:
        return idx
    if not 0.0 < fraction:
        raise UserError(f"data.label_fraction must be in (0, 1], got {fraction}")
    patients = np.unique(table.patient[idx])
    keep = max(1, int(round(fraction * len(patients))))
    chosen = np.random.default_rng(seed).choice(patients, size=keep, replace=False)
    return idx[np.isin(table.patient[idx], chosen)]


# -- evaluation ------------------------------------------------------------
@torch.no_grad()
def predict(model: SegmentationModel, images: np.ndarray, device: torch.device, batch_size: int) -> np.ndarray:
    model.eval()
    out = np.empty((len(images),) + tuple(images.shape[-2:]), dtype=np.float16)
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)).to(device)
        out[start:start + len(chunk)] = model.segment(chunk).float().cpu().numpy()
    return out


def calibrate(model: SegmentationModel, table: Any, splits: dict[str, list[str]], device: torch.device) -> None:
    """Give the model healthy validation images (images only) to fit label-free rules."""
    for split in ("val", "train"):
        idx = split_indices(table, splits, split)
        healthy = idx[table.domain[idx] == 0]
        if len(healthy):
            model.calibrate(torch.from_numpy(np.ascontiguousarray(table.images[healthy[:256]], dtype=np.float32)).to(device))
            return


def evaluate_model(model: SegmentationModel, config: RunConfig, data: PreparedData, run_dir: Path,
                   device: torch.device) -> Path:
    """Segment the pathological slices of the evaluated splits and save predictions.npz."""
    table = data.table
    parts = []
    for split in config.eval.splits:
        idx = split_indices(table, data.splits, split)
        idx = idx[table.domain[idx] == 1]
        if len(idx):
            parts.append((split, idx))
    if not parts:
        raise UserError(f"no pathological slices in the evaluated splits {config.eval.splits}")
    idx = np.concatenate([i for _, i in parts])
    split_names = np.concatenate([np.full(len(i), s) for s, i in parts])
    prob = predict(model, table.images[idx], device, config.eval.batch_size)
    from .io import atomic_path

    with atomic_path(run_dir / "predictions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, prob=prob, mask=table.masks[idx], patient=table.patient[idx].astype(str),
                                z=table.z[idx], split=split_names.astype(str), threshold=np.float32(model.threshold),
                                index=idx)
    return run_dir / "predictions.npz"


def write_figures(model: SegmentationModel, config: RunConfig, data: PreparedData, run_dir: Path,
                  device: torch.device) -> list[Path]:
    """The paper's Fig. 2 for a few test slices (largest tumours first, then random)."""
    from . import figures

    table = data.table
    idx = split_indices(table, data.splits, "test")
    idx = idx[table.domain[idx] == 1]
    if not len(idx) or config.eval.figure_slices <= 0:
        return []
    area = table.masks[idx].reshape(len(idx), -1).sum(1)
    rng = np.random.default_rng(config.seed)
    chosen = list(idx[np.argsort(-area)[:1]]) + list(rng.choice(idx, size=min(len(idx), config.eval.figure_slices), replace=False))
    chosen = list(dict.fromkeys(int(i) for i in chosen))[: config.eval.figure_slices]
    images = torch.from_numpy(np.ascontiguousarray(table.images[chosen], dtype=np.float32)).to(device)
    model.eval()
    with torch.no_grad():
        prob, translated = model.segment_and_translate(images)
        prob = prob.float().cpu().numpy()
        extra = {k: v.float().cpu().numpy() for k, v in translated.items()}
    paths = []
    for j, i in enumerate(chosen):
        path = run_dir / "figures" / f"segmentation-{table.patient[i]}-z{int(table.z[i]):03d}.png"
        paths.append(figures.fig2(
            path, images[j].cpu().numpy(), prob[j], table.masks[i],
            inpaintings=extra.get("inpainting", [None] * len(chosen))[j] if "inpainting" in extra else None,
            translated=extra.get("translated", [None] * len(chosen))[j] if "translated" in extra else None,
            channel_names=tuple(table.modalities),
            title=f"{config.model} | {table.patient[i]} z={int(table.z[i])}",
        ))
    return paths


# -- the whole run ---------------------------------------------------------
def total_steps(config: RunConfig, batches: Any) -> int:
    if config.train.steps:
        return config.train.steps
    return max(1, math.ceil(config.train.epochs * batches.epoch_steps))


def run(config: RunConfig, resume_dir: Path | None = None, console: Console | None = None) -> RunResult:
    """Train, segment, score and report; returns the run directory and summary."""
    from .distributed import DistributedContext

    console = console or Console(stderr=True)
    # fail on unknown names before any data is read or generated
    model_supervision(config.model)
    loss_set_pairs(get_registry(), config.loss_set, config.loss, config.without, config.loss_sets)
    dist = DistributedContext.from_env(config.device)
    device = dist.device if dist.world > 1 else torch.device(resolve_device(config.device))
    if config.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(config.seed)

    run_dir = resume_dir if resume_dir is not None else (new_run_dir(config) if dist.rank == 0 else None)
    run_dir = dist.broadcast_path(run_dir)
    handler = attach_log(run_dir) if dist.rank == 0 else None
    try:
        if dist.rank == 0 and resume_dir is None:
            write_text(run_dir / "config.toml", to_toml(config))
        t0 = time.perf_counter()
        data = prepare_data(config, console)
        if dist.rank == 0:
            write_json(run_dir / "splits.json", data.splits)
        log.info("data %s: %d slices of %d patients (%s), split %s", data.data_path or "synthetic", len(data.table),
                 len(data.table.patients()), ", ".join(data.table.modalities),
                 " / ".join(f"{name} {len(members)}" for name, members in data.splits.items()))
        train_idx = split_indices(data.table, data.splits, "train")
        batches = make_batches(model_supervision(config.model), config, data.table, train_idx, device,
                               dist.rank, dist.world)
        steps = total_steps(config, batches)
        model = build_model(config, data.table, device, total_steps=steps)
        info = _run_info(config, model, data, device, steps, dist.world)
        if dist.rank == 0:
            write_json(run_dir / "run.json", {**info, "status": "training"})
        log.info("run %s: model %s (%s), %d steps on %s", run_dir, config.model, model.supervision, steps, device)
        trainer = Trainer(model, batches, config.train, run_dir, steps, config.seed, console, rank=dist.rank)
        if resume_dir is not None and trainer.resume():
            console.print(f"resuming {run_dir} at step {trainer.step} of {steps}")
        if getattr(model, "trainable", True):
            dist.wrap(model)
            trainer.fit()
        finished = trainer.step >= steps or not getattr(model, "trainable", True)
        log.info("trained to step %d of %d in %.1f s", trainer.step, steps, trainer.train_seconds)
        summary = None
        if finished and dist.rank == 0:
            calibrate(model, data.table, data.splits, device)
            trainer.save()  # the final checkpoint includes what calibration fitted
            evaluate_model(model, config, data, run_dir, device)
            info.update(status="done", train_seconds=round(trainer.train_seconds, 2),
                        total_seconds=round(time.perf_counter() - t0, 2), steps_done=trainer.step,
                        threshold=float(model.threshold))
            write_json(run_dir / "run.json", info)
            from .evaluation import evaluate_run
            from .report import print_summary

            summary = evaluate_run(run_dir)
            write_figures(model, config, data, run_dir, device)
            print_summary(summary, console=console)
            log.info("scored and reported in %.1f s; run finished", time.perf_counter() - t0 - trainer.train_seconds)
            console.print(f"run directory: [bold]{run_dir}[/bold]")
        elif dist.rank == 0:
            info.update(status="stopped", steps_done=trainer.step, train_seconds=round(trainer.train_seconds, 2))
            write_json(run_dir / "run.json", info)
            console.print(f"stopped at step {trainer.step} of {steps}; continue with: pathogan-bench run --resume {run_dir}")
        return RunResult(run_dir, summary)
    finally:
        if handler is not None:
            logging.getLogger("pathogan_bench").removeHandler(handler)
            handler.close()
        dist.close()


def _run_info(config: RunConfig, model: SegmentationModel, data: PreparedData, device: torch.device, steps: int,
              world: int) -> dict[str, Any]:
    table = data.table
    return {
        "model": config.model,
        "supervision": model.supervision,
        "loss_set": config.loss_set if model.uses_loss_set else "-",
        "dataset": data.dataset_name,
        "data": data.data_path or "synthetic",
        "skipped_cases": list(table.skipped),
        "modalities": list(table.modalities),
        "spacing": list(getattr(table, "spacing", (1.0, 1.0))),
        "image_size": int(table.images.shape[-1]),
        "seed": config.seed,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "world_size": world,
        "steps": steps,
        "parameters": sum(p.numel() for p in model.parameters()),
        "slices": {"healthy": int((table.domain == 0).sum()), "pathological": int((table.domain == 1).sum())},
        "torch": torch.__version__,
        "pathogan_bench": __version__,
    }


def load_trained_model(run_dir: Path, device: str = "auto") -> tuple[SegmentationModel, RunConfig, dict[str, Any]]:
    """Rebuild a run's model from its config and its latest checkpoint."""
    import json

    from .checkpoint import latest_checkpoint, load_checkpoint
    from .commands.run import resolve_config
    from .rundir import existing_run_dir

    run_dir = existing_run_dir(run_dir)
    config = resolve_config(run_dir / "config.toml")
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise UserError(f"{info_path}: missing; the run did not get past its start")
    info = json.loads(info_path.read_text())
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        raise UserError(f"{run_dir / 'checkpoints'}: no complete checkpoint; train the run first")
    torch_device = torch.device(resolve_device(device))

    class _Shape:  # what build_model reads of a slice table
        images = np.empty((0, len(info["modalities"]), info["image_size"], info["image_size"]), dtype=np.float32)
        modalities = tuple(info["modalities"])

    model = build_model(config, _Shape, torch_device, total_steps=int(info.get("steps", 1)))
    state = load_checkpoint(ckpt, device=torch_device)
    model.load_state_dict(state["model"])
    model.load_extra_state(state.get("extra", {}))
    model.eval()
    return model, config, info
