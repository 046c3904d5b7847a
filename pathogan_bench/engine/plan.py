"""What a run is, decided once before anything is read or trained: device, model, supervision, loss set.

Every later stage of the run reads these decisions from the :class:`RunPlan`
instead of deciding again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import PRESETS, RunConfig
from ..distributed import DistributedContext
from ..errors import UserError
from ..evaluation.policies import create_policies
from ..evaluation.postprocess import create_steps
from ..loss_sets import loss_set_pairs
from ..metrics.registered import check_metric_names
from ..model import Supervision, check_model_options, model_options, supervision_of
from ..registry import Entry, Registry, get_registry
from ..tracking import check_loggers
from .prepare import check_data_folder


@dataclass(frozen=True)
class RunPlan:
    config: RunConfig
    registry: Registry
    model: Entry
    supervision: Supervision
    #: the options the model is built with: the preset's for this model, then the run's [model_options]
    model_options: dict
    #: the loss set after overrides and removals: (term, weight); empty for models without one
    loss_pairs: tuple[tuple[str, float], ...]
    device: torch.device
    dist: DistributedContext

    @property
    def uses_loss_set(self) -> bool:
        return bool(getattr(self.model.spec.factory, "uses_loss_set", False))

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
    entry = registry.get("model", config.model)
    options = model_options(
        entry, config.preset, config.model_options, PRESETS.get(config.preset, {}).get("model_options", {})
    )
    check_model_options(entry, options)
    pairs = loss_set_pairs(registry, config.loss_set, config.loss, config.without, config.loss_sets)
    try:
        check_metric_names(registry, config.eval.metrics, config.eval.empty)
    except UserError as exc:
        raise UserError(f"eval.metrics {config.eval.metrics}: {exc}") from None
    create_policies(registry, config.eval.policies)  # unknown names and bad arguments fail before any work
    create_steps(registry, config.eval.postprocess)
    check_loggers(registry, config.train.loggers)
    dist = dist or DistributedContext.from_env(config.device)
    device = dist.device if dist.world > 1 else torch.device(config.device)
    return RunPlan(config, registry, entry, supervision_of(entry), options, tuple(pairs), device, dist)
