"""A study of four tiny runs: one after another at 2 threads, against 2 Ray workers at 1 thread each.

The target (benchmarks/RESULTS.md): on 2 cores the Ray study takes at most 0.7 times the sequential wall time,
and Ray's overhead per run (task start to the run's first training step) stays under 5 s. Each study trains
into its own fresh folder, so nothing is reused. Skipped without Ray (the ``ray`` extra).
"""

from __future__ import annotations

import time
from itertools import count
from pathlib import Path

import pytest

from pathogan_bench.cli import main

pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')

CONFIG = """
[data]
synthetic_patients = 8
synthetic_size = 32
image_size = 32
[train]
steps = 150
log_every = 50
checkpoint_every = 1000
sample_every = 0
[eval]
figure_slices = 0
"""
GRID = ["--models", "unet,mdgru", "--folds", "2", "--model-option", "width=0.125"]


def study(tmp_path: Path, *options: str) -> None:
    config = tmp_path / "study.toml"
    config.write_text(CONFIG)
    try:
        main(["compare", "--config", str(config), *GRID, *options])
    except SystemExit as exc:
        assert exc.code == 0, exc.code


def test_study_two_ray_workers_against_one_process(benchmark, tmp_path):
    folders = count()
    warm = tmp_path / "warm.toml"  # the synthetic data and the slice cache, made before anything is timed
    warm.write_text(CONFIG)
    try:
        main(["run", "--config", str(warm), "--model", "threshold", "--out", str(tmp_path / "warm"), "--quiet"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
    started = time.perf_counter()
    study(tmp_path, "--threads", "2", "--out", str(tmp_path / "sequential"))
    sequential = time.perf_counter() - started

    def ray_study() -> None:
        study(tmp_path, "--threads", "1", "--workers", "2", "--out", str(tmp_path / f"ray-{next(folders)}"))

    benchmark.pedantic(ray_study, rounds=1, iterations=1)
    ray_seconds = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    benchmark.extra_info.update(sequential_s=round(sequential, 1), ratio=round(ray_seconds / sequential, 2))
    print(f"sequential at 2 threads: {sequential:.1f} s; 2 Ray workers at 1 thread: {ray_seconds:.1f} s")
