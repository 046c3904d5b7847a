"""PathoGAN's own command: ``pathogan-bench sample`` draws new pathologies on healthy slices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click
import numpy as np
import torch

from pathogan_bench.plugin import (
    HEALTHY,
    SAMPLES,
    SEED,
    UserError,
    get_registry,
    load_trained_model,
    prepare_data,
    refuse_foreign_run_dir,
    save_nifti,
    save_sample_grid,
)

#: samples drawn at once (memory stays bounded whatever --n asks)
CHUNK = 16
#: mean pairwise Dice of the drawn label maps above which the samples are reported as one repeated pathology
SAME_PATHOLOGY_DICE = 0.9


def slice_affine(volume_affine: list[list[float]] | None, spacing: tuple[float, float]) -> np.ndarray:
    """An affine for a stack of 2D slices: the source volume's axis directions, the slices' pixel size, 1 mm apart."""
    affine = np.eye(4)
    directions = np.eye(3)
    if volume_affine is not None:
        linear = np.asarray(volume_affine, dtype=np.float64)[:3, :3]
        norms = np.linalg.norm(linear, axis=0)
        if np.all(norms > 0):
            directions = linear / norms
    affine[:3, :3] = directions * np.array([spacing[0], spacing[1], 1.0])
    return affine


def pairwise_dice(labels: np.ndarray) -> float:
    """Mean Dice between every pair of binary maps (N, H, W); NaN for fewer than two non-empty maps."""
    flat = labels.reshape(len(labels), -1).astype(np.float64)
    sizes = flat.sum(1)
    keep = sizes > 0
    if keep.sum() < 2:
        return float("nan")
    flat, sizes = flat[keep], sizes[keep]
    overlap = flat @ flat.T
    dice = 2 * overlap / (sizes[:, None] + sizes[None, :])
    upper = np.triu_indices(len(flat), k=1)
    return float(dice[upper].mean())


def _healthy_slices(data: Any, run_dir: Path) -> np.ndarray:
    """The healthy test slices pathologies are drawn on (every split's when the test split has none)."""
    idx = data.indices("test", domain=HEALTHY)
    if not len(idx):
        idx = np.flatnonzero(data.table.domain == HEALTHY)
        click.echo("note: the test split has no healthy slice; drawing on healthy slices of every split", err=True)
    if not len(idx):
        raise UserError(f"{run_dir}: its data has no healthy slice to draw pathologies on")
    return idx


def _grid_title(n: int, similarity: float, collapsed: bool, any_label: bool) -> str:
    title = f"{n} pathologies drawn from N(0, I)"
    if collapsed:
        title += f"\nnearly all the same (mean pairwise Dice {similarity:.2f}): the model may be under-trained"
    return title + ("" if any_label else "\nno sample has a pathology above the threshold")


@click.command("sample")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--n", type=SAMPLES.click_type(), default=16, show_default=True, help="Number of samples.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Default: RUN_DIR/samples.")
@click.option(
    "--seed",
    type=SEED.click_type(),
    default=0,
    show_default=True,
    help="Seed of the healthy slices chosen and of the pathology codes delta_B drawn.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def sample_command(run_dir: Path, n: int, out_dir: Path | None, seed: int, device: str) -> None:
    """Draw new pathologies on healthy test slices (PathoGAN: delta_B ~ N(0, I)).

    Writes samples.png (healthy input, label map, inpainting, result) and
    NIfTI stacks, one slice per sample: samples-MODALITY.nii.gz (the results),
    samples-prob.nii.gz (the label maps l_A) and samples-label.nii.gz (l_A >=
    the model's threshold).

    \b
    Example:
        pathogan-bench sample runs/RUN --n 16
    """
    registry = get_registry()
    model, config, info = load_trained_model(run_dir, device, registry)
    if not hasattr(model, "sample"):
        raise UserError(f"{run_dir}: model '{config.model}' cannot sample pathologies (it has no generative model)")
    out_dir = out_dir or run_dir / "samples"
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: --out names a file, not a folder")
    refuse_foreign_run_dir(out_dir, "--out", subject=run_dir)
    data = prepare_data(config, registry)
    idx = _healthy_slices(data, run_dir)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(idx, size=n, replace=len(idx) < n))
    dev = next(model.parameters()).device
    healthy = torch.from_numpy(np.ascontiguousarray(data.table.images[chosen], dtype=np.float32)).to(dev)
    generator = torch.Generator().manual_seed(seed)
    parts = [cast(Any, model).sample(chunk, generator=generator) for chunk in healthy.split(CHUNK)]  # checked above
    result = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
    panels = {
        "healthy x_A": healthy,
        "label l_A": result["label"],
        "inpainting p_A": result["inpainting"],
        "sample y_B": result["translated"],
    }
    table = data.table
    affines = [table.volumes.get(str(table.patient[i]), {}).get("affine") for i in chosen]
    prob = result["label"][:, 0].float().cpu().numpy()
    labels = prob >= model.threshold
    similarity = pairwise_dice(labels)
    collapsed = similarity > SAME_PATHOLOGY_DICE
    save_sample_grid(
        out_dir / "samples.png",
        panels,
        title=_grid_title(n, similarity, collapsed, bool(labels.any())),
        max_items=min(n, 8),
        channel_names=tuple(info.modalities),
        affine=affines[: min(n, 8)],
    )
    affine = slice_affine(affines[0], table.spacing)
    for i, m in enumerate(info.modalities):
        save_nifti(
            out_dir / f"samples-{m}.nii.gz", np.moveaxis(result["translated"][:, i].cpu().numpy(), 0, -1), affine
        )
    save_nifti(out_dir / "samples-prob.nii.gz", np.moveaxis(prob, 0, -1), affine)
    save_nifti(out_dir / "samples-label.nii.gz", np.moveaxis(labels.astype(np.uint8), 0, -1), affine)
    click.echo(f"wrote {n} samples to {out_dir}")
    if collapsed:
        click.echo(
            f"warning: the drawn pathologies are nearly all the same (mean pairwise Dice {similarity:.2f}); "
            "the model may be under-trained",
            err=True,
        )
