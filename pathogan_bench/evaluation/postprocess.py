"""Post-processing of a patient's maps and masks, applied per patient volume before scoring.

A step is a registry component (kind ``postprocess``) named in
``[eval] postprocess`` or ``--postprocess`` as ``NAME`` or ``NAME:ARGUMENT``
(``median:5``, ``min-component:0.1ml``, ``erode-brain:3``), applied in the
order given. A step's ``stage`` says where it acts:

- ``"map"``: on the probability map of one patient's slices stacked
  (Z, H, W), before any threshold; the threshold policies are fitted on maps
  processed the same way;
- ``"mask"``: on the binary mask of one patient after thresholding.

The contract of a step is :mod:`pathogan_bench.contracts.postprocess`; the
built-in steps are the ``postprocess`` plugin's (``pathogan_bench_plugins``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..contracts.postprocess import PostprocessStep, Volume
from ..errors import UserError


def parse_step(text: str) -> tuple[str, str | None]:
    """``"median:5"`` -> ("median", "5"); ``"median"`` -> ("median", None)."""
    name, sep, argument = str(text).strip().partition(":")
    if not name:
        raise UserError(f"post-processing step {text!r}: expected NAME or NAME:ARGUMENT")
    return name, (argument.strip() if sep else None)


def chain_label(steps: Sequence[PostprocessStep]) -> str:
    return " + ".join(step.label for step in steps) if steps else "none"


def apply_stage(steps: Sequence[PostprocessStep], stage: str, array: np.ndarray, volume: Volume) -> np.ndarray:
    for step in steps:
        if step.stage == stage:
            array = step(array, volume)
    return array
