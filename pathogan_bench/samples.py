"""Sample grids: named images of a few batch items, one column per name."""

from __future__ import annotations

from pathlib import Path

import torch

from .io import save_figure


def save_sample_grid(path: Path, panels: dict[str, torch.Tensor], title: str = "", max_items: int = 4,
                     channel_names: tuple[str, ...] = ()) -> Path:
    """Write a PNG grid: columns = panel names (every channel of each), rows = batch items.

    Images in [-1, 1] are shown in grey; maps with one channel in [0, 1]
    (label maps, probabilities) in a colour map with a fixed 0-1 range.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns: list[tuple[str, torch.Tensor, bool]] = []
    for name, tensor in panels.items():
        tensor = tensor.detach().float().cpu()[:max_items]
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(1)
        is_map = tensor.shape[1] == 1 and float(tensor.min()) >= 0.0
        for c in range(tensor.shape[1]):
            label = name if tensor.shape[1] == 1 else f"{name} [{channel_names[c] if c < len(channel_names) else c}]"
            columns.append((label, tensor[:, c], is_map))
    n_items = max(images.shape[0] for _, images, _ in columns)
    fig, axes = plt.subplots(n_items, len(columns), figsize=(1.6 * len(columns), 1.6 * n_items + 0.4), squeeze=False)
    for col, (label, images, is_map) in enumerate(columns):
        for i in range(n_items):
            ax = axes[i][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if i < images.shape[0]:
                img = images[i].numpy().T[::-1]  # NIfTI (x, y) -> radiological display
                if is_map:
                    ax.imshow(img, cmap="magma", vmin=0, vmax=1)
                else:
                    ax.imshow(img, cmap="gray", vmin=-1, vmax=1)
            if i == 0:
                ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)
