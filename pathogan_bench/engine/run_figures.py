"""The run's qualitative figures: the paper's Fig. 2 for a few test slices, and for the healthy test slice with the
most false-positive pixels (where the report counts detections on healthy slices, the figures show one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..contracts.model import SegmentationModel
from ..data.slices import HEALTHY, PATHOLOGICAL
from ..figures import slices as slice_figures
from .infer import Predictions, to_device
from .prepare import PreparedData


def choose_examples(data: PreparedData, count: int, seed: int) -> list[int]:
    """The test slice with the largest tumour, then random pathological test slices."""
    idx = data.indices("test", domain=PATHOLOGICAL)
    if not len(idx) or count <= 0:
        return []
    area = data.table.masks[idx].reshape(len(idx), -1).sum(1)
    rng = np.random.default_rng(seed)
    chosen = list(idx[np.argsort(-area)[:1]]) + list(rng.choice(idx, size=min(len(idx), count), replace=False))
    return list(dict.fromkeys(int(i) for i in chosen))[:count]


def most_false_positive_healthy(predictions: Predictions) -> int | None:
    """The table index of the healthy test slice with the most pixels at or above the threshold (None: no
    healthy test slice has one)."""
    if predictions.domain is None:
        return None
    healthy = (predictions.split == "test") & (predictions.domain == HEALTHY)
    if not healthy.any():
        return None
    flagged = (predictions.prob[healthy] >= predictions.threshold).reshape(int(healthy.sum()), -1).sum(1)
    if not flagged.max():
        return None
    return int(predictions.index[np.flatnonzero(healthy)[int(np.argmax(flagged))]])


def write_examples(
    model: SegmentationModel,
    data: PreparedData,
    run_dir: Path,
    device: torch.device,
    count: int,
    seed: int,
    title: str,
    predictions: Predictions | None = None,
) -> list[Path]:
    """One Fig. 2 PNG per chosen slice under ``run_dir/figures``: pathological test slices and, given the
    run's ``predictions``, the healthy test slice with the most false-positive pixels."""
    table = data.table
    chosen = choose_examples(data, count, seed)
    if not chosen:
        return []
    worst_healthy = most_false_positive_healthy(predictions) if predictions is not None else None
    if worst_healthy is not None:
        chosen.append(worst_healthy)
    images = to_device(table.images[chosen], device)
    model.eval()
    with torch.no_grad():
        prob_t, translated = model.segment_and_translate(images)
        prob = prob_t.float().cpu().numpy()
        extra = {k: v.float().cpu().numpy() for k, v in translated.items()}
    paths = []
    for j, i in enumerate(chosen):
        path = run_dir / "figures" / f"segmentation-{table.patient[i]}-z{int(table.z[i]):03d}.png"
        paths.append(
            slice_figures.fig2(
                path,
                images[j].cpu().numpy(),
                prob[j],
                table.masks[i],
                inpaintings=extra["inpainting"][j] if "inpainting" in extra else None,
                translated=extra["translated"][j] if "translated" in extra else None,
                channel_names=tuple(table.modalities),
                title=f"{title} | test patient {table.patient[i]}, z = {int(table.z[i])}"
                + (": healthy slice with the most false-positive pixels" if i == worst_healthy else ""),
                threshold=float(model.threshold),
                affine=table.volumes.get(str(table.patient[i]), {}).get("affine"),
            )
        )
    return paths
