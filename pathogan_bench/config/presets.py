"""The presets: what ``--preset quick`` (minutes on a CPU) and ``--preset paper`` (the paper's schedule) set."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "model_options": {"width": 0.125},
        "data": {
            "synthetic_patients": 10,
            "synthetic_size": 64,
            "image_size": 64,
            "n_healthy": 600,
            "n_pathological": 600,
        },
        "train": {"epochs": 0, "steps": 400, "log_every": 20, "checkpoint_every": 200, "sample_every": 200},
        "eval": {"figure_slices": 4},
    },
    "paper": {
        "model_options": {"width": 1.0},
        "data": {"synthetic_size": 240, "n_healthy": 1500, "n_pathological": 6000},
        "train": {"epochs": 119, "steps": 0, "log_every": 100, "checkpoint_every": 5000, "sample_every": 5000},
    },
}
