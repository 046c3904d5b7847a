"""Run directories: one folder per run holding everything it produced.

Layout::

    runs/<date>-<time>-<model>-<loss-set>/
        config.toml            the fully resolved configuration
        run.json               what ran where (model, supervision, data, device, timings)
        splits.json            patients per split
        log.txt                the run's log
        losses.csv             training losses every log_every steps
        checkpoints/           step-NNNNNNNN.safetensors + .json
        predictions.npz        probability maps and references of the evaluated slices
        metrics_slices.csv     per-slice scores
        metrics_patients.csv   per-patient scores
        summary.json, report.md
        figures/               sample grids, segmentation figures
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from pathlib import Path

from .config import RunConfig
from .errors import UserError


def new_run_dir(config: RunConfig) -> Path:
    parent = Path(config.out)
    if config.name:
        name = config.name
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{_slug(config.model)}-{_slug(config.loss_set)}"
    run_dir = parent / name
    suffix = 1
    while run_dir.exists() and any(run_dir.iterdir()):
        suffix += 1
        run_dir = parent / f"{name}-{suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "figures").mkdir(exist_ok=True)
    return run_dir


def existing_run_dir(path: str | Path) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.toml)")
    return run_dir


def attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("pathogan_bench")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"
