"""Each modality's brain intensities before and after the paper's normalisation (section 2.5): raw scanner values,
then zero mean and standard deviation 1/3 over the brain, clipped to [-1, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..utils.io import save_figure
from .style import modality_label, pyplot


def intensity_histograms(
    raw: Mapping[str, np.ndarray], normalised: Mapping[str, np.ndarray], path: Path, title: str = ""
) -> Path:
    """One column per modality: the raw brain intensities (top) and the normalised ones (bottom) with the normal
    density N(0, 1/3) they are scaled to and the clipping bounds."""
    plt = pyplot()
    names = list(raw)
    fig, axes = plt.subplots(2, len(names), figsize=(2.8 * len(names), 4.6), squeeze=False)
    grid = np.linspace(-1.2, 1.2, 241)
    density = np.exp(-0.5 * (grid / (1 / 3)) ** 2) / ((1 / 3) * np.sqrt(2 * np.pi))
    for column, name in enumerate(names):
        top, bottom = axes[0][column], axes[1][column]
        values = np.asarray(raw[name], dtype=np.float64)
        top.hist(values, bins=120, color="0.35")
        top.set_title(modality_label(name), fontsize=9)
        top.set_xlabel("raw intensity", fontsize=7)
        done = np.asarray(normalised[name], dtype=np.float64)
        bottom.hist(done, bins=np.linspace(-1.05, 1.05, 85), density=True, color="C0", alpha=0.8)
        bottom.plot(grid, density, color="black", linewidth=1, label="N(0, 1/3)")
        for bound in (-1, 1):
            bottom.axvline(bound, color="C3", linewidth=0.8, linestyle="--")
        clipped = float(np.mean(np.abs(done) >= 1.0))
        bottom.set_xlabel(
            f"normalised (mean {done.mean():+.3f}, std {done.std():.3f}, clipped {clipped:.1%})", fontsize=7
        )
        for ax in (top, bottom):
            ax.tick_params(labelsize=6)
            ax.set_yticks([])
    axes[1][0].legend(fontsize=6, loc="upper left")
    fig.suptitle(title or "brain intensities before (top) and after (bottom) normalisation", fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)
