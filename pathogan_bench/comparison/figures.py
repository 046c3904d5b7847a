"""Figures of a model comparison: annotation efficiency, the same test slices under every model, and every model's
score under every threshold policy (``policies.png``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.slices import HEALTHY, PATHOLOGICAL
from ..errors import UserError
from ..figures.style import (
    PRED_COLOUR,
    PRED_DASHES,
    PROB_CMAP,
    add_key,
    dice_text,
    draw_truth,
    grey_window,
    mark_orientation,
    modality_label,
    outline,
    overlay_key,
    panel_grid,
    preferred_channel,
)
from ..record.facts import RunFacts
from ..utils.io import save_figure
from ..utils.orientation import figure_label, orientation_label, to_display
from .policy_tables import pooled_policy_frame
from .runs import ComparedRun, LoadedRun, seed_summary

#: probabilities below this are not drawn over the image
OVERLAY_FROM = 0.05


def label_efficiency_figure(runs: list[LoadedRun], path: Path) -> Path:
    """Test Dice against the fraction of training patients with pixel labels; weak and healthy-trained models as
    horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = seed_summary(runs)
    fig, ax = plt.subplots(figsize=(6, 4))
    for model, rows in table[table["supervision"] == "full"].groupby("model"):
        rows = rows.sort_values("label_fraction")
        ax.errorbar(
            rows["label_fraction"],
            100 * rows["dice_mean"],
            yerr=100 * rows["dice_std"],
            marker="o",
            capsize=3,
            label=f"{model} (pixel labels)",
        )
    for i, (_, row) in enumerate(table[table["supervision"] != "full"].iterrows()):
        ax.axhline(
            100 * row["dice_mean"],
            linestyle="--",
            color=f"C{i + 5}",
            label=f"{row['model']} ({row['supervision']}, no pixel labels)",
        )
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training patients with pixel labels")
    ax.set_ylabel("test Dice per slice (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("How much annotation is weak supervision worth?")
    return save_figure(path, fig)


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _slices(run_dir: Path, keys: list[tuple[str, int]], with_mask: bool) -> dict[str, Any]:
    """What the figure needs of one run's ``predictions.npz`` for the slices ``keys`` (one array at a time).

    ``rows`` maps each key to its position in the returned ``prob``,
    ``image`` (FLAIR or another kept channel; None for runs that kept
    none), ``affine`` (None if not kept) and ``mask`` (with ``with_mask``).
    """
    with np.load(run_dir / "predictions.npz", allow_pickle=False) as data:
        files = set(data.files)
        patient, z = data["patient"].astype(str), data["z"]
        found = {}
        for key in keys:
            hit = np.flatnonzero((patient == key[0]) & (z == key[1]))
            if len(hit):
                found[key] = int(hit[0])
        take = np.asarray(list(found.values()), dtype=np.int64)
        out: dict[str, Any] = {
            "rows": {key: n for n, key in enumerate(found)},
            "threshold": float(data["threshold"]),
            "prob": data["prob"][take],
            "image": None,
            "modality": "",
            "affine": None,
        }
        if with_mask:
            out["mask"] = data["mask"][take]
        if "image" in files:
            out["image"] = data["image"][take]
            out["modality"] = str(data["image_modality"]) if "image_modality" in files else ""
        elif "images" in files and data["images"].ndim == 4:  # every channel, as some runs kept them
            try:
                modalities = RunFacts.load(run_dir).modalities
            except UserError:
                modalities = []
            images = data["images"]
            c = preferred_channel(modalities)
            c = c if c < images.shape[1] else 0
            out["image"] = images[take, c]
            out["modality"] = modalities[c] if c < len(modalities) else ""
        if "affine" in files:
            out["affine"] = data["affine"][take]
    return out


def _chosen_slices(run_dir: Path, n_slices: int) -> list[tuple[str, int]] | None:
    """(patient, z) of the run's test slices to show: tumour slices from the largest tumour to the smallest,
    then the healthy slice with the most brain (where false positives show); None without test slices."""
    with np.load(run_dir / "predictions.npz", allow_pickle=False) as data:
        split, patient, z = data["split"].astype(str), data["patient"].astype(str), data["z"]
        test = np.flatnonzero(split == "test")
        if not len(test):
            return None
        area = data["mask"][test].reshape(len(test), -1).sum(1)
        domain = data["domain"][test] if "domain" in data.files else np.full(len(test), PATHOLOGICAL, np.int8)
        brain = data["brain"][test].reshape(len(test), -1).sum(1) if "brain" in data.files else area
    tumour = np.flatnonzero(domain == PATHOLOGICAL)
    healthy = np.flatnonzero((domain == HEALTHY) & (brain > 0))
    n_tumour = min(n_slices - (1 if len(healthy) else 0), len(tumour))
    order = tumour[np.argsort(-area[tumour], kind="stable")]
    chosen = list(test[order[np.linspace(0, len(order) - 1, n_tumour).astype(int)]]) if n_tumour else []
    if len(healthy):
        chosen.append(test[healthy[np.argmax(brain[healthy])]])
    return [(str(patient[i]), int(z[i])) for i in chosen]


def _note_missing(runs: list[ComparedRun], parts: list[dict[str, Any]], note: Callable[[str], None]) -> None:
    """Say which runs keep no FLAIR slices or affines, and what is shown instead."""
    for r, part in zip(runs, parts):
        if part["image"] is None:
            note(
                f"{r.run_dir / 'predictions.npz'} keeps no FLAIR slices (written by an older version): "
                + (
                    "FLAIR taken from another run"
                    if any(q["image"] is not None for q in parts)
                    else "maps shown without the anatomy underneath"
                )
            )
        if part["affine"] is None:
            note(
                f"{r.run_dir / 'predictions.npz'} keeps no affines (written by an older version): "
                + (
                    "orientation taken from another run"
                    if any(q["affine"] is not None for q in parts)
                    else f"slices shown as {orientation_label(None)}"
                )
            )


def _background(
    parts: list[dict[str, Any]], key: tuple[str, int], shape: tuple[int, ...], own: int
) -> tuple[np.ndarray | None, Any]:
    """Background slice and affine of a slice, from the run itself or else any run that has them."""
    image, affine = None, None
    for part in [parts[own]] + [q for j, q in enumerate(parts) if j != own]:
        n = part["rows"].get(key)
        if n is None:
            continue
        if image is None and part["image"] is not None and part["image"][n].shape == shape:
            image = np.asarray(part["image"][n], dtype=np.float32)
        if affine is None and part["affine"] is not None:
            affine = part["affine"][n]
    return image, affine


def _truth_panel(ax, ref: np.ndarray, background: np.ndarray | None) -> None:
    """The ground truth filled and outlined over the (display-oriented) background, or alone without one."""
    if background is None:
        ax.imshow(ref, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        outline(ax, ref, "truth")
        return
    lo, hi = grey_window(background)
    ax.imshow(background, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    draw_truth(ax, ref)


def _run_panel(ax, prob: np.ndarray, background: np.ndarray | None, ref: np.ndarray, threshold: float):
    """One run's (display-oriented) probability map over the background, with outlines and the slice's Dice.

    Returns the probability image, for the colour bar.
    """
    import matplotlib.patheffects as pe

    if background is None:
        prob_image = ax.imshow(prob, cmap=PROB_CMAP, vmin=0, vmax=1, interpolation="nearest")
    else:
        lo, hi = grey_window(background)
        ax.imshow(background, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        prob_image = ax.imshow(
            np.ma.masked_where(prob < OVERLAY_FROM, prob),
            cmap=PROB_CMAP,
            vmin=0,
            vmax=1,
            alpha=0.75,
            interpolation="nearest",
        )
    if prob.shape == ref.shape:
        outline(ax, ref, "truth")
        ax.text(
            0.97,
            0.03,
            dice_text(prob, ref, threshold),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="white",
            path_effects=[pe.withStroke(linewidth=2, foreground="black")],
        )
    outline(ax, prob >= threshold, "prediction")
    return prob_image


def _slice_row(axes_row, parts: list[dict[str, Any]], key: tuple[str, int]) -> tuple[Any, Any]:
    """One slice under every run: the ground truth, then each run's map. Returns the slice's affine and
    the last probability image drawn (None if no run has the slice)."""
    mask = parts[0]["mask"][parts[0]["rows"][key]]
    bg, affine = _background(parts, key, mask.shape, 0)
    show = lambda a: to_display(np.asarray(a, dtype=np.float32), affine)  # noqa: E731
    ref = show(mask)
    axes_row[0].set_ylabel(f"{key[0]}\nz={key[1]}", fontsize=7)
    _truth_panel(axes_row[0], ref, None if bg is None else show(bg))
    prob_image = None
    for k, part in enumerate(parts):
        ax, n = axes_row[k + 1], part["rows"].get(key)
        if n is None:
            ax.text(0.5, 0.5, "not evaluated", ha="center", va="center", fontsize=7, transform=ax.transAxes)
            continue
        prob = show(part["prob"][n])
        bg_k = _background(parts, key, prob.shape, k)[0]
        prob_image = _run_panel(ax, prob, None if bg_k is None else show(bg_k), ref, part["threshold"])
    return affine, prob_image


def _probability_bar(fig, axes, prob_image) -> None:
    """One probability colour bar right of the last column, as tall as most of the panels."""
    top, bottom = axes[0][-1].get_position().y1, axes[-1][-1].get_position().y0
    height = top - bottom
    cax = fig.add_axes(
        [
            axes[0][-1].get_position().x1 + 0.15 / fig.get_figwidth(),
            bottom + 0.1 * height,
            0.12 / fig.get_figwidth(),
            0.8 * height,
        ]
    )
    bar = fig.colorbar(prob_image, cax=cax)
    bar.set_label(f"probability (shown from {OVERLAY_FROM:g})", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def _threshold_key(thresholds: list[float]) -> list:
    """Legend handles: the outlines, with the one threshold, or each run's thresholds when they differ."""
    handles = overlay_key(float(thresholds[0]) if len(set(thresholds)) == 1 else None, filled_truth=True)
    if len(set(thresholds)) > 1:
        from matplotlib.lines import Line2D

        thresholds_text = ", ".join(dict.fromkeys(f"{t:g}" for t in thresholds))
        handles.append(
            Line2D(
                [],
                [],
                color=PRED_COLOUR,
                linewidth=2,
                linestyle=PRED_DASHES,
                label=f"prediction ≥ each run's threshold ({thresholds_text})",
            )
        )
    return handles


def same_slices_figure(
    runs: list[ComparedRun], path: Path, n_slices: int = 4, note: Callable[[str], None] | None = None
) -> Path | None:
    """The same test slices segmented by every model, on the FLAIR image, next to the ground truth.

    Rows are test slices of the first run (pathological ones from the
    largest tumour to the smallest, and the healthy slice with the most
    brain, where false positives show), columns the ground truth and each run's probability map over
    the FLAIR slice, with the outlines of the ground truth and of the
    prediction at the run's threshold, and the slice's Dice. Runs written
    before ``predictions.npz`` kept FLAIR slices and affines are shown
    without the anatomy or with the orientation of another run (else the
    assumed one), with a ``note`` (printed to stderr by default).
    """
    if not runs:
        return None
    keys = _chosen_slices(runs[0].run_dir, n_slices)
    if keys is None:
        return None
    parts = [_slices(r.run_dir, keys, with_mask=k == 0) for k, r in enumerate(runs)]
    _note_missing(runs, parts, note or _note)
    modality = modality_label(next((q["modality"] for q in parts if q["modality"]), "FLAIR"))
    columns = [f"{modality}: ground truth"] + [r.model for r in runs]
    fig, axes = panel_grid(
        len(keys), len(columns), panel=2.0, row_gap=0.06, col_gap=0.06, top=0.65, right=0.85, left=0.45
    )
    for ax, name in zip(axes[0], columns):
        ax.set_title(name, fontsize=8)
    prob_image, affines = None, []
    for row, key in enumerate(keys):
        affine, drawn = _slice_row(axes[row], parts, key)
        affines.append(affine)
        prob_image = drawn if drawn is not None else prob_image
    mark_orientation(axes[0][0], affines[0])
    if prob_image is not None:
        _probability_bar(fig, axes, prob_image)
    add_key(
        fig,
        _threshold_key([q["threshold"] for q in parts]),
        figure_label(affines),
        "test slices: each model's probability map over the same slices (Dice per slice)",
    )
    return save_figure(path, fig)


def policy_figure(frame: pd.DataFrame, path: Path, key: str = "dice_3d", label: str = "3D Dice") -> Path:
    """One panel per post-processing chain: each model's mean ``key`` (± std over its runs) per policy, the
    FLAIR threshold in black; ``frame`` is ``policy_frame``'s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = pooled_policy_frame(frame, key)
    policies = list(dict.fromkeys(frame["policy"]))
    chains = list(dict.fromkeys(pooled["postprocess"]))
    groups = list(dict.fromkeys(pooled["group"]))
    width = max(4.5, 0.9 * len(policies) + 1.5)
    fig, axes = plt.subplots(1, len(chains), figsize=(width * len(chains), 4.2), sharey=True, squeeze=False)
    spread = 0.6 / max(1, len(groups))
    colours = iter(f"C{i}" for i in range(10 * len(groups)))
    style = {
        g: ("black", "s") if pooled[pooled["group"] == g]["reference"].all() else (next(colours), "o") for g in groups
    }
    for ax, chain in zip(axes[0], chains):
        here = pooled[pooled["postprocess"] == chain]
        for i, group in enumerate(groups):
            rows = here[here["group"] == group].set_index("policy").reindex(policies)
            x = np.arange(len(policies)) + (i - (len(groups) - 1) / 2) * spread
            colour, marker = style[group]
            runs = int(rows["runs"].max()) if rows["runs"].notna().any() else 0
            ax.errorbar(
                x,
                100 * rows["mean"].to_numpy(float),
                yerr=100 * rows["std"].fillna(0).to_numpy(float),
                color=colour,
                marker=marker,
                markersize=5,
                linestyle="none",
                capsize=2,
                label=f"{group} ({runs} runs)" + (", reference" if marker == "s" else ""),
            )
        for j in range(1, len(policies), 2):  # a band behind every other policy keeps its models together
            ax.axvspan(j - 0.5, j + 0.5, color="0.94", zorder=0)
        ax.set_xlim(-0.5, len(policies) - 0.5)
        ax.set_xticks(range(len(policies)))
        ax.set_xticklabels([p.replace(" (", "\n(") for p in policies], fontsize=8)
        ax.set_xlabel("threshold policy")
        ax.set_title(f"post-processing: {chain}", fontsize=9)
        ax.set_ylim(-2, 102)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"test {label} (%)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="model", title_fontsize=8)
    fig.suptitle(
        f"{label} under every threshold policy: mean ± std over each model's runs (folds and seeds)", fontsize=10
    )
    fig.tight_layout()
    return save_figure(path, fig)
