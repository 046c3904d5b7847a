"""The look every figure shares: panel grids, colours, outlines, keys and orientation marks.

Slices are arrays ``img[x, y]`` cut from NIfTI volumes (``volume[:, :, z]``);
every figure shows them in the radiological convention (anterior up, the
patient's left on the image's right) using the volume's affine, see
:mod:`pathogan_bench.utils.orientation`, and says so under the panels. MR images
are grey, preprocessed ones (in [-1, 1]) on a fixed [-1, 1] scale so that
slices and models compare; probability maps use one fixed 0-1 colour map
with a colour bar.
Outlines have a thin black edge so they stand out on dark and bright tissue:
the ground truth in cyan (solid), the prediction at the model's threshold in
chartreuse (dashed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics import dice
from ..utils.orientation import slice_view, to_display

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


def pyplot():
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


def display_array(img: np.ndarray, orient: str, affine: Any = None) -> np.ndarray:
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
    plt = pyplot()
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
        blank_axes(ax)
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


def blank_axes(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def halo(width: float) -> list:
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
        cs.set_path_effects(halo(GT_WIDTH))
    else:
        cs = ax.contour(
            mask.astype(np.float32), levels=[0.5], colors=PRED_COLOUR, linewidths=PRED_WIDTH, linestyles=[PRED_DASHES]
        )
        cs.set_path_effects(halo(PRED_WIDTH))


def overlay_key(threshold: float | None = 0.5, filled_truth: bool = False) -> list:
    """Legend handles for the outlines (and the filled ground truth)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list = []
    if filled_truth:
        handles.append(Patch(facecolor=GT_COLOUR, alpha=0.35, edgecolor=GT_COLOUR, label="ground truth (filled)"))
    truth = Line2D([], [], color=GT_COLOUR, linewidth=GT_WIDTH, label="ground truth outline")
    truth.set_path_effects(halo(GT_WIDTH))
    handles.append(truth)
    if threshold is not None:
        pred = Line2D(
            [],
            [],
            color=PRED_COLOUR,
            linewidth=PRED_WIDTH,
            linestyle=PRED_DASHES,
            label=f"prediction: probability ≥ {threshold:.3g}",
        )
        pred.set_path_effects(halo(PRED_WIDTH))
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


def solid_cmap(colour: str):
    from matplotlib.colors import ListedColormap

    return ListedColormap([colour])


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
