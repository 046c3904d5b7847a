"""Choosing the weights a run segments with: every ``validate_every`` steps the model is scored on data it may
see, the best weights are kept, and training stops once ``patience`` validations in a row brought no gain
(``[train] select_by``). The run then segments with the best weights, not the last ones.

Criteria, by name:

- ``val-dice``: the Dice of the validation patients' labelled slices pooled, at the model's own threshold; it
  reads their pixel labels, so only fully supervised models may select by it (early stopping, as nnU-Net and the
  MDGRU paper select their models);
- ``val-slices``: how well the maps tell the validation patients' pathological slices from their healthy ones
  (the AUROC of each slice's score: its (m+1)-th largest brain probability, m the paper's 20 of 240 x 240 pixels
  scaled to the slice); it reads slice labels only, so weakly supervised and healthy-trained models may select
  by it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..contracts.model import SegmentationModel
from ..data.slices import UNLABELLED, brain_pixels
from ..errors import UserError
from .infer import predict
from .prepare import PreparedData

#: criterion -> the supervision kinds allowed to select by it (what the criterion reads must be theirs to read)
CRITERIA: dict[str, tuple[str, ...]] = {"val-dice": ("full",), "val-slices": ("full", "weak", "healthy")}
#: the paper's rule for a pathological slice (more than 20 lesion pixels of a 240 x 240 slice), as an area fraction
PATHOLOGICAL_AREA = 20 / 240**2


@dataclass
class Selection:
    """The validation history of a run and the best weights so far (kept in the run's checkpoints)."""

    criterion: str
    score: Callable[[SegmentationModel], float]
    every: int
    #: validations in a row without a gain after which training stops (0: train to the end)
    patience: int = 0
    best_score: float = -math.inf
    best_step: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    without_gain: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def check(self, model: SegmentationModel, step: int) -> bool:
        """Score the model at ``step``, keep its weights when they are the best so far; True when training should
        stop (``patience`` validations in a row without a gain)."""
        value = float(self.score(model))
        self.history.append((step, value))
        if value > self.best_score:  # NaN never is
            self.best_score, self.best_step, self.without_gain = value, step, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.without_gain += 1
        return bool(self.patience) and self.without_gain >= self.patience

    def restore_best(self, model: SegmentationModel) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state(self) -> dict[str, Any]:
        """Plain data and tensors for a checkpoint."""
        return {
            "best_score": self.best_score,
            "best_step": self.best_step,
            "without_gain": self.without_gain,
            "history": [[s, v] for s, v in self.history],
            "best_model": dict(self.best_state or {}),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.best_score = float(state["best_score"])
        self.best_step = int(state["best_step"])
        self.without_gain = int(state["without_gain"])
        self.history = [(int(s), float(v)) for s, v in state["history"]]
        self.best_state = dict(state["best_model"]) or None

    def facts(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "every": self.every,
            "patience": self.patience,
            "best_step": self.best_step,
            "best_score": self.best_score,
            "validations": len(self.history),
        }


def make_selection(
    criterion: str,
    supervision: str,
    data: PreparedData,
    device: torch.device,
    batch_size: int,
    every: int,
    patience: int,
) -> Selection | None:
    """The run's selection (None when it selects nothing: ``criterion`` empty)."""
    if not criterion:
        return None
    check_criterion(criterion, supervision)
    idx = data.indices("val")
    idx = idx[data.table.domain[idx] != UNLABELLED]
    if not len(idx):
        raise UserError(f"train.select_by = {criterion!r}: the run has no validation patients to select on")
    images, masks = data.table.images[idx], np.asarray(data.table.masks[idx], dtype=bool)
    brain = brain_pixels(images)
    if criterion == "val-slices":
        return Selection(
            criterion, slice_separation(images, data.table.domain[idx], device, batch_size), every, patience
        )

    def pooled_dice(model: SegmentationModel) -> float:
        prob, _ = predict(model, images, device, batch_size)
        pred = (prob >= np.float64(model.threshold)) & brain
        total = int(pred.sum()) + int(masks.sum())
        return 2.0 * int((pred & masks).sum()) / total if total else 1.0

    return Selection(criterion, pooled_dice, every, patience)


def slice_scores(prob: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Each slice's (m+1)-th largest brain probability (m: the paper's pathological-slice area): a mask at a threshold
    below it has more than m pixels, i.e. flags the slice as pathological."""
    m = max(1, round(PATHOLOGICAL_AREA * prob.shape[-2] * prob.shape[-1]))
    inside = np.where(brain, prob, -1.0).reshape(len(prob), -1)
    return -np.partition(-inside, m, axis=1)[:, m]


def slice_separation(
    images: np.ndarray, domain: np.ndarray, device: torch.device, batch_size: int
) -> Callable[[SegmentationModel], float]:
    """The ``val-slices`` score of a model: the AUROC of :func:`slice_scores` of the healthy against the
    pathological validation slices (ties count half); NaN without both."""
    from ..data.slices import HEALTHY, PATHOLOGICAL

    keep = (domain == HEALTHY) | (domain == PATHOLOGICAL)
    images, positive = images[keep], domain[keep] == PATHOLOGICAL
    brain = brain_pixels(images)

    def score(model: SegmentationModel) -> float:
        if not positive.any() or positive.all():
            return math.nan
        prob, _ = predict(model, images, device, batch_size)
        values = slice_scores(prob, brain)
        ranks = _average_ranks(values)
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

    return score


def _average_ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(values), dtype=np.float64)


def check_criterion(criterion: str, supervision: str) -> None:
    """A known criterion that the model's supervision may read (a one-line error otherwise)."""
    if criterion not in CRITERIA:
        raise UserError(f"train.select_by = {criterion!r}: expected one of {', '.join(CRITERIA)} (or empty)")
    if supervision not in CRITERIA[criterion]:
        raise UserError(
            f"train.select_by = {criterion!r} reads the validation patients' pixel labels: only for "
            f"{' or '.join(CRITERIA[criterion])} supervision, not a {supervision} model"
        )
