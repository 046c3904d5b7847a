"""``pathogan-bench segment`` and ``sample``: use a trained model."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch

from ..errors import UserError
from ..progress import progress_bar


def _case_of(folder: Path, modalities: list[str]):
    """The one case in ``folder`` (any supported naming scheme)."""
    from ..registry import create

    try:
        collection = create("dataset", "auto", folder, modalities=modalities)
    except UserError:
        collection = None
    if collection is None or len(collection) == 0:  # a patient folder of a per-patient layout
        parent = create("dataset", "auto", folder.parent, modalities=modalities)
        cases = [c for c in parent.cases if c.patient_id == folder.name]
    else:
        cases = collection.cases
    if len(cases) != 1:
        raise UserError(f"{folder}: expected one case with modalities {', '.join(modalities)}, found {len(cases)}")
    return cases[0]


def _parse_range(text: str | None, depth: int) -> tuple[int, int]:
    if not text:
        return 0, depth - 1
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise UserError(f"--slices {text}: expected FIRST-LAST, e.g. 60-100") from None
    return max(0, lo), min(depth - 1, hi)


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    import nibabel as nib

    from ..io import atomic_path

    with atomic_path(path) as tmp:
        nib.save(nib.Nifti1Image(data, affine), str(tmp))


@click.command("segment")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--slices", "slice_range", help="Axial slices FIRST-LAST to segment (default: all).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--device", default="auto", show_default=True)
def segment_command(run_dir: Path, inputs: tuple[Path, ...], out_dir: Path, slice_range: str | None, batch_size: int,
                    device: str) -> None:
    """Segment NIfTI volumes slice by slice with a trained run's model.

    Each INPUT is a case folder (any supported naming scheme) holding the
    modalities the model was trained on. Writes, with the input's affine,
    PATIENT-prob.nii.gz (probability), PATIENT-label.nii.gz (binary) and,
    for models that translate, PATIENT-healthy-MODALITY.nii.gz (the healthy
    inpainting, in normalised intensities).

    \b
    Example:
        pathogan-bench segment runs/RUN ../shared/data/brats2023-gli-unlabeled/BraTS-GLI-00001-000 --out seg
    """
    from ..data.cases import read_volume
    from ..data.slices import normalise_volume
    from ..engine import load_trained_model

    model, config, info = load_trained_model(run_dir, device)
    dev = next(model.parameters(), torch.empty(0)).device
    modalities = list(info["modalities"])
    size = int(info["image_size"])
    for folder in inputs:
        case = _case_of(folder, modalities)
        stack, first = case.load_all(modalities)
        brain = read_volume(case.brain_mask).data > 0 if case.brain_mask else np.any(stack != 0, axis=0)
        stack = np.stack([normalise_volume(v, brain) for v in stack])
        x_size, y_size, depth = stack.shape[1:]
        lo, hi = _parse_range(slice_range, depth)
        prob = np.zeros((x_size, y_size, depth), np.float32)
        healthy = np.zeros((len(modalities), x_size, y_size, depth), np.float32)
        has_translation = False
        starts = range(lo, hi + 1, batch_size)
        with progress_bar(starts, f"segmenting {case.patient_id}") as bar:
            for start in bar:
                zs = np.arange(start, min(hi + 1, start + batch_size))
                batch = torch.from_numpy(np.ascontiguousarray(np.moveaxis(stack[:, :, :, zs], -1, 0))).to(dev)
                resized = batch if batch.shape[-1] == size and batch.shape[-2] == size else \
                    torch.nn.functional.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False)
                p, images = model.segment_and_translate(resized)
                p, extra = p[:, None], images.get("translated")
                back = lambda t: t if t.shape[-2:] == batch.shape[-2:] else torch.nn.functional.interpolate(  # noqa: E731
                    t, size=batch.shape[-2:], mode="bilinear", align_corners=False)
                prob[:, :, zs] = np.moveaxis(back(p)[:, 0].cpu().numpy(), 0, -1)
                if extra is not None:
                    has_translation = True
                    healthy[:, :, :, zs] = np.moveaxis(back(extra).cpu().numpy(), 0, -1)
        prob[~brain] = 0
        target = out_dir / case.patient_id
        _save_nifti(target / f"{case.patient_id}-prob.nii.gz", prob, first.affine)
        _save_nifti(target / f"{case.patient_id}-label.nii.gz", (prob >= model.threshold).astype(np.uint8), first.affine)
        if has_translation:
            for i, m in enumerate(modalities):
                _save_nifti(target / f"{case.patient_id}-healthy-{m}.nii.gz", healthy[i], first.affine)
        click.echo(f"{case.patient_id}: {int((prob >= model.threshold).sum())} voxels labelled -> {target}")


@click.command("sample")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--n", type=int, default=16, show_default=True, help="Number of samples.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Default: RUN_DIR/samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
def sample_command(run_dir: Path, n: int, out_dir: Path | None, seed: int, device: str) -> None:
    """Draw new pathologies on healthy test slices (delta_B ~ N(0, I)).

    Writes samples.png (healthy input, label map, inpainting, result) and
    NIfTI stacks of the results, one per modality, and of the label maps.

    \b
    Example:
        pathogan-bench sample runs/RUN --n 16
    """
    from ..engine import load_trained_model, prepare_data, split_indices
    from ..samples import save_sample_grid

    model, config, info = load_trained_model(run_dir, device)
    if not hasattr(model, "sample"):
        raise UserError(f"{run_dir}: model '{config.model}' cannot sample pathologies (it has no generative model)")
    data = prepare_data(config)
    idx = split_indices(data.table, data.splits, "test")
    idx = idx[data.table.domain[idx] == 0]
    if not len(idx):
        idx = np.flatnonzero(data.table.domain == 0)
    if not len(idx):
        raise UserError(f"{run_dir}: its data has no healthy slice to draw pathologies on")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(idx, size=n, replace=len(idx) < n))
    dev = next(model.parameters()).device
    healthy = torch.from_numpy(np.ascontiguousarray(data.table.images[chosen], dtype=np.float32)).to(dev)
    result = model.sample(healthy, generator=torch.Generator().manual_seed(seed))
    out_dir = out_dir or run_dir / "samples"
    panels = {"healthy x_A": healthy, "label l_A": result["label"], "inpainting p_A": result["inpainting"],
              "sample y_B": result["translated"]}
    save_sample_grid(out_dir / "samples.png", panels, title=f"{n} pathologies drawn from N(0, I)", max_items=min(n, 8),
                     channel_names=tuple(info["modalities"]))
    eye = np.eye(4)
    for i, m in enumerate(info["modalities"]):
        _save_nifti(out_dir / f"samples-{m}.nii.gz", np.moveaxis(result["translated"][:, i].cpu().numpy(), 0, -1), eye)
    _save_nifti(out_dir / "samples-label.nii.gz", np.moveaxis(result["label"][:, 0].cpu().numpy(), 0, -1), eye)
    click.echo(f"wrote {n} samples to {out_dir}")
