"""Slice figures: the paper's Fig. 2 for one slice, per-slice Dice box plots and slice grids, and the
panel, colour and outline style every figure shares.

Slices are arrays ``img[x, y]`` cut from NIfTI volumes (``volume[:, :, z]``);
every figure shows them in the radiological convention (anterior up, the
patient's left on the image's right) using the volume's affine, see
:mod:`pathogan_bench.orientation`, and says so under the panels. MR images
are grey, preprocessed ones (in [-1, 1]) on a fixed [-1, 1] scale so that
slices and models compare; probability maps use one fixed 0-1 colour map
with a colour bar.
Outlines have a thin black edge so they stand out on dark and bright tissue:
the ground truth in cyan (solid), the prediction at the model's threshold in
chartreuse (dashed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import save_figure
from .metrics import dice
from .orientation import figure_label, slice_view, to_display

#: outline of the reference (ground truth) segmentation
GT_COLOUR = "#00e5ff"
#: outline of the thresholded prediction
PRED_COLOUR = "#9dff00"
#: probability maps (0-1)
PROB_CMAP = "magma"
#: difference maps |input - translation|
DIFF_CMAP = "viridis"
#: upper end of the difference colour bar, in normalised intensity units (images span [-1, 1])
DIFF_MAX = 1.0
GT_WIDTH, PRED_WIDTH = 1.3, 1.9
PRED_DASHES = (0, (4, 1.5))
#: modality names, in order of preference, of the image shown under maps
PREFERRED_MODALITIES = ("flair", "t2f", "t2", "t1c")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def preferred_channel(names: Sequence[str] | None) -> int:
    """Index of the channel to show when only one is shown: FLAIR if present, else the first."""
    lowered = [str(n).lower() for n in (names or ())]
    for wanted in PREFERRED_MODALITIES:
        if wanted in lowered:
            return lowered.index(wanted)
    return 0


#: how modalities are written in figures
MODALITY_LABELS = {
    "flair": "FLAIR",
    "t2f": "FLAIR",
    "t1": "T1",
    "t1n": "T1",
    "t1c": "T1c",
    "t1ce": "T1c",
    "t2": "T2",
    "t2w": "T2",
}


def modality_label(name: str) -> str:
    """A modality as radiologists write it: "flair" -> "FLAIR", "t1c" -> "T1c"."""
    return MODALITY_LABELS.get(str(name).lower(), str(name))


def _display(img: np.ndarray, orient: str, affine: Any = None) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    return to_display(img, affine) if orient == "nifti" else img


def panel_grid(
    rows: int,
    cols: int,
    panel: float = 2.1,
    row_gap: float = 0.1,
    col_gap: float = 0.08,
    top: float = 0.35,
    right: float = 0.1,
    left: float = 0.3,
    bottom: float = 0.05,
):
    """A figure of ``rows`` x ``cols`` square panels of ``panel`` inches; gaps and margins in inches.

    ``row_gap`` leaves room for panel titles below the first row, ``top``
    for the first row's titles and the suptitle, ``right`` for colour bars.
    """
    plt = _plt()
    width = left + cols * panel + (cols - 1) * col_gap + right
    height = top + rows * panel + (rows - 1) * row_gap + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=col_gap / panel,
        hspace=row_gap / panel,
    )
    for ax in axes.flat:
        _blank(ax)
    return fig, axes


def grey_window(img: np.ndarray) -> tuple[float, float]:
    """Grey levels to show an image with: [-1, 1] for preprocessed slices, else its 1st-99th percentile."""
    finite = img[np.isfinite(img)]
    if not finite.size:
        return 0.0, 1.0
    if finite.min() >= -1.0 - 1e-3 and finite.max() <= 1.0 + 1e-3 and finite.min() < 0:
        return -1.0, 1.0
    lo, hi = np.percentile(finite, (1, 99))
    return (float(lo), float(hi)) if hi > lo else (float(lo), float(lo) + 1.0)


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _halo(width: float) -> list:
    import matplotlib.patheffects as pe

    return [pe.Stroke(linewidth=width + 1.6, foreground="black"), pe.Normal()]


def draw_truth(ax, ref: np.ndarray) -> None:
    """The ground truth filled (translucent) and outlined, over whatever ``ax`` shows."""
    if ref.any():
        ax.imshow(
            np.ma.masked_where(ref < 0.5, ref),
            cmap=solid_cmap(GT_COLOUR),
            alpha=0.3,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
    outline(ax, ref, "truth")


def outline(ax, mask: np.ndarray, kind: str = "truth") -> None:
    """Draw the outline of a binary (display-oriented) mask: ``kind`` "truth" or "prediction"."""
    mask = np.asarray(mask, dtype=np.float32) >= 0.5
    if not mask.any() or mask.all():
        return
    if kind == "truth":
        cs = ax.contour(mask.astype(np.float32), levels=[0.5], colors=GT_COLOUR, linewidths=GT_WIDTH)
        cs.set_path_effects(_halo(GT_WIDTH))
    else:
        cs = ax.contour(
            mask.astype(np.float32), levels=[0.5], colors=PRED_COLOUR, linewidths=PRED_WIDTH, linestyles=[PRED_DASHES]
        )
        cs.set_path_effects(_halo(PRED_WIDTH))


def overlay_key(threshold: float | None = 0.5, filled_truth: bool = False) -> list:
    """Legend handles for the outlines (and the filled ground truth)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list = []
    if filled_truth:
        handles.append(Patch(facecolor=GT_COLOUR, alpha=0.35, edgecolor=GT_COLOUR, label="ground truth (filled)"))
    truth = Line2D([], [], color=GT_COLOUR, linewidth=GT_WIDTH, label="ground truth outline")
    truth.set_path_effects(_halo(GT_WIDTH))
    handles.append(truth)
    if threshold is not None:
        pred = Line2D(
            [],
            [],
            color=PRED_COLOUR,
            linewidth=PRED_WIDTH,
            linestyle=PRED_DASHES,
            label=f"prediction: probability ≥ {threshold:g}",
        )
        pred.set_path_effects(_halo(PRED_WIDTH))
        handles.append(pred)
    return handles


def add_key(fig, handles: Sequence, note: str, title: str | None = None) -> None:
    """The suptitle, the outline key and the orientation note under the panels of a figure."""
    height = fig.get_figheight()
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_subplotspec() is not None]
    bottom = min((ax.get_position().y0 for ax in panels), default=0.02)
    gap = 0.1 / height
    anchor = bottom - gap
    if handles:
        legend = fig.legend(
            handles=list(handles),
            loc="upper center",
            bbox_to_anchor=(0.5, anchor),
            ncol=len(handles),
            fontsize=8,
            frameon=True,
            facecolor="white",
            edgecolor="0.7",
            handlelength=3.0,
        )
        fig.canvas.draw()
        anchor = legend.get_window_extent().transformed(fig.transFigure.inverted()).y0 - gap / 2
    fig.text(0.5, anchor, note, ha="center", va="top", fontsize=8, color="0.2")


def mark_orientation(ax, affine: Any = None) -> None:
    """Patient-direction letters (A, P, R, L for axial slices) at the edges of a panel, as on a radiology screen."""
    import matplotlib.patheffects as pe

    edges = slice_view(affine).edges
    style = {
        "transform": ax.transAxes,
        "color": "white",
        "fontsize": 7,
        "fontweight": "bold",
        "path_effects": [pe.withStroke(linewidth=2, foreground="black")],
    }
    ax.text(0.5, 0.98, edges["top"], ha="center", va="top", **style)
    ax.text(0.5, 0.02, edges["bottom"], ha="center", va="bottom", **style)
    ax.text(0.02, 0.5, edges["left"], ha="left", va="center", **style)
    ax.text(0.98, 0.5, edges["right"], ha="right", va="center", **style)


def colourbar(fig, ax, mappable, label: str, extend: str = "neither"):
    """A colour bar right of ``ax`` that does not shrink it."""
    cax = ax.inset_axes([1.04, 0.0, 0.06, 1.0])
    bar = fig.colorbar(mappable, cax=cax, extend=extend)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return bar


def dice_text(prob: np.ndarray, mask: np.ndarray, threshold: float | None) -> str:
    """ "Dice 81.2%" of ``prob >= threshold`` against ``mask`` for a panel (empty without a threshold)."""
    if threshold is None:
        return ""
    pred, ref = np.asarray(prob, dtype=np.float64) >= threshold, np.asarray(mask) > 0.5
    if not pred.any() and not ref.any():
        return "Dice – (both empty)"
    return f"Dice {100 * dice(pred, ref):.1f}%"


def _channel_labels(channel_names: Sequence[str] | None, channels: int) -> tuple[list[str], int]:
    """Each channel's label ("FLAIR", "channel 2" for unnamed ones) and the channel shown under the maps."""
    names = list(channel_names or [f"channel {i}" for i in range(channels)])[:channels]
    names += [f"channel {i}" for i in range(len(names), channels)]
    return [modality_label(n) for n in names], preferred_channel(names)


def _image_rows(
    images: np.ndarray, inpaintings: np.ndarray | None, translated: np.ndarray | None
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray | None]:
    """The left block's rows (name, (C,H,W) images) and the translation (None without one)."""
    rows = [("input", images)]
    if inpaintings is not None:
        rows.append(("inpainting", np.asarray(inpaintings, dtype=np.float32).reshape(-1, *images.shape[1:])))
    trans = None
    if translated is not None:
        trans = np.asarray(translated, dtype=np.float32).reshape(-1, *images.shape[1:])
        rows.append(("translation", trans))
    return rows, trans


def _draw_image_rows(
    axes,
    rows: list[tuple[str, np.ndarray]],
    names: list[str],
    windows: list[tuple[float, float]],
    show: Callable[[np.ndarray], np.ndarray],
) -> None:
    """The left block: one row per kind of image, one column per channel in that channel's grey window."""
    for r, (kind, stack) in enumerate(rows):
        for c in range(min(len(names), stack.shape[0])):
            ax = axes[r][c]
            ax.set_visible(True)
            ax.imshow(show(stack[c]), cmap="gray", vmin=windows[c][0], vmax=windows[c][1], interpolation="nearest")
            if r == 0:
                ax.set_title(names[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(kind, fontsize=9)


def _draw_overlay(
    ax,
    base: np.ndarray,
    window: tuple[float, float],
    ref: np.ndarray,
    pred: np.ndarray,
    threshold: float | None,
    title: str,
) -> None:
    """The base channel with the ground truth filled and both outlines (the prediction at ``threshold``)."""
    ax.imshow(base, cmap="gray", vmin=window[0], vmax=window[1], interpolation="nearest")
    draw_truth(ax, ref)
    if threshold is not None:
        outline(ax, pred >= threshold, "prediction")
    ax.set_title(title, fontsize=9)


def _draw_probability(ax, name: str, shown: np.ndarray, ref: np.ndarray, dice_label: str, threshold: float | None):
    """A (display-oriented) probability map with both outlines and the slice's Dice; returns the image."""
    image = ax.imshow(shown, cmap=PROB_CMAP, vmin=0, vmax=1, interpolation="nearest")
    outline(ax, ref, "truth")
    if threshold is not None:
        outline(ax, shown >= threshold, "prediction")
    ax.set_title(f"{name} probability\n{dice_label}".rstrip(), fontsize=9)
    return image


def _draw_difference(fig, ax, shown: np.ndarray) -> None:
    """The (display-oriented) difference map |input - translation| with its colour bar."""
    image = ax.imshow(shown, cmap=DIFF_CMAP, vmin=0, vmax=DIFF_MAX, interpolation="nearest")
    ax.set_title("|input − translation|\n(mean over channels)", fontsize=9)
    colourbar(fig, ax, image, "absolute difference", extend="max")


def fig2(
    path: str | Path,
    images: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    inpaintings: np.ndarray | None = None,
    translated: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
    title: str | None = None,
    prob_title: str = "prediction",
    extra_probs: Mapping[str, np.ndarray] | None = None,
    threshold: float | None = 0.5,
    orient: str = "nifti",
    affine: Any = None,
) -> Path:
    """The paper's Fig. 2 for one slice, written as PNG to ``path``.

    Left block: one column per input channel, rows for the input images
    (C,H,W), the inpaintings and the translated images when given; each
    channel keeps the grey window of its input. Right column: the
    FLAIR-like channel with the ground truth filled and the outlines of
    ground truth and prediction; the probability map (H,W) with both
    outlines and the slice's Dice (``prob >= threshold``) in its title; the
    difference map |input - translation| (mean over channels) when a
    translation is given; then any ``extra_probs`` (name -> (H,W)) of other
    models. ``affine`` is the slice's NIfTI affine (see
    :mod:`pathogan_bench.orientation`); ``orient="array"`` shows arrays as
    stored.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    channels = images.shape[0]
    names, base_c = _channel_labels(channel_names, channels)
    rows, trans = _image_rows(images, inpaintings, translated)
    maps = [(prob_title, np.asarray(prob, dtype=np.float32))]
    maps += [(k, np.asarray(v, dtype=np.float32)) for k, v in (extra_probs or {}).items()]
    show = lambda a: _display(a, orient, affine)  # noqa: E731
    ref = show(np.asarray(mask, dtype=np.float32))
    difference = np.abs(images - trans).mean(axis=0) if trans is not None and trans.shape[0] == channels else None
    fig, axes = panel_grid(
        max(len(rows), 1 + len(maps) + (difference is not None)),
        channels + 1,
        panel=2.1,
        row_gap=0.5,
        col_gap=0.08,
        top=0.55 + (0.3 if title else 0.0),
        right=0.75,
    )
    for ax in axes.flat:
        ax.set_visible(False)
    windows = [grey_window(show(images[c])) for c in range(channels)]
    _draw_image_rows(axes, rows, names, windows, show)
    right = [ax for ax in axes[:, channels]]
    for ax in right[: 1 + len(maps) + (difference is not None)]:
        ax.set_visible(True)
    _draw_overlay(
        right[0],
        show(images[base_c]),
        windows[base_c],
        ref,
        show(maps[0][1]),
        threshold,
        f"{names[base_c]}: ground truth\nand {prob_title}",
    )
    prob_images = [
        _draw_probability(ax, name, show(pmap), ref, dice_text(pmap, mask, threshold), threshold)
        for ax, (name, pmap) in zip(right[1:], maps)
    ]
    if difference is not None:
        _draw_difference(fig, right[1 + len(maps)], show(difference))
    for ax in right[1 : 1 + len(maps)]:
        colourbar(fig, ax, prob_images[-1], "probability")
    if orient == "nifti":
        mark_orientation(axes[0][0], affine)
    handles = overlay_key(threshold, filled_truth=bool(ref.any()))
    handles += one_pixel_key(ref, show(maps[0][1]) >= threshold if threshold is not None else None)
    add_key(
        fig,
        handles,
        figure_label([affine]) if orient == "nifti" else "arrays shown as stored (no reorientation)",
        title,
    )
    return save_figure(path, fig)


def one_pixel_key(truth: np.ndarray, prediction: np.ndarray | None) -> list:
    """Legend handles for one-pixel regions, whose outline is drawn as a small diamond (only where there are any)."""
    from matplotlib.lines import Line2D
    from scipy import ndimage

    handles = []
    for mask, colour, what in ((truth, GT_COLOUR, "ground truth"), (prediction, PRED_COLOUR, "prediction")):
        if mask is None:
            continue
        labels, n = ndimage.label(np.asarray(mask) >= 0.5)
        if n and (np.bincount(labels.ravel())[1:] == 1).any():
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="D",
                    markersize=5,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    label=f"{what}: a one-pixel region (outlined as a diamond)",
                )
            )
    return handles


def solid_cmap(colour: str):
    from matplotlib.colors import ListedColormap

    return ListedColormap([colour])


def dice_boxplot(
    path: str | Path,
    groups: Mapping[str, Sequence[float] | np.ndarray],
    title: str = "per-slice Dice",
    ylabel: str = "Dice (%)",
) -> Path:
    """Box plot of per-slice Dice (values in [0, 1], shown in %) per model."""
    plt = _plt()
    labels = list(groups)
    data = [
        100 * np.asarray(groups[k], dtype=np.float64)[~np.isnan(np.asarray(groups[k], dtype=np.float64))]
        for k in labels
    ]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(labels) + 1.5), 4.0))
    ax.boxplot(data, showmeans=True, meanprops={"marker": "D", "markerfacecolor": "white", "markersize": 5})
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(
        [f"{k}\n(n={len(d)})" for k, d in zip(labels, data)], fontsize=8, rotation=20 if len(labels) > 4 else 0
    )
    ax.set_ylabel(ylabel)
    ax.set_ylim(-2, 102)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{title} (box: quartiles, line: median, diamond: mean)", fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)


def per_slice_affines(affines: Any, n: int) -> list[Any]:
    """``affines`` as one entry per slice: None, one 4 x 4 affine for all, or a sequence of them."""
    if affines is None:
        return [None] * n
    arr = None
    try:
        arr = np.asarray(affines, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    if arr is not None and arr.shape == (4, 4):
        return [arr] * n
    out = list(affines)
    if len(out) != n:
        raise ValueError(f"{len(out)} affines for {n} slices")
    return out


def slice_grid(
    path: str | Path,
    images: np.ndarray,
    masks: np.ndarray,
    channel_names: Sequence[str],
    titles: Sequence[str],
    orient: str = "nifti",
    affines: Any = None,
    title: str | None = None,
) -> Path:
    """A grid of slices: one row per slice, one column per channel, tumour outline in every panel.

    ``images`` (N,C,H,W) are preprocessed slices in [-1, 1]. ``affines`` is
    the NIfTI affine of the slices' volumes: one 4 x 4 matrix for all, one
    per slice, or None (unknown; see :mod:`pathogan_bench.orientation`).
    """
    n, c = images.shape[:2]
    per = per_slice_affines(affines, n)
    fig, axes = panel_grid(n, c, panel=2.0, row_gap=0.06, col_gap=0.06, top=0.3 + (0.3 if title else 0.0), left=0.5)
    for i in range(n):
        outline_mask = _display(masks[i].astype(np.float32), orient, per[i])
        for j in range(c):
            ax = axes[i][j]
            _blank(ax)
            ax.imshow(_display(images[i, j], orient, per[i]), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            outline(ax, outline_mask, "truth")
            if i == 0:
                ax.set_title(modality_label(channel_names[j]) if j < len(channel_names) else f"channel {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(titles[i], fontsize=7)
    from matplotlib.lines import Line2D

    truth = Line2D([], [], color=GT_COLOUR, linewidth=GT_WIDTH, label="tumour outline (ground truth)")
    truth.set_path_effects(_halo(GT_WIDTH))
    if orient == "nifti":
        mark_orientation(axes[0][0], per[0])
    note = figure_label(per) if orient == "nifti" else "arrays shown as stored (no reorientation)"
    add_key(fig, [truth] if np.asarray(masks).any() else [], note, title)
    return save_figure(path, fig)
