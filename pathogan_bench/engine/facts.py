"""``run.json``: the facts of a run (what ran, on what, with which data), kept with its results."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..contracts.model import SegmentationModel
from ..data.slices import HEALTHY, MINOR, PATHOLOGICAL
from ..record.facts import RunFacts
from ..utils.orientation import axis_codes
from .plan import RunPlan
from .prepare import PreparedData, data_seed, split_seed


def _axis_codes(table: Any) -> list[str]:
    """The volumes' NIfTI axis codes (e.g. ["LPS"]), how their slices are turned for figures; "?" when unknown."""
    found = set()
    for volume in table.volumes.values():
        codes, assumed = axis_codes(volume.get("affine") if isinstance(volume, dict) else None)
        found.add("?" if assumed else "".join(codes))
    return sorted(found)


def training_level_separation(supervision: str, data: PreparedData) -> dict[str, Any] | None:
    """How well the axial level alone separates the training split's healthy and pathological slices, for a
    model that learns from image-level labels (None for the others)."""
    from ..data.levels import level_separation, normalised_levels

    if supervision != "weak":
        return None
    table = data.table
    train = data.indices("train")
    rows = train[np.isin(table.domain[train], (HEALTHY, PATHOLOGICAL))]
    if not len(rows):
        return None
    levels = normalised_levels(table.patient, table.z)[rows]
    return level_separation(levels, table.domain[rows] == PATHOLOGICAL).to_dict()


def run_facts(
    plan: RunPlan, model: SegmentationModel, data: PreparedData, steps: int, level_matching: dict[str, Any] | None
) -> RunFacts:
    """Everything known of the run before its first training step (status "training")."""
    table, config, device = data.table, plan.config, plan.device
    return RunFacts(
        model=config.model,
        supervision=plan.supervision,
        model_options=dict(plan.model_options),
        loss_set=plan.loss_set_label,
        dataset=data.dataset_name,
        data=data.data_path or "synthetic",
        skipped_cases=list(table.skipped),
        modalities=list(table.modalities),
        spacing=list(table.spacing),
        axis_codes=_axis_codes(table),
        image_size=int(table.images.shape[-1]),
        seed=config.seed,
        seeds=seeds(config, data),
        test_data=data.test_path,
        healthy_data=data.healthy_path,
        training_data=training_data(plan.supervision, data),
        level_separation=training_level_separation(plan.supervision, data),
        level_matched=bool(config.train.level_matched),
        split_protocol=split_protocol(config),
        folds=config.data.folds,
        label_fraction=config.data.label_fraction,
        device=str(device),
        device_name=torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        world_size=plan.dist.world,
        threads=torch.get_num_threads(),
        steps=steps,
        parameters=sum(p.numel() for p in model.parameters()),
        slices={
            "healthy": int((table.domain == HEALTHY).sum()),
            "pathological": int((table.domain == PATHOLOGICAL).sum()),
            "minor": int((table.domain == MINOR).sum()),
        },
        torch=torch.__version__,
        pathogan_bench=__version__,
        split_sizes=data.split_sizes(),
        skip_reasons=dict(data.skip_reasons),
        unlabelled_cases=list(data.unlabelled),
        level_matching=level_matching,
        status="training",
    )


def training_data(supervision: str, data: PreparedData) -> str:
    """Which data trained the model, in words."""
    labelled = f"the training patients of {data.data_path or 'the synthetic data'}"
    if not data.healthy_path:
        return labelled
    cohort = f"the healthy cohort {data.healthy_path} ({len(data.healthy_patients)} patients)"
    if supervision == "healthy":
        return f"healthy slices of {cohort} alone"
    if supervision == "full":
        return f"pathological slices with labels of {labelled} (the healthy cohort {data.healthy_path} unused)"
    return f"healthy slices of {cohort}, pathological slices of {labelled}"


def seeds(config: Any, data: PreparedData) -> dict[str, int | None]:
    """The three seeds kept apart: training (initialisation, sampling), patient split, generated data."""
    return {
        "training": config.seed,
        "split": split_seed(config),
        "data": data_seed(config) if not config.data.path else None,
    }


def split_protocol(config: Any) -> str:
    """How the test patients were chosen, in words."""
    dcfg = config.data
    if dcfg.split_file:
        return f"split file {dcfg.split_file}"
    if dcfg.test_path:
        return f"test folder {dcfg.test_path}"
    if dcfg.folds:
        return f"fold {dcfg.fold} of {dcfg.folds}"
    return "fractions " + "/".join(f"{f:g}" for f in dcfg.split_fractions)


#: a run training fewer steps than this fraction of its method's own schedule says its scores measure its budget
BUDGET_FRACTION = 0.25


def budget(model: type[SegmentationModel], steps: int, epoch_steps: int) -> tuple[int | None, str]:
    """The steps of the model's reference schedule on this run's data, and the note a run far shorter makes."""
    schedule = model.reference_schedule
    reference = schedule.steps_for(epoch_steps) if schedule is not None else None
    if schedule is None or reference is None or steps >= BUDGET_FRACTION * reference:
        return reference, ""
    return reference, (
        f"{model.name} trained {steps:,} steps ({steps / max(epoch_steps, 1):.1f} epochs of this run's training data) "
        f"against {schedule.source}, {reference:,} steps on this data: {100 * steps / reference:.1f} % of its "
        "schedule. Its scores measure this budget, not the method; the paper preset trains the whole schedule "
        "(--preset paper, on a GPU)"
    )
