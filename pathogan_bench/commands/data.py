"""``pathogan-bench data``: index, cache, inspect and synthesise datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from ..config.ranges import MIN_PIXELS, SEED, SHOWN, SYNTH_PATIENTS, SYNTH_SIZE
from ..data.synthetic import ALL_MODALITIES
from ..data.synthetic_knobs import DEFAULT_DIFFICULTY, DEFAULT_LEVELS, DIFFICULTIES, LEVELS
from .options import CommaList, SliceRange, registry_name


def _load(
    directory: Path | None,
    dataset: str,
    modalities: list[str] | None,
    cache: Path | None,
    slice_range: list[int] | None,
    min_pixels: int,
    *,
    allow_missing_modalities: bool = False,
    allow_unlabelled: bool = False,
):
    from ..data import PreprocessConfig, default_cache_dir, prepare_slices
    from ..engine.datasets import read_dataset
    from ..errors import UserError
    from ..registry import get_registry

    kwargs: dict[str, Any] = {"pathological_min_pixels": min_pixels}
    if slice_range:
        kwargs["slice_range"] = tuple(slice_range)
    if cache is not None and cache.exists() and not cache.is_dir():
        raise UserError(f"{cache}: --cache names a file, not a folder")
    collection = read_dataset(
        get_registry(),
        dataset if directory else "synthetic",
        directory,
        modalities=modalities or None,
        allow_missing_modalities=allow_missing_modalities,
        allow_unlabelled=allow_unlabelled,
    )
    if "slice_range" not in kwargs and collection.default_slice_range is not None:
        kwargs["slice_range"] = tuple(collection.default_slice_range)
    cache_root = cache if cache is not None else default_cache_dir() / "slices"
    return collection, prepare_slices(collection, PreprocessConfig(**kwargs), cache_root)


def data_options(func):
    func = click.option(
        "--min-pixels",
        type=MIN_PIXELS.click_type(),
        default=20,
        show_default=True,
        help="A slice with more tumour pixels than this is pathological.",
    )(func)
    func = click.option(
        "--slices",
        "slice_range",
        type=SliceRange(),
        help="Axial slice range FIRST-LAST (default: the dataset's, 60-100).",
    )(func)
    func = click.option(
        "--cache",
        type=click.Path(path_type=Path),
        help="Cache folder (default: $PATHOGAN_BENCH_CACHE, else ~/.cache/pathogan-bench).",
    )(func)
    func = click.option(
        "--modalities",
        type=CommaList(example="flair,t1c"),
        help="Comma-separated modalities, e.g. flair,t1c (default: all).",
    )(func)
    func = click.option(
        "--dataset",
        default="auto",
        show_default=True,
        shell_complete=registry_name("dataset"),
        help="Dataset plugin (naming scheme).",
    )(func)
    return func


@click.group("data")
def data_group() -> None:
    """Index, cache, look at and synthesise datasets.

    \b
    Examples:
        pathogan-bench data prepare /data/brats2013-deepmedic
        pathogan-bench data show /data/brats2013-deepmedic --out grid.png
        pathogan-bench data synth --out synthetic --patients 20 --size 240
    """


@data_group.command("prepare")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_options
@click.option("--seed", type=SEED.click_type(), default=0, show_default=True, help="Seed of the patient split.")
@click.option(
    "--split-fractions",
    type=CommaList(float, example="0.6,0.2,0.2"),
    default="0.6,0.2,0.2",
    show_default=True,
    help="Train,val,test patient fractions.",
)
@click.option(
    "--allow-missing-modalities",
    is_flag=True,
    help="Skip (and list) cases lacking one of the modalities instead of stopping with an error.",
)
@click.option(
    "--allow-unlabelled",
    is_flag=True,
    help="Keep cases without a segmentation, when others have one, as unlabelled instead of stopping.",
)
def prepare_command(
    directory: Path,
    dataset: str,
    modalities: list[str] | None,
    cache: Path | None,
    slice_range: list[int] | None,
    min_pixels: int,
    seed: int,
    split_fractions: list[float],
    allow_missing_modalities: bool,
    allow_unlabelled: bool,
) -> None:
    """Index and cache a folder of cases; print patients and slices per domain and split.

    A case lacking a modality, or without a segmentation while others have
    one, stops with an error naming it unless --allow-missing-modalities
    (the case is skipped) or --allow-unlabelled (it is kept unlabelled) says
    otherwise; what was skipped or kept unlabelled is listed.

    \b
    Example:
        pathogan-bench data prepare /data/BraTS2017 --modalities flair,t1c --cache /scratch/cache
    """
    from ..config.checks import check_split_fractions
    from ..data.slices import HEALTHY, PATHOLOGICAL, UNLABELLED

    check_split_fractions(split_fractions, "--split-fractions")
    fractions = tuple(split_fractions)
    collection, table = _load(
        directory,
        dataset,
        modalities,
        cache,
        slice_range,
        min_pixels,
        allow_missing_modalities=allow_missing_modalities,
        allow_unlabelled=allow_unlabelled,
    )
    splits = table.split_patients(fractions, seed=seed)
    out = Table(title=f"{directory} ({collection.scheme}; {', '.join(table.modalities)}; {table.images.shape[-1]} px)")
    for column in ("split", "patients", "healthy slices", "pathological slices", "unlabelled slices"):
        out.add_column(column, justify="right" if column != "split" else "left")
    for name, patients in [*splits.items(), ("all", table.patients())]:
        member = np.isin(table.patient, patients)
        out.add_row(
            name,
            str(len(patients)),
            *(str(int((table.domain[member] == d).sum())) for d in (HEALTHY, PATHOLOGICAL, UNLABELLED)),
        )
    console = Console()
    console.print(out)
    if table.skipped:
        reasons = collection.skip_reasons
        named = ", ".join(f"{pid} ({reasons[pid]})" if pid in reasons else pid for pid in table.skipped)
        console.print(f"[yellow]skipped {len(table.skipped)} case(s): {named}")
    if allow_unlabelled and collection.unlabelled and len(collection.unlabelled) < len(collection):
        console.print(
            f"[yellow]kept {len(collection.unlabelled)} case(s) without a segmentation as unlabelled: "
            f"{', '.join(collection.unlabelled)}"
        )


@data_group.command("show")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("slices.png"), show_default=True)
@click.option("--n", type=SHOWN.click_type(), default=4, show_default=True, help="Slices per domain.")
@click.option("--seed", type=SEED.click_type(), default=0, show_default=True)
@data_options
def show_command(
    directory: Path,
    out: Path,
    n: int,
    seed: int,
    dataset: str,
    modalities: list[str] | None,
    cache: Path | None,
    slice_range: list[int] | None,
    min_pixels: int,
) -> None:
    """Write a PNG grid of random healthy and pathological slices with their tumour outlines.

    Cases without labels contribute unlabelled slices. Slices are shown in
    the radiological convention (anterior up, patient's left on the image's
    right) from each volume's NIfTI affine.

    \b
    Example:
        pathogan-bench data show /data/brats2013-deepmedic --out grid.png
    """
    from ..data.slices import HEALTHY, PATHOLOGICAL, UNLABELLED
    from ..figures.slices import slice_grid

    _, table = _load(directory, dataset, modalities, cache, slice_range, min_pixels)
    rng = np.random.default_rng(seed)
    picked: list[Any] = []
    for domain in (HEALTHY, PATHOLOGICAL, UNLABELLED):
        idx = np.flatnonzero(table.domain == domain)
        picked += list(rng.choice(idx, size=min(n, len(idx)), replace=False)) if len(idx) else []
    if not picked:
        from ..errors import UserError

        raise UserError(f"{directory}: no healthy, pathological or unlabelled slices to show")
    chosen = np.sort(np.asarray(picked))
    kinds = {HEALTHY: "healthy", PATHOLOGICAL: "pathological", UNLABELLED: "unlabelled"}
    titles = [f"{table.patient[i]}\nz={table.z[i]} {kinds[int(table.domain[i])]}" for i in chosen]
    affines = [table.volumes.get(str(table.patient[i]), {}).get("affine") for i in chosen]
    slice_grid(
        out,
        np.asarray(table.images[chosen]),
        np.asarray(table.masks[chosen]),
        table.modalities,
        titles,
        affines=affines,
        title=f"{directory.name}: random slices",
    )
    click.echo(f"wrote {out}")


@data_group.command("synth")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--patients", type=SYNTH_PATIENTS.click_type(), default=10, show_default=True)
@click.option(
    "--size",
    type=SYNTH_SIZE.click_type(),
    default=240,
    show_default=True,
    help="In-plane size in pixels (240 like BraTS).",
)
@click.option("--modalities", type=CommaList(example="flair,t1c"), default=",".join(ALL_MODALITIES), show_default=True)
@click.option(
    "--healthy-fraction",
    type=click.FloatRange(0, 1),
    help="Subjects without a tumour (default: 0.2, or what --levels sets).",
)
@click.option("--seed", type=SEED.click_type(), default=0, show_default=True)
@click.option(
    "--difficulty",
    type=click.Choice(DIFFICULTIES),
    default=DEFAULT_DIFFICULTY,
    show_default=True,
    help="easy: every lesion FLAIR-bright; standard and hard add lesions that are not and FLAIR-bright "
    "healthy structures (docs/DATA.md).",
)
@click.option(
    "--levels",
    type=click.Choice(list(LEVELS)),
    default=DEFAULT_LEVELS,
    show_default=True,
    help="Where healthy slices lie in axial level: natural, shortcut (only at the extremes) or even (docs/DATA.md).",
)
def synth_command(
    out: Path,
    patients: int,
    size: int,
    modalities: list[str],
    healthy_fraction: float | None,
    seed: int,
    difficulty: str,
    levels: str,
) -> None:
    """Write a synthetic BraTS-2021-layout dataset of brains with gliomas (deterministic per seed).

    \b
    Example:
        pathogan-bench data synth --out synthetic --patients 20 --size 240
    """
    from ..data.cases import ALIASES
    from ..data.synthetic import synthesize
    from ..errors import UserError

    mods = []
    for m in modalities:
        if m.lower() not in ALIASES:
            raise UserError(f"--modalities: unknown modality '{m}'; use flair, t1, t1c or t2")
        mods.append(ALIASES[m.lower()])
    if size % 16 or size < 32:
        raise UserError(f"--size {size}: must be a multiple of 16 and at least 32 (the networks downsample 16x)")
    synthesize(
        out,
        patients=patients,
        size=size,
        modalities=mods,
        seed=seed,
        healthy_fraction=healthy_fraction,
        difficulty=difficulty,
        levels=levels,
    )
    click.echo(f"wrote {patients} {difficulty} subjects to {out}")


@data_group.command("compare-real")
@click.argument("real", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("synthetic-vs-real.png"), show_default=True
)
@click.option(
    "--size",
    type=SYNTH_SIZE.click_type(),
    default=240,
    show_default=True,
    help="In-plane size of the synthetic slices; the real ones are resized to it.",
)
@click.option("--seed", type=SEED.click_type(), default=3, show_default=True)
def compare_real_command(real: Path, out: Path, size: int, seed: int) -> None:
    """Write a PNG of synthetic slices next to real ones (FLAIR and T1c), to judge the synthetic data.

    \b
    Example:
        pathogan-bench data compare-real /data/brats2013-deepmedic --out synthetic-vs-real.png
    """
    import tempfile

    from ..data import PreprocessConfig, prepare_slices
    from ..data.slices import PATHOLOGICAL
    from ..data.synthetic import synthesize
    from ..engine.datasets import read_dataset
    from ..errors import UserError
    from ..figures.slices import slice_grid
    from ..registry import get_registry

    if size % 16 or size < 32:
        raise UserError(f"--size {size}: must be a multiple of 16 and at least 32 (the networks downsample 16x)")
    real_table = prepare_slices(
        read_dataset(get_registry(), "auto", real, modalities=["flair", "t1c"]),
        PreprocessConfig(image_size=size),
        None,
        progress=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, patients=3, size=size, modalities=("flair", "t1c"), seed=seed, healthy_fraction=0.0)
        syn = read_dataset(get_registry(), "synthetic", Path(tmp), modalities=["flair", "t1c"])
        syn_table = prepare_slices(
            syn, PreprocessConfig(slice_range=syn.default_slice_range, image_size=size), None, progress=False
        )
    picks = []
    for table, label in ((real_table, "real"), (syn_table, "synthetic")):
        for pid in table.patients()[:3]:
            idx = np.flatnonzero((table.patient == pid) & (table.domain == PATHOLOGICAL))
            if len(idx):
                area = table.masks[idx].reshape(len(idx), -1).sum(1)
                i = idx[np.argsort(area, kind="stable")[len(area) // 2]]
            else:  # no labels: the middle slice of the case
                idx = np.flatnonzero(table.patient == pid)
                if not len(idx):
                    continue
                i = idx[len(idx) // 2]
            picks.append((table, i, f"{label}: {pid}\nz={table.z[i]}"))
    images = np.stack([t.images[i] for t, i, _ in picks])
    masks = np.stack([t.masks[i] for t, i, _ in picks])
    affines = [t.volumes.get(str(t.patient[i]), {}).get("affine") for t, i, _ in picks]
    slice_grid(
        out,
        images,
        masks,
        ("flair", "t1c"),
        [title for *_, title in picks],
        affines=affines,
        title=f"real ({real.name}) and synthetic slices, {size} px",
    )
    click.echo(f"wrote {out}")


def _add_commands() -> None:
    from .intensities import intensities_command

    data_group.add_command(intensities_command)


_add_commands()
