"""``pathogan-bench segment``: segment NIfTI volumes with a trained run's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config.ranges import SEGMENT_BATCH
from .options import SliceRange


@click.command("segment")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: PATIENT-prob.nii.gz, PATIENT-label.nii.gz, ... for every input.",
)
@click.option("--slices", "slice_range", type=SliceRange(), help="Axial slices FIRST-LAST to segment (default: all).")
@click.option(
    "--batch-size",
    type=SEGMENT_BATCH.click_type(),
    default=32,
    show_default=True,
    help="Slices segmented at once (lower it if memory runs out).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def segment_command(
    run_dir: Path, inputs: tuple[Path, ...], out_dir: Path, slice_range: list[int] | None, batch_size: int, device: str
) -> None:
    """Segment NIfTI volumes slice by slice with a trained run's model.

    Each INPUT is a case folder (any supported naming scheme) holding the
    modalities the model was trained on. Writes into --out, with the input's
    affine, PATIENT-prob.nii.gz (probability), PATIENT-label.nii.gz (binary;
    score it with `pathogan-bench metrics OUT LABELS`) and, for models that
    translate, PATIENT-healthy-MODALITY.nii.gz (the healthy inpainting, in
    normalised intensities).

    \b
    Example:
        pathogan-bench segment runs/RUN /data/BraTS2021/BraTS-GLI-00001-000 --out seg
    """
    from ..engine import load_trained_model
    from ..engine.data_record import case_notes
    from ..engine.rundir import refuse_foreign_run_dir
    from ..engine.segment_volumes import find_case, segment_case
    from ..errors import UserError
    from ..registry import get_registry

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: --out names a file, not a folder")
    refuse_foreign_run_dir(out_dir, "--out", subject=run_dir)
    registry = get_registry()
    model, config, info = load_trained_model(run_dir, device, registry)
    cases: dict[str, tuple[Path, Any]] = {}
    for folder in inputs:  # every input is found, and no two write the same files, before anything is segmented
        case = find_case(folder, list(info.modalities), registry)
        if case.patient_id in cases:
            raise UserError(
                f"{folder}: case {case.patient_id} again (also in {cases[case.patient_id][0]}); their outputs would "
                "overwrite each other: segment them into separate --out folders"
            )
        cases[case.patient_id] = (folder, case)
    for folder, case in cases.values():
        result = segment_case(model, info, folder, out_dir, slice_range, batch_size, registry)
        result.notes += case_notes(run_dir, case)
        click.echo(result.describe())
