"""Training batches, built so that supervision is enforced by construction.

A weakly supervised (or unsupervised) model gets a :class:`DomainBatches`,
built from images and domain labels alone: it never holds a mask, so no
batch it yields can carry one; a model trained on healthy images alone gets
one without pathological images. Only a fully supervised model gets
:class:`MaskedBatches`. The order of samples is a pure function of
(seed, step), so a resumed run sees exactly the batches an uninterrupted run
would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UserError
from ..utils.seeds import (
    AUGMENTATION_STREAM,
    HEALTHY_ORDER_STREAM,
    LABELLED_ORDER_STREAM,
    PATHOLOGICAL_ORDER_STREAM,
    RANK_SEED_STRIDE,
    derive_seed,
)

if TYPE_CHECKING:
    from ..data.slices import SliceTable

log = logging.getLogger("pathogan_bench")

#: images kept on the training device when they fit in this many bytes
DEVICE_RESIDENT_BYTES = 4 << 30


class IndexStream:
    """Endless epochs of seeded permutations of ``n`` items."""

    def __init__(self, n: int, seed: int, stream: int):
        if n <= 0:
            raise ValueError("no samples to draw batches from")
        self.n, self.seed, self.stream = n, seed, stream
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def take(self, step: int, batch_size: int) -> torch.Tensor:
        positions = torch.arange(step * batch_size, (step + 1) * batch_size)
        epochs, offsets = positions // self.n, positions % self.n
        out = torch.empty(batch_size, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            sel = epochs == epoch
            out[sel] = self._permutation(epoch)[offsets[sel]]
        return out

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, self.stream, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return self._perm


class WeightedIndexStream(IndexStream):
    """Endless epochs of seeded draws, with replacement, of ``len(weights)`` items by their weights (an epoch is
    as many draws as there are items with a weight above 0)."""

    def __init__(self, weights: np.ndarray, seed: int, stream: int):
        weights = np.asarray(weights, dtype=np.float64)
        super().__init__(int((weights > 0).sum()), seed, stream)
        self.weights = torch.from_numpy(weights)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, self.stream, epoch))
            self._epoch, self._perm = epoch, torch.multinomial(self.weights, self.n, replacement=True, generator=gen)
        return self._perm


def _index_stream(n: int, weights: np.ndarray | None, seed: int, stream: int) -> IndexStream:
    return IndexStream(n, seed, stream) if weights is None else WeightedIndexStream(weights, seed, stream)


def _to_storage(images: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    if device.type != "cpu" and tensor.numel() * 4 <= DEVICE_RESIDENT_BYTES:
        return tensor.to(device)
    return tensor


Augment = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]


class DomainBatches:
    """Batches of healthy (``x_a``) and pathological (``x_b``) images, no masks.

    With ``pathological`` None the batches hold healthy images alone. With
    ``weights`` (healthy, pathological) the images are drawn by weight, with
    replacement (the level-matched sampling of :func:`level_matched`).
    """

    def __init__(
        self,
        healthy: np.ndarray,
        pathological: np.ndarray | None,
        batch_size: int,
        seed: int,
        device: torch.device,
        augment: Augment | None = None,
        weights: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.healthy = _to_storage(healthy, device)
        self.pathological = _to_storage(pathological, device) if pathological is not None else None
        self.batch_size, self.seed, self.device, self.augment = batch_size, seed, device, augment
        healthy_weights, patho_weights = weights if weights is not None else (None, None)
        self._a = _index_stream(len(self.healthy), healthy_weights, seed, HEALTHY_ORDER_STREAM)
        self._b = (
            _index_stream(len(self.pathological), patho_weights, seed, PATHOLOGICAL_ORDER_STREAM)
            if self.pathological is not None
            else None
        )
        #: what level matching kept (see :func:`level_matched`); None without it
        self.level_matching: dict[str, Any] | None = None

    @property
    def epoch_steps(self) -> int:
        n_b = len(self.pathological) if self.pathological is not None else 0
        return max(1, max(len(self.healthy), n_b) // self.batch_size)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = _step_generator(self.seed, step) if self.augment is not None else None
        x_a = _gather(self.healthy, self._a.take(step, self.batch_size), self.device)
        if self.augment is not None:
            x_a, _ = self.augment(x_a, None, generator=gen)
        if self.pathological is None or self._b is None:
            return {"x_a": x_a}
        x_b = _gather(self.pathological, self._b.take(step, self.batch_size), self.device)
        if self.augment is not None:
            x_b, _ = self.augment(x_b, None, generator=gen)
        return {"x_a": x_a, "x_b": x_b}


class MaskedBatches:
    """Batches of images with their pixel labels, for fully supervised models."""

    #: fully supervised batches are never level-matched (see :func:`level_matched`)
    level_matching: dict[str, Any] | None = None

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        batch_size: int,
        seed: int,
        device: torch.device,
        augment: Augment | None = None,
    ):
        self.images = _to_storage(images, device)
        self.masks = torch.from_numpy(np.ascontiguousarray(masks, dtype=bool)).to(self.images.device)
        self.batch_size, self.seed, self.device, self.augment = batch_size, seed, device, augment
        self._idx = IndexStream(len(self.images), seed, LABELLED_ORDER_STREAM)

    @property
    def epoch_steps(self) -> int:
        return max(1, len(self.images) // self.batch_size)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        idx = self._idx.take(step, self.batch_size)
        image = _gather(self.images, idx, self.device)
        mask = _gather(self.masks, idx, self.device)
        if self.augment is not None:
            image, augmented = self.augment(image, mask, generator=_step_generator(self.seed, step))
            assert augmented is not None  # masks in, masks out
            mask = augmented
        return {"image": image, "mask": mask.unsqueeze(1).float()}


def _gather(storage: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    out = storage[idx.to(storage.device)]
    return out.to(device, non_blocking=True)


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, AUGMENTATION_STREAM, step))


def training_batches(
    plan: Any, table: Any, train_idx: np.ndarray, healthy_source: np.ndarray | None = None
) -> DomainBatches | MaskedBatches:
    """Batches for the plan's supervision kind; only a fully supervised model gets masks.

    ``weak``: healthy and pathological images; ``healthy``: healthy images
    alone (``x_a``); ``none``: as ``weak`` (the model may ignore them);
    ``full``: pathological images with their masks (a refining run, ``data.pseudo_labels``: the healthy ones
    too, with their empty masks). With ``healthy_source``
    (the slices of a healthy cohort, part of ``train_idx``) the healthy
    images come from those slices alone and the pathological ones from the
    other training slices.
    """
    from .. import data as datalib

    config = plan.config
    rank, world = plan.dist.rank, plan.dist.world
    augment = datalib.Augmenter(augment_config(table, train_idx)) if config.data.augment else None
    seed = config.seed * RANK_SEED_STRIDE + rank
    if healthy_source is not None:
        cohort = np.intersect1d(train_idx, healthy_source)
        labelled = np.setdiff1d(train_idx, healthy_source)
        healthy_idx, _ = select_training(table.subset(cohort), config.data.n_healthy, 0, seed=config.seed)
        _, patho_idx = select_training(table.subset(labelled), 0, config.data.n_pathological, seed=config.seed)
        healthy_idx, patho_idx = cohort[healthy_idx], labelled[patho_idx]
    else:
        healthy_idx, patho_idx = select_training(
            table.subset(train_idx), config.data.n_healthy, config.data.n_pathological, seed=config.seed
        )
        healthy_idx, patho_idx = train_idx[healthy_idx], train_idx[patho_idx]
    if world > 1:  # each rank reads its own shard
        healthy_idx, patho_idx = healthy_idx[rank::world], patho_idx[rank::world]
    device, batch_size = plan.device, config.train.batch_size
    if plan.supervision == "full":
        if len(patho_idx) == 0:
            raise UserError("the training split has no pathological slices; use more patients or another split")
        patho_idx = label_fraction(table, patho_idx, config.data.label_fraction, config.seed)
        if config.data.pseudo_labels:  # refinement: the healthy slices, empty by their slice label, train too
            patho_idx = np.sort(np.concatenate([patho_idx, healthy_idx]))
        return MaskedBatches(table.images[patho_idx], table.masks[patho_idx], batch_size, seed, device, augment)
    if len(healthy_idx) == 0:
        raise UserError(
            "the training split has no healthy slices; weakly supervised models need both domains "
            "(widen the slice range, e.g. --slices 20-140, or use more patients)"
        )
    if plan.supervision == "healthy":
        return DomainBatches(table.images[healthy_idx], None, batch_size, seed, device, augment)
    if len(patho_idx) == 0:
        raise UserError("the training split has no pathological slices; use more patients or another split")
    weights, matching = level_matched(table, healthy_idx, patho_idx) if config.train.level_matched else (None, None)
    batches = DomainBatches(
        table.images[healthy_idx], table.images[patho_idx], batch_size, seed, device, augment, weights=weights
    )
    batches.level_matching = matching
    return batches


def level_matched(
    table: Any, healthy_idx: np.ndarray, patho_idx: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Sampling weights that give healthy and pathological training slices one distribution over axial levels
    (:func:`pathogan_bench.data.levels.matching_weights`), and what they keep, said on the console."""
    from ..data.levels import bin_ranges, level_separation, matching_weights, normalised_levels

    levels = normalised_levels(table.patient, table.z)
    both = np.concatenate([healthy_idx, patho_idx])
    is_patho = np.r_[np.zeros(len(healthy_idx), bool), np.ones(len(patho_idx), bool)]
    try:
        healthy_w, patho_w = matching_weights(levels[both], is_patho)
    except ValueError as exc:
        raise UserError(f"train.level_matched: {exc}; train without --level-matched") from None
    separation = level_separation(levels[both], is_patho)
    where = bin_ranges(separation.shared_bins, separation.bins)
    kept_healthy, kept_patho = int((healthy_w > 0).sum()), int((patho_w > 0).sum())
    log.warning(
        "level matching: healthy and pathological training slices are drawn with one distribution over "
        "normalised axial levels %s; left out at levels where only one domain lies: %d of %d healthy and "
        "%d of %d pathological slices",
        where,
        len(healthy_idx) - kept_healthy,
        len(healthy_idx),
        len(patho_idx) - kept_patho,
        len(patho_idx),
    )
    matching = {
        "healthy": len(healthy_idx),
        "pathological": len(patho_idx),
        "kept_healthy": kept_healthy,
        "kept_pathological": kept_patho,
        "levels": where,
        "bins": separation.bins,
    }
    return (healthy_w, patho_w), matching


def select_training(
    table: SliceTable, n_healthy: int, n_pathological: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to ``n_healthy`` healthy and ``n_pathological`` pathological slices (seeded)."""
    from ..data.slices import HEALTHY, PATHOLOGICAL

    rng = np.random.default_rng(seed)
    healthy = np.flatnonzero(table.domain == HEALTHY)
    patho = np.flatnonzero(table.domain == PATHOLOGICAL)
    if len(healthy) > n_healthy:
        healthy = np.sort(rng.choice(healthy, n_healthy, replace=False))
    if len(patho) > n_pathological:
        patho = np.sort(rng.choice(patho, n_pathological, replace=False))
    return healthy, patho


def label_fraction(table: Any, idx: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Keep the slices of a seeded ``fraction`` of the training patients (at least one)."""
    if fraction >= 1.0:
        return idx
    patients = np.unique(table.patient[idx])
    keep = max(1, int(round(fraction * len(patients))))
    chosen = np.random.default_rng(seed).choice(patients, size=keep, replace=False)
    return idx[np.isin(table.patient[idx], chosen)]


def augment_config(table: Any, train_idx: np.ndarray) -> Any:
    """The paper's augmentation for these slices: mirrored across the patient's left-right axis (from the
    training patients' affines) and with pixel-unit settings scaled to the resized images."""
    from ..data import AugmentConfig
    from ..utils.orientation import axis_codes

    base = AugmentConfig()
    patients = sorted(set(table.patient[train_idx].tolist()))
    volumes = [table.volumes.get(str(p), {}) for p in patients]
    axes = set()
    for volume in volumes:
        codes, _ = axis_codes(volume.get("affine"))
        axes.add("rows" if codes[0] in "LR" else "columns" if codes[1] in "LR" else "none")
    if len(axes) != 1 or "none" in axes:
        log.warning(
            "training patients do not share one left-right axis in the image plane (%s); no mirroring",
            ", ".join(sorted(axes)),
        )
        config = replace(base, mirror=False)
    else:
        config = replace(base, mirror_axis=axes.pop())
    source = [v["shape"][0] for v in volumes if v.get("shape")]
    if source and source[0] != table.images.shape[-2]:
        config = config.for_resize(table.images.shape[-2] / source[0])
    return config
