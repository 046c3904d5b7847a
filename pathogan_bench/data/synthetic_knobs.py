"""The knobs of the synthetic data: how hard FLAIR alone makes it (difficulty), and where its healthy slices lie
(levels)."""

from __future__ import annotations

from ..errors import UserError

#: The knobs of each difficulty level; a knob at 0 turns its confounder off, so "easy" is the generator of version 3.
#: Tumour parts that are not FLAIR-bright (labelled):
#:   cyst          probability that a tumour's core is a fluid-filled cavity inside a thin enhancing rim
#:                 (dark on T1 and T1c, bright on T2, darker than white matter on FLAIR; label 1)
#:   infiltration  share of the edema's volume, at its outer edge, that is infiltrated tissue: edema on T1, T1c
#:                 and T2, no brighter than grey matter on FLAIR (label 2)
#: FLAIR-bright healthy anatomy, in every subject (never labelled; bright on FLAIR and T2, about iso on T1 and T1c):
#:   caps          thickness in mm of the periventricular caps at the horn tips; a quarter of it along the walls
#:   wmh           mean number of small white-matter hyperintensities
#:   flow          share of the ventricles' CSF that a flow artefact makes FLAIR-bright (CSF on T1, T1c and T2)
#:   cortex        share of the cortical ribbon that is FLAIR-bright
DIFFICULTY: dict[str, dict[str, float]] = {
    "easy": {"cyst": 0.0, "infiltration": 0.0, "caps": 0.0, "wmh": 0.0, "flow": 0.0, "cortex": 0.0},
    "standard": {"cyst": 0.4, "infiltration": 0.35, "caps": 4.0, "wmh": 6.0, "flow": 0.1, "cortex": 0.05},
    "hard": {"cyst": 0.7, "infiltration": 0.55, "caps": 6.0, "wmh": 14.0, "flow": 0.2, "cortex": 0.1},
}
DIFFICULTIES = tuple(DIFFICULTY)
DEFAULT_DIFFICULTY = "standard"

#: where the healthy slices lie in axial level (the anatomical-level shortcut, pathogan_bench.data.levels):
#:   natural   a fifth of the subjects are healthy; tumours centred within 32 mm of the level of interest
#:   shortcut  no healthy subject; large tumours centred at the middle level, so that healthy slices lie only
#:             at the extremes of each volume (as in small BraTS sets) and the level alone tells the domains apart
#:   even      half of the subjects are healthy, so both domains lie at every level
LEVELS: dict[str, dict[str, float]] = {
    "natural": {"healthy_fraction": 0.2, "band": 32.0, "radius_lo": 7.0, "radius_hi": 17.0},
    "shortcut": {"healthy_fraction": 0.0, "band": 4.0, "radius_lo": 9.0, "radius_hi": 12.0},
    "even": {"healthy_fraction": 0.5, "band": 32.0, "radius_lo": 7.0, "radius_hi": 17.0},
}
DEFAULT_LEVELS = "natural"


def difficulty_knobs(difficulty: str) -> dict[str, float]:
    """The knobs of a difficulty level; an unknown name is a ``UserError``."""
    if difficulty not in DIFFICULTY:
        raise UserError(f"synthetic difficulty '{difficulty}': expected one of {', '.join(DIFFICULTIES)}")
    return DIFFICULTY[difficulty]
