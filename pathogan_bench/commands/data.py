"""``pathogan-bench data``: index, cache, inspect and synthesise datasets."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table


def _load(directory: Path | None, dataset: str, modalities: str | None, cache: Path | None, slice_range: str | None,
          min_pixels: int):
    from ..data import PreprocessConfig, default_cache_dir, prepare_slices
    from ..errors import UserError
    from ..registry import create

    mods = [m.strip() for m in modalities.split(",") if m.strip()] if modalities else None
    collection = create("dataset", dataset if directory else "synthetic", directory, modalities=mods)
    kwargs = {"pathological_min_pixels": min_pixels}
    if slice_range:
        try:
            lo, hi = (int(v) for v in slice_range.split("-"))
        except ValueError:
            raise UserError(f"--slices {slice_range}: expected FIRST-LAST, e.g. 60-100") from None
        kwargs["slice_range"] = (lo, hi)
    elif collection.default_slice_range is not None:
        kwargs["slice_range"] = tuple(collection.default_slice_range)
    cache_root = cache if cache is not None else default_cache_dir() / "slices"
    return collection, prepare_slices(collection, PreprocessConfig(**kwargs), cache_root)


def data_options(func):
    func = click.option("--min-pixels", type=int, default=20, show_default=True,
                        help="A slice with more tumour pixels than this is pathological.")(func)
    func = click.option("--slices", "slice_range", help="Axial slice range FIRST-LAST (default: the dataset's, 60-100).")(func)
    func = click.option("--cache", type=click.Path(file_okay=False, path_type=Path), help="Cache folder.")(func)
    func = click.option("--modalities", help="Comma-separated modalities, e.g. flair,t1c (default: all).")(func)
    func = click.option("--dataset", default="auto", show_default=True, help="Dataset plugin (naming scheme).")(func)
    return func


@click.group("data")
def data_group() -> None:
    """Index, cache, look at and synthesise datasets.

    \b
    Examples:
        pathogan-bench data prepare ../shared/data/brats2013-deepmedic
        pathogan-bench data show ../shared/data/brats2013-deepmedic --out grid.png
        pathogan-bench data synth --out synthetic --patients 20 --size 240
    """


@data_group.command("prepare")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the patient split.")
@click.option("--split", default="0.6,0.2,0.2", show_default=True, help="Train,val,test patient fractions.")
def prepare_command(directory: Path, dataset: str, modalities: str | None, cache: Path | None, slice_range: str | None,
                    min_pixels: int, seed: int, split: str) -> None:
    """Index and cache a folder of cases; print patients and slices per domain and split.

    \b
    Example:
        pathogan-bench data prepare /data/BraTS2017 --modalities flair,t1c --cache /scratch/cache
    """
    collection, table = _load(directory, dataset, modalities, cache, slice_range, min_pixels)
    splits = table.split_patients(tuple(float(f) for f in split.split(",")), seed=seed)
    out = Table(title=f"{directory} ({collection.scheme}; {', '.join(table.modalities)}; "
                      f"{table.images.shape[-1]} px)")
    for column in ("split", "patients", "healthy slices", "pathological slices", "unlabelled slices"):
        out.add_column(column, justify="right" if column != "split" else "left")
    for name, patients in [*splits.items(), ("all", table.patients())]:
        member = np.isin(table.patient, patients)
        out.add_row(name, str(len(patients)), *(str(int((table.domain[member] == d).sum())) for d in (0, 1, -1)))
    console = Console()
    console.print(out)
    if table.skipped:
        console.print(f"[yellow]skipped {len(table.skipped)} bad case(s): {', '.join(table.skipped)}")


@data_group.command("show")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("slices.png"), show_default=True)
@click.option("--n", type=int, default=4, show_default=True, help="Slices per domain.")
@click.option("--seed", type=int, default=0, show_default=True)
@data_options
def show_command(directory: Path, out: Path, n: int, seed: int, dataset: str, modalities: str | None,
                 cache: Path | None, slice_range: str | None, min_pixels: int) -> None:
    """Write a PNG grid of random healthy and pathological slices with their tumour outlines.

    \b
    Example:
        pathogan-bench data show ../shared/data/brats2013-deepmedic --out grid.png
    """
    from ..figures import slice_grid

    _, table = _load(directory, dataset, modalities, cache, slice_range, min_pixels)
    rng = np.random.default_rng(seed)
    chosen = []
    for domain in (0, 1):
        idx = np.flatnonzero(table.domain == domain)
        chosen += list(rng.choice(idx, size=min(n, len(idx)), replace=False)) if len(idx) else []
    if not chosen:
        from ..errors import UserError

        raise UserError(f"{directory}: no healthy or pathological slices to show")
    chosen = np.sort(np.asarray(chosen))
    titles = [f"{table.patient[i]} z={table.z[i]} {'pathological' if table.domain[i] == 1 else 'healthy'}" for i in chosen]
    slice_grid(out, np.asarray(table.images[chosen]), np.asarray(table.masks[chosen]), table.modalities, titles)
    click.echo(f"wrote {out}")


@data_group.command("synth")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--patients", type=int, default=10, show_default=True)
@click.option("--size", type=int, default=240, show_default=True, help="In-plane size in pixels (240 like BraTS).")
@click.option("--modalities", default="flair,t1,t1c,t2", show_default=True)
@click.option("--healthy-fraction", type=float, default=0.2, show_default=True, help="Subjects without a tumour.")
@click.option("--seed", type=int, default=0, show_default=True)
def synth_command(out: Path, patients: int, size: int, modalities: str, healthy_fraction: float, seed: int) -> None:
    """Write a synthetic BraTS-2021-layout dataset of brains with gliomas (deterministic per seed).

    \b
    Example:
        pathogan-bench data synth --out synthetic --patients 20 --size 240
    """
    from ..data.cases import ALIASES
    from ..data.synthetic import synthesize
    from ..errors import UserError

    mods = []
    for m in modalities.split(","):
        if m.strip().lower() not in ALIASES:
            raise UserError(f"--modalities: unknown modality '{m}'; use flair, t1, t1c or t2")
        mods.append(ALIASES[m.strip().lower()])
    if size % 16 or size < 32:
        raise UserError(f"--size {size}: must be a multiple of 16 and at least 32 (the networks downsample 16x)")
    synthesize(out, patients=patients, size=size, modalities=mods, seed=seed, healthy_fraction=healthy_fraction)
    click.echo(f"wrote {patients} subjects to {out}")


@data_group.command("compare-real")
@click.argument("real", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/synthetic-vs-real.png"),
              show_default=True)
@click.option("--size", type=int, default=240, show_default=True)
@click.option("--seed", type=int, default=3, show_default=True)
def compare_real_command(real: Path, out: Path, size: int, seed: int) -> None:
    """Write a PNG of synthetic slices next to real ones (FLAIR and T1c), to judge the synthetic data.

    \b
    Example:
        pathogan-bench data compare-real ../shared/data/brats2013-deepmedic --out docs/synthetic-vs-real.png
    """
    import tempfile

    from ..data import PreprocessConfig, prepare_slices
    from ..data.synthetic import synthesize
    from ..figures import slice_grid
    from ..registry import create

    real_table = prepare_slices(create("dataset", "auto", real, modalities=["flair", "t1c"]), PreprocessConfig(), None,
                                progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, patients=3, size=size, modalities=("flair", "t1c"), seed=seed, healthy_fraction=0.0)
        syn = create("dataset", "synthetic", Path(tmp), modalities=["flair", "t1c"])
        syn_table = prepare_slices(syn, PreprocessConfig(slice_range=syn.default_slice_range), None, progress=False)
    picks = []
    for table, label in ((real_table, "real"), (syn_table, "synthetic")):
        for pid in table.patients()[:3]:
            idx = np.flatnonzero((table.patient == pid) & (table.domain == 1))
            if len(idx):
                area = table.masks[idx].reshape(len(idx), -1).sum(1)
                i = idx[np.argsort(area)[len(area) // 2]]
                picks.append((table, i, f"{label}: {pid} z={table.z[i]}"))
    images = np.stack([t.images[i] for t, i, _ in picks])
    masks = np.stack([t.masks[i] for t, i, _ in picks])
    slice_grid(out, images, masks, ("flair", "t1c"), [title for *_, title in picks])
    click.echo(f"wrote {out}")
