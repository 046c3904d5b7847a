"""Figures of a model comparison: annotation efficiency and the same test slices under every model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import save_figure
from .summary import ComparedRun, seed_summary

def label_efficiency_figure(runs: list[ComparedRun], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = seed_summary(runs)
    fig, ax = plt.subplots(figsize=(6, 4))
    for model, rows in table[table["supervision"] == "full"].groupby("model"):
        rows = rows.sort_values("label_fraction")
        ax.errorbar(rows["label_fraction"], 100 * rows["dice_mean"], yerr=100 * rows["dice_std"], marker="o",
                    capsize=3, label=f"{model} (pixel labels)")
    for i, (_, row) in enumerate(table[table["supervision"] != "full"].iterrows()):
        ax.axhline(100 * row["dice_mean"], linestyle="--", color=f"C{i + 5}",
                   label=f"{row['model']} ({row['supervision']}, no pixel labels)")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training patients with pixel labels")
    ax.set_ylabel("test Dice per slice (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("How much annotation is weak supervision worth?")
    return save_figure(path, fig)


def same_slices_figure(runs: list[ComparedRun], path: Path, n_slices: int = 4) -> Path | None:
    """The same test slices segmented by every model, next to the ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        return None
    preds = {r.model: np.load(r.run_dir / "predictions.npz") for r in runs}
    first = preds[runs[0].model]
    test = np.flatnonzero(first["split"] == "test")
    if not len(test):
        return None
    area = first["mask"][test].reshape(len(test), -1).sum(1)
    order = test[np.argsort(-area)]
    chosen = order[np.linspace(0, len(order) - 1, min(n_slices, len(order))).astype(int)]
    keys = [(str(first["patient"][i]), int(first["z"][i])) for i in chosen]
    columns = ["ground truth"] + [r.model for r in runs]
    fig, axes = plt.subplots(len(keys), len(columns), figsize=(2.2 * len(columns), 2.2 * len(keys)), squeeze=False)
    for row, (patient, z) in enumerate(keys):
        for col, name in enumerate(columns):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            p = first if col == 0 else preds[name]
            hit = np.flatnonzero((p["patient"] == patient) & (p["z"] == z))
            if len(hit):
                img = p["mask"][hit[0]] if col == 0 else p["prob"][hit[0]].astype(np.float32)
                ax.imshow(img.T[::-1], cmap="magma", vmin=0, vmax=1)
            if row == 0:
                ax.set_title(name, fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{patient}\nz={z}", fontsize=7)
    fig.suptitle("test slices: ground truth and each model's probability map", fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)
