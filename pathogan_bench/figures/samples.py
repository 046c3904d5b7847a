"""Sample grids: named images of a few batch items, one row per item and one column per name.

Images (B,C,H,W) in [-1, 1] show one modality (FLAIR when there is one) in
grey; maps (B,1,H,W) in [0, 1] (label maps, probabilities) use the fixed 0-1
colour map of the figures, difference maps their own, each with a colour
bar. Column titles say in words what a panel is, with the paper's symbol in
brackets. Slices are shown in the radiological convention from the NIfTI
affine (see :mod:`pathogan_bench.utils.orientation`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.io import save_figure
from ..utils.orientation import figure_label, to_display
from .style import (
    DIFF_CMAP,
    DIFF_MAX,
    PROB_CMAP,
    add_key,
    mark_orientation,
    modality_label,
    panel_grid,
    per_slice_affines,
    preferred_channel,
)

#: (pattern of the paper's symbol in a panel name, what the panel shows), first match wins
_MEANINGS = (
    (r"\|[^|]+\|", "difference"),
    (r"G_AB\(x_A\)", "translated to pathological"),
    (r"G_BA\(x_B\)", "translated to healthy"),
    (r"\by_B\b", "result: drawn pathology"),
    (r"\by_A\b", "result: pathology removed"),
    (r"\bl_A\b", "drawn label map"),
    (r"\bl_B\b", "segmentation"),
    (r"\bp_A\b", "inpainting"),
    (r"\bp_B\b", "inpainting"),
    (r"\bx_A\b", "healthy input"),
    (r"\bx_B\b", "pathological input"),
)


def column_title(name: str) -> str:
    """A plain-language title with the paper's symbol in brackets, e.g. "l_A" -> "drawn label map (l_A)"."""
    for pattern, meaning in _MEANINGS:
        found = re.search(pattern, name)
        if found:
            tex = re.sub(r"_([A-Za-z]+)", r"_{\1}", found.group(0)).replace(" ", r"\ ")
            return f"{meaning}\n(${tex}$)"
    return name


def _kind(name: str, tensor: torch.Tensor) -> str:
    """ "image" (grey, [-1, 1]), "map" (0-1 colour map) or "difference"."""
    if tensor.shape[1] != 1 or float(tensor.min()) < 0.0:
        return "image"
    if "|" in name or "diff" in name.lower() or float(tensor.max()) > 1.0:
        return "difference"
    return "map"


def save_sample_grid(
    path: Path,
    panels: dict[str, torch.Tensor],
    title: str = "",
    max_items: int = 4,
    channel_names: tuple[str, ...] = (),
    affine: Any = None,
    modality: str | None = None,
) -> Path:
    """Write a PNG grid: rows = batch items, columns = panels (one modality of multi-channel images).

    ``panels`` maps names to (B,C,H,W) images in [-1, 1] or (B,1,H,W) maps
    in [0, 1] (a model's ``preview()``). ``modality`` picks the channel shown
    (default: FLAIR if ``channel_names`` has it, else the first).
    ``affine`` is the slices' NIfTI affine: one 4 x 4 matrix, one per item,
    or None (unknown; see :mod:`pathogan_bench.utils.orientation`).
    """
    names = [str(n) for n in channel_names]
    channel = names.index(modality) if modality in names else preferred_channel(names)
    shown_name = modality_label(names[channel]) if channel < len(names) else f"channel {channel}"
    columns = _columns(panels, channel, max_items)
    n_items = max(images.shape[0] for _, images, _ in columns)
    per = per_slice_affines(affine, n_items)
    kinds = {kind for *_, kind in columns}
    bars: list[str] = [k for k in ("map", "difference") if k in kinds]
    fig, axes = panel_grid(
        n_items,
        len(columns),
        panel=1.55,
        row_gap=0.04,
        col_gap=0.04,
        top=0.5 + (0.3 if title else 0.0),
        right=0.15 + 0.75 * bool(bars),
        left=0.1,
    )
    mappables = _draw_columns(axes, columns, n_items, per)
    mark_orientation(axes[0][0], per[0])
    _separate_groups(fig, axes, [label for label, *_ in columns])
    _colour_bars(fig, axes, mappables, bars)
    note = f"images: {shown_name}; {figure_label(per)}"
    add_key(fig, [], note, title or None)
    return save_figure(path, fig)


def _columns(panels: dict[str, torch.Tensor], channel: int, max_items: int) -> list[tuple[str, np.ndarray, str]]:
    """(title, (N, H, W) slices, kind) per panel: images show ``channel``, maps their only channel."""
    columns: list[tuple[str, np.ndarray, str]] = []
    for name, tensor in panels.items():
        tensor = tensor.detach().float().cpu()[:max_items]
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(1)
        kind = _kind(name, tensor)
        c = channel if kind == "image" and channel < tensor.shape[1] else 0
        columns.append((column_title(name), tensor[:, c].numpy(), kind))
    if not columns:
        raise ValueError("no panels to draw")
    return columns


def _draw_columns(
    axes: Any, columns: list[tuple[str, np.ndarray, str]], n_items: int, per: list[Any]
) -> dict[str, Any]:
    """Every panel drawn; returns the last image of each kind that has a colour bar."""
    mappables: dict[str, Any] = {}
    for col, (label, images, kind) in enumerate(columns):
        for i in range(n_items):
            ax = axes[i][col]
            if i >= images.shape[0]:
                ax.set_visible(False)
                continue
            img = to_display(images[i], per[i])
            if kind == "map":
                mappables[kind] = ax.imshow(img, cmap=PROB_CMAP, vmin=0, vmax=1, interpolation="nearest")
            elif kind == "difference":
                mappables[kind] = ax.imshow(img, cmap=DIFF_CMAP, vmin=0, vmax=DIFF_MAX, interpolation="nearest")
            else:
                ax.imshow(img, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            if i == 0:
                ax.set_title(label, fontsize=8)
        if col == 0:
            for i in range(n_items):
                axes[i][0].set_ylabel(f"sample {i + 1}", fontsize=7)
    return mappables


def _separate_groups(fig, axes, titles: list[str]) -> None:
    """A vertical rule before each column that starts from another input (e.g. the pathological direction)."""
    from matplotlib.lines import Line2D

    top, bottom = axes[0][0].get_position().y1, axes[-1][0].get_position().y0
    for col in range(1, len(titles)):
        if titles[col].startswith(("healthy input", "pathological input")):
            x = (axes[0][col - 1].get_position().x1 + axes[0][col].get_position().x0) / 2
            fig.add_artist(
                Line2D(
                    [x, x],
                    [bottom, top + 0.35 / fig.get_figheight()],
                    transform=fig.transFigure,
                    color="0.25",
                    linewidth=1.2,
                )
            )


def _colour_bars(fig, axes, mappables: dict[str, Any], bars: list[str]) -> None:
    """One colour bar per kind of map, stacked at the right of the grid."""
    if not bars:
        return
    right = axes[0][-1].get_position().x1
    top, bottom = axes[0][-1].get_position().y1, axes[-1][-1].get_position().y0
    width = 0.12 / fig.get_figwidth()
    span = (top - bottom) / len(bars)
    labels = {"map": "label map / probability", "difference": "absolute difference"}
    for k, kind in enumerate(bars):
        y0 = top - (k + 1) * span + 0.12 * span
        cax = fig.add_axes([right + 0.15 / fig.get_figwidth(), y0, width, span * 0.76])
        bar = fig.colorbar(mappables[kind], cax=cax, extend="max" if kind == "difference" else "neither")
        bar.set_label(labels[kind], fontsize=7)
        bar.ax.tick_params(labelsize=7)
