"""Slice figures: the paper's Fig. 2 for one slice, per-slice Dice box plots and slice grids (their shared look:
:mod:`pathogan_bench.figures.style`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import save_figure
from ..utils.orientation import figure_label
from .style import (
    DIFF_CMAP,
    DIFF_MAX,
    GT_COLOUR,
    GT_WIDTH,
    PRED_COLOUR,
    PROB_CMAP,
    add_key,
    blank_axes,
    colourbar,
    dice_text,
    display_array,
    draw_truth,
    grey_window,
    halo,
    mark_orientation,
    modality_label,
    outline,
    overlay_key,
    panel_grid,
    per_slice_affines,
    preferred_channel,
    pyplot,
)


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
    :mod:`pathogan_bench.utils.orientation`); ``orient="array"`` shows arrays as
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
    show = lambda a: display_array(a, orient, affine)  # noqa: E731
    ref = show(np.asarray(mask, dtype=np.float32))
    difference = np.abs(images - trans).mean(axis=0) if trans is not None and trans.shape[0] == channels else None
    fig, axes = _fig2_grid(max(len(rows), 1 + len(maps) + (difference is not None)), channels, bool(title))
    windows = [grey_window(show(images[c])) for c in range(channels)]
    _draw_image_rows(axes, rows, names, windows, show)
    _draw_map_column(
        fig,
        list(axes[:, channels]),
        show,
        (show(images[base_c]), windows[base_c], f"{names[base_c]}: ground truth\nand {prob_title}"),
        ref,
        mask,
        maps,
        difference,
        threshold,
    )
    _fig2_key(fig, axes, ref, show(maps[0][1]), threshold, orient, affine, title)
    return save_figure(path, fig)


def _fig2_key(
    fig: Any,
    axes: Any,
    ref: np.ndarray,
    prob: np.ndarray,
    threshold: float | None,
    orient: str,
    affine: Any,
    title: str | None,
) -> None:
    """Fig. 2's orientation mark and its key: outlines, one-pixel regions, the orientation, the title."""
    if orient == "nifti":
        mark_orientation(axes[0][0], affine)
    handles = overlay_key(threshold, filled_truth=bool(ref.any()))
    handles += one_pixel_key(ref, prob >= threshold if threshold is not None else None)
    add_key(
        fig,
        handles,
        figure_label([affine]) if orient == "nifti" else "arrays shown as stored (no reorientation)",
        title,
    )


def _fig2_grid(rows: int, channels: int, titled: bool) -> tuple[Any, Any]:
    """Fig. 2's panels, all hidden until drawn: ``channels`` image columns and the map column."""
    fig, axes = panel_grid(
        rows, channels + 1, panel=2.1, row_gap=0.5, col_gap=0.08, top=0.55 + (0.3 if titled else 0.0), right=0.75
    )
    for ax in axes.flat:
        ax.set_visible(False)
    return fig, axes


def _draw_map_column(
    fig: Any,
    right: list[Any],
    show: Any,
    base: tuple[np.ndarray, Any, str],
    ref: np.ndarray,
    mask: np.ndarray,
    maps: list[tuple[str, np.ndarray]],
    difference: np.ndarray | None,
    threshold: float | None,
) -> None:
    """The right column of Fig. 2: the overlay on the base channel (image, grey window, title), each probability
    map with its Dice, the difference map, and the probability colour bars."""
    for ax in right[: 1 + len(maps) + (difference is not None)]:
        ax.set_visible(True)
    image, window, title = base
    _draw_overlay(right[0], image, window, ref, show(maps[0][1]), threshold, title)
    prob_images = [
        _draw_probability(ax, name, show(pmap), ref, dice_text(pmap, mask, threshold), threshold)
        for ax, (name, pmap) in zip(right[1:], maps)
    ]
    if difference is not None:
        _draw_difference(fig, right[1 + len(maps)], show(difference))
    for ax in right[1 : 1 + len(maps)]:
        colourbar(fig, ax, prob_images[-1], "probability")


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


def dice_boxplot(
    path: str | Path,
    groups: Mapping[str, Sequence[float] | np.ndarray],
    title: str = "per-slice Dice",
    ylabel: str = "Dice (%)",
) -> Path:
    """Box plot of per-slice Dice (values in [0, 1], shown in %) per model."""
    plt = pyplot()
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
    per slice, or None (unknown; see :mod:`pathogan_bench.utils.orientation`).
    """
    n, c = images.shape[:2]
    per = per_slice_affines(affines, n)
    fig, axes = panel_grid(n, c, panel=2.0, row_gap=0.06, col_gap=0.06, top=0.3 + (0.3 if title else 0.0), left=0.5)
    for i in range(n):
        outline_mask = display_array(masks[i].astype(np.float32), orient, per[i])
        for j in range(c):
            ax = axes[i][j]
            blank_axes(ax)
            ax.imshow(
                display_array(images[i, j], orient, per[i]), cmap="gray", vmin=-1, vmax=1, interpolation="nearest"
            )
            outline(ax, outline_mask, "truth")
            if i == 0:
                ax.set_title(modality_label(channel_names[j]) if j < len(channel_names) else f"channel {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(titles[i], fontsize=7)
    from matplotlib.lines import Line2D

    truth = Line2D([], [], color=GT_COLOUR, linewidth=GT_WIDTH, label="tumour outline (ground truth)")
    truth.set_path_effects(halo(GT_WIDTH))
    if orient == "nifti":
        mark_orientation(axes[0][0], per[0])
    note = figure_label(per) if orient == "nifti" else "arrays shown as stored (no reorientation)"
    add_key(fig, [truth] if np.asarray(masks).any() else [], note, title)
    return save_figure(path, fig)
