"""Refinement: a fully supervised network trained on another run's masks of its own training slices.

A weakly supervised (or healthy-trained) model's masks of the training patients' slices become the pixel labels of
a U-Net, which then segments as a run of its own (Yoo et al., Sci. Rep. 2025: their largest gain on BraTS 2020).
The masks are the source model's own rule (its threshold, inside the brain); its healthy slices, by their slice
label, get empty masks. Nothing of the validation or test patients is used: their labels are only scored, and a
refining run may not select its weights by their Dice.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..data.slices import HEALTHY, brain_pixels
from ..errors import UserError
from .prepare import PreparedData

log = logging.getLogger("pathogan_bench")

#: the model a refinement trains
REFINING_MODEL = "unet"
#: what a run directory's refinement is named
REFINED_SUFFIX = "-refined"
#: the kinds of supervision whose runs may be refined (a fully supervised run has pixel labels already)
REFINABLE = ("weak", "healthy")


def refine_config(config: RunConfig, run_dir: Path) -> RunConfig:
    """The refining run of ``run_dir`` (trained with ``config``): the U-Net on the run's masks of its training
    slices, beside it as RUN-refined, with the run's data, split, seed and schedule; the source's width carries
    over, its other model options do not."""
    options = {"width": config.model_options["width"]} if "width" in config.model_options else {}
    return dataclasses.replace(
        config,
        model=REFINING_MODEL,
        name=run_dir.name + REFINED_SUFFIX,
        out=str(run_dir.parent),
        model_options=options,
        data=dataclasses.replace(config.data, pseudo_labels=str(Path(run_dir).resolve()), label_fraction=1.0),
        train=dataclasses.replace(config.train, refine=False, select_by=""),
    )


def apply_pseudo_labels(data: PreparedData, config: RunConfig, registry: Any) -> dict[str, Any]:
    """Replace the training patients' masks of ``data`` by the source run's masks (in place; the cached slices are
    not changed) and return what was done, for the run's facts."""
    from ..record.facts import recorded_status
    from .infer import predict
    from .reload import load_trained_model

    source = Path(config.data.pseudo_labels)
    status = recorded_status(source)
    if status != "done":
        raise UserError(f"{source}: not finished (status {status or 'unknown'}); refine a finished run")
    model, _, info = load_trained_model(source, config.device, registry)
    if info.supervision not in REFINABLE:
        raise UserError(
            f"{source}: a {info.supervision} run; only weakly supervised or healthy-trained runs are refined"
        )
    table = data.table
    if tuple(info.modalities) != tuple(table.modalities) or int(info.image_size or 0) != table.images.shape[-1]:
        raise UserError(
            f"{source}: trained on {','.join(info.modalities)} at {info.image_size} px, this run reads "
            f"{','.join(table.modalities)} at {table.images.shape[-1]} px"
        )
    train = data.indices("train")
    if not len(train):
        raise UserError(f"{source}: this run has no training slices to label")
    images = table.images[train]
    device = next(model.parameters()).device
    prob, _ = predict(model, images, device, config.eval.batch_size)
    masks = (prob >= np.float16(model.threshold)) & brain_pixels(images)
    masks[table.domain[train] == HEALTHY] = False  # a healthy slice, by its slice label, has no lesion
    relabelled = np.array(table.masks, dtype=bool)  # a copy: the cached table stays the truth
    relabelled[train] = masks
    data.table = dataclasses.replace(table, masks=relabelled)
    found = {
        "run": str(source),
        "model": info.model,
        "threshold": float(model.threshold),
        "slices": int(len(train)),
        "slices_with_lesion": int(masks.reshape(len(masks), -1).any(axis=1).sum()),
        "pixels": int(masks.sum()),
    }
    log.info(
        "pseudo-labels of %s (%s, threshold %.3f): %d training slices, %d with a lesion",
        source,
        info.model,
        found["threshold"],
        found["slices"],
        found["slices_with_lesion"],
    )
    return found
