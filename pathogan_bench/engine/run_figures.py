"""The run's qualitative figures: the paper's Fig. 2 for a few test slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import slice_figures
from ..data.slices import PATHOLOGICAL
from ..model import SegmentationModel
from .infer import to_device
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


def write_examples(
    model: SegmentationModel, data: PreparedData, run_dir: Path, device: torch.device, count: int, seed: int, title: str
) -> list[Path]:
    """One Fig. 2 PNG per chosen slice under ``run_dir/figures``."""
    table = data.table
    chosen = choose_examples(data, count, seed)
    if not chosen:
        return []
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
                title=f"{title} | {table.patient[i]} z={int(table.z[i])}",
                threshold=float(model.threshold),
                affine=table.volumes.get(str(table.patient[i]), {}).get("affine"),
            )
        )
    return paths
