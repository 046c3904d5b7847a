"""``pathogan-bench data intensities``: one case's brain intensities before and after the normalisation."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..utils.terminal import FittedTable, print_fitted, result_console
from .options import CommaList


@click.command("intensities")
@click.argument("case_folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("intensities.png"), show_default=True
)
@click.option("--modalities", type=CommaList(example="flair,t1c"), help="Modalities (default: all the case has).")
def intensities_command(case_folder: Path, out: Path, modalities: list[str] | None) -> None:
    """Show one case's brain intensities before and after the normalisation every run applies.

    The brain is the case's brain mask when its dataset ships one, else every voxel that is non-zero in any
    modality (skull-stripped BraTS data); its intensities are scaled to zero mean and standard deviation 1/3
    (outlier-robust: winsorised at the 0.1 and 99.9 percentiles) and clipped to [-1, 1], the background set to
    -1. Prints each modality's statistics and writes the histograms.

    \b
    Example:
        pathogan-bench data intensities /data/BraTS2018/Brats18_CBICA_AMH_1 --out intensities.png
    """
    from ..data.cases import read_volume
    from ..data.intensity import normalise_volume
    from ..engine.segment_volumes import find_case
    from ..figures.intensities import intensity_histograms
    from ..registry import get_registry

    case = find_case(case_folder, modalities or [], get_registry())
    chosen = modalities or sorted(case.images, key=["flair", "t1", "t1c", "t2"].index)
    stack, first = case.load_all(chosen)
    if case.brain_mask is not None:
        brain = case.align(case.brain_mask, read_volume(case.brain_mask), case.images[chosen[0]], first) > 0
    else:
        brain = np.any(stack != 0, axis=0)
    raw, done, rows = {}, {}, []
    for name, volume in zip(chosen, stack):
        raw[name] = volume[brain]
        done[name] = normalise_volume(volume, brain, name=case.images[name])[brain]
        p1, p99 = np.percentile(raw[name], [1, 99])
        rows.append(
            [
                name,
                f"{raw[name].mean():.4g} ± {raw[name].std():.4g}",
                f"{p1:.4g} to {p99:.4g}",
                f"{done[name].mean():+.3f} ± {done[name].std():.3f}",
                f"{np.mean(np.abs(done[name]) >= 1):.2%}",
            ]
        )
    header = ["modality", "raw mean ± std", "raw 1-99 %", "normalised mean ± std", "clipped"]
    title = f"{case.patient_id}: {int(brain.sum()):,} brain voxels"
    print_fitted(result_console(), FittedTable(title, header, rows))
    intensity_histograms(raw, done, out, title=f"{case.patient_id}: brain intensities before (top) and after (bottom)")
    click.echo(f"histograms written to {out}", err=True)
