"""``policies.png``: every model's score under every threshold policy, before and after post-processing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import save_figure
from .policies import pooled_policy_frame


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
