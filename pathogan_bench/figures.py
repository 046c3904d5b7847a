"""Figures: the paper's Fig. 2 for one slice, and per-slice Dice box plots.

Images are shown as stored in NIfTI slices (``volume[:, :, z]``): the array
is transposed and flipped vertically so that anterior is up, with a grey
colormap windowed to the 1st-99th intensity percentile of each panel.
Probability maps use a fixed 0-1 colormap with a colorbar, and carry the
ground-truth outline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _display(img: np.ndarray, orient: str) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    return img.T[::-1] if orient == "nifti" else img


def _window(img: np.ndarray) -> tuple[float, float]:
    finite = img[np.isfinite(img)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, (1, 99))
    return (float(lo), float(hi)) if hi > lo else (float(lo), float(lo) + 1.0)


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def fig2(path: str | Path, images: np.ndarray, prob: np.ndarray, mask: np.ndarray,
         inpaintings: np.ndarray | None = None, translated: np.ndarray | None = None,
         channel_names: Sequence[str] | None = None, title: str | None = None,
         prob_title: str = "prediction", extra_probs: Mapping[str, np.ndarray] | None = None,
         threshold: float | None = 0.5, orient: str = "nifti") -> Path:
    """The paper's Fig. 2 for one slice, written as PNG to ``path``.

    Left block: one column per input channel, rows for the input images
    (C,H,W), the inpaintings and the translated images when given. Right
    column: the ground truth, then the probability map (H,W) and any
    ``extra_probs`` (name -> (H,W)) of other models, each with the
    ground-truth outline and, when ``threshold`` is set, the thresholded
    outline.
    """
    plt = _plt()
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    channels = images.shape[0]
    names = list(channel_names or [f"channel {i}" for i in range(channels)])[:channels]
    names += [f"channel {i}" for i in range(len(names), channels)]
    kinds = [("input", images)]
    if inpaintings is not None:
        kinds.append(("inpainting", np.asarray(inpaintings).reshape(-1, *images.shape[1:])))
    if translated is not None:
        kinds.append(("translated", np.asarray(translated).reshape(-1, *images.shape[1:])))
    maps = [(prob_title, np.asarray(prob, dtype=np.float32))]
    maps += [(k, np.asarray(v, dtype=np.float32)) for k, v in (extra_probs or {}).items()]
    rows = max(len(kinds), 1 + len(maps))
    cols = channels + 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols + 0.6, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        _blank(ax)
    for r, (kind, stack) in enumerate(kinds):
        for c in range(channels):
            ax = axes[r][c]
            if c < stack.shape[0]:
                img = _display(stack[c], orient)
                lo, hi = _window(img)
                ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if r == 0:
                ax.set_title(names[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(kind, fontsize=9)
    ref = _display(np.asarray(mask, dtype=np.float32), orient)
    gt_ax = axes[0][channels]
    base = _display(images[0], orient)
    lo, hi = _window(base)
    gt_ax.imshow(base, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    gt_ax.imshow(np.ma.masked_where(ref < 0.5, ref), cmap="autumn", alpha=0.55, vmin=0, vmax=1,
                 interpolation="nearest")
    gt_ax.set_title("ground truth", fontsize=9)
    image = None
    for k, (name, pmap) in enumerate(maps, start=1):
        ax = axes[k][channels]
        shown = _display(pmap, orient)
        image = ax.imshow(shown, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        if ref.any():
            ax.contour(ref, levels=[0.5], colors="cyan", linewidths=0.8)
        if threshold is not None and (shown >= threshold).any() and not (shown >= threshold).all():
            ax.contour((shown >= threshold).astype(np.float32), levels=[0.5], colors="lime", linewidths=0.6,
                       linestyles="dashed")
        ax.set_title(name, fontsize=9)
    if image is not None:
        cbar = fig.colorbar(image, ax=[axes[k][channels] for k in range(1, 1 + len(maps))], fraction=0.046,
                            pad=0.04)
        cbar.set_label("probability", fontsize=8)
        cbar.ax.tick_params(labelsize=7)
    legend = "yellow / cyan outline: ground truth"
    if threshold is not None:
        legend += f"; green dashed: probability ≥ {threshold:g}"
    fig.text(0.5, 0.005, legend, ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(path, fig)


def dice_boxplot(path: str | Path, groups: Mapping[str, Sequence[float]], title: str = "per-slice Dice",
                 ylabel: str = "Dice (%)") -> Path:
    """Box plot of per-slice Dice (values in [0, 1], shown in %) per model."""
    plt = _plt()
    labels = list(groups)
    data = [100 * np.asarray(groups[k], dtype=np.float64)[~np.isnan(np.asarray(groups[k], dtype=np.float64))]
            for k in labels]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(labels) + 1.5), 4.0))
    ax.boxplot(data, showmeans=True, meanprops={"marker": "D", "markerfacecolor": "white", "markersize": 5})
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels([f"{k}\n(n={len(d)})" for k, d in zip(labels, data)], fontsize=8,
                       rotation=20 if len(labels) > 4 else 0)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-2, 102)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{title} (box: quartiles, line: median, diamond: mean)", fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)


def slice_grid(path: str | Path, images: np.ndarray, masks: np.ndarray, channel_names: Sequence[str],
               titles: Sequence[str], orient: str = "nifti") -> Path:
    """A grid of slices: one row per slice, one column per channel, tumour outline in every panel."""
    plt = _plt()
    n, c = images.shape[:2]
    fig, axes = plt.subplots(n, c, figsize=(2.4 * c, 2.4 * n), squeeze=False)
    for i in range(n):
        outline = _display(masks[i].astype(np.float32), orient)
        for j in range(c):
            ax = axes[i][j]
            _blank(ax)
            img = _display(images[i, j], orient)
            ax.imshow(img, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            if outline.any():
                ax.contour(outline, levels=[0.5], colors="yellow", linewidths=0.7)
            if i == 0:
                ax.set_title(channel_names[j] if j < len(channel_names) else f"channel {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(titles[i], fontsize=7)
    fig.tight_layout()
    return save_figure(path, fig)
