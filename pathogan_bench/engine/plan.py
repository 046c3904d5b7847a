"""What a run is, decided once before anything is read or trained: device, model, supervision, loss set, and
every component it is scored and logged with.

Every later stage of the run reads these decisions from the :class:`RunPlan`
instead of deciding again, and creates components only through its registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import PRESETS, RunConfig
from ..contracts.model import SegmentationModel, Supervision
from ..errors import UserError
from ..evaluation.scoring_plan import ScoringPlan, check_convention, plan_scoring
from ..registry import Registry, get_registry
from ..utils.distributed import DistributedContext
from .data_folders import check_data_folder
from .loggers import check_loggers
from .loss_sets import loss_set_pairs
from .model_options import model_class, model_options
from .selection import check_criterion


@dataclass(frozen=True)
class RunPlan:
    config: RunConfig
    registry: Registry
    #: the registered model's class
    model: type[SegmentationModel]
    #: the options the model is built with: the preset's for this model, then the run's [model_options]
    model_options: dict
    #: the loss set after overrides and removals: (term, weight); empty for models without one
    loss_pairs: tuple[tuple[str, float], ...]
    #: the metrics, threshold policies and post-processing the run is scored with
    scoring: ScoringPlan
    device: torch.device
    dist: DistributedContext

    @property
    def supervision(self) -> Supervision:
        return self.model.supervision

    @property
    def uses_loss_set(self) -> bool:
        return self.model.uses_loss_set

    @property
    def loss_set_label(self) -> str:
        """The loss set as reports show it: its name, or "-" for a model that optimises none."""
        return self.config.loss_set if self.uses_loss_set else "-"


def plan_run(config: RunConfig, registry: Registry | None = None, dist: DistributedContext | None = None) -> RunPlan:
    """Check every name and option of ``config`` against the registry and fix the device (no data is touched)."""
    registry = registry or get_registry()
    if config.data.path:
        check_data_folder(Path(config.data.path).expanduser())
    if config.data.healthy_path:
        check_data_folder(Path(config.data.healthy_path).expanduser())
    model = model_class(registry.get("model", config.model))
    options = model_options(
        model, config.preset, config.model_options, PRESETS.get(config.preset, {}).get("model_options", {})
    )
    model.check_options(options)
    if config.train.select_by:
        check_criterion(config.train.select_by, model.supervision)
    check_refinement(config, model.supervision)
    if config.data.pseudo_labels and not (Path(config.data.pseudo_labels) / "config.toml").is_file():
        raise UserError(f"{config.data.pseudo_labels}: data.pseudo_labels names no run directory (no config.toml)")
    pairs = loss_set_pairs(registry, config.loss_set, config.loss, config.without, config.loss_sets)
    evaluation = config.eval
    try:
        check_convention(evaluation.empty)
        for name in evaluation.metrics:
            registry.get("metric", name)
    except UserError as exc:
        raise UserError(f"eval.metrics {evaluation.metrics}: {exc}") from None
    scoring = plan_scoring(registry, evaluation.metrics, evaluation.empty, evaluation.policies, evaluation.postprocess)
    check_loggers(registry, config.train.loggers)
    dist = dist or DistributedContext.from_env(config.device)
    device = dist.device if dist.world > 1 else torch.device(config.device)
    return RunPlan(config, registry, model, options, tuple(pairs), scoring, device, dist)


def check_refinement(config: RunConfig, supervision: str) -> None:
    """A refining run must train on pixel labels, and select nothing by the validation patients' pixel labels."""
    if not config.data.pseudo_labels:
        return
    if supervision != "full":
        raise UserError(
            f"data.pseudo_labels: model '{config.model}' ({supervision} supervision) reads no pixel labels to replace; "
            "pseudo-labels train a fully supervised model (e.g. unet)"
        )
    if config.train.select_by == "val-dice":
        raise UserError(
            "data.pseudo_labels with train.select_by = 'val-dice' would read the validation patients' pixel labels; "
            "use val-slices or none"
        )
