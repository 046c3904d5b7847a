"""Speed of the metrics: every slice metric over 10,000 240x240 slices.

The slices are the golden pairs (real BraTS masks and perturbations of
them) tiled to 10,000; target: all metrics in under 10 s on 2 cores. medpy,
the reference the values match, is timed on a sample beside them when it is
installed (``pip install -e .[bench]``)::

    pytest benchmarks/test_metrics_speed.py --benchmark-columns=mean,min,max,rounds
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pathogan_bench.metrics import KERNEL_METRICS, default_workers, score_batch

#: the golden pairs of the test data (PATHOGAN_BENCH_TEST_DATA, else ../shared/data beside the clone)
GOLDEN = (
    Path(os.environ.get("PATHOGAN_BENCH_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
    / "metrics-golden"
)
N_SLICES = 10_000
MEDPY_SAMPLE = 500


@pytest.fixture(scope="module")
def golden_pairs() -> tuple[np.ndarray, np.ndarray]:
    if not (GOLDEN / "pairs.npz").is_file():
        pytest.skip(f"golden pairs not available at {GOLDEN}")
    pairs = np.load(GOLDEN / "pairs.npz")
    width = int(pairs["shape"][-1])
    pred = np.unpackbits(pairs["pred_bits"], axis=-1, count=width).astype(bool)
    ref = np.unpackbits(pairs["gt_bits"], axis=-1, count=width).astype(bool)
    return pred, ref


@pytest.fixture(scope="module")
def tiled(golden_pairs) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = golden_pairs
    index = np.resize(np.arange(len(pred)), N_SLICES)
    return pred[index], ref[index]


@pytest.mark.parametrize("workers", [1, None], ids=["1-thread", "all-cores"])
def test_all_metrics_10k_slices(benchmark, tiled, workers):
    pred, ref = tiled
    benchmark.extra_info.update(slices=len(pred), workers=workers or default_workers())
    scores = benchmark.pedantic(
        score_batch, args=(pred, ref, KERNEL_METRICS), kwargs={"workers": workers}, rounds=2, iterations=1
    )
    assert len(scores.values["hd95"]) == N_SLICES


def test_hd95_10k_slices(benchmark, tiled):
    pred, ref = tiled
    benchmark.extra_info.update(slices=len(pred), workers=default_workers())
    benchmark.pedantic(score_batch, args=(pred, ref, ("hd95",)), rounds=2, iterations=1)


def _medpy_all(binary, pred: np.ndarray, ref: np.ndarray) -> None:
    for p, r in zip(pred, ref):
        binary.dc(p, r)
        if p.any() and r.any():
            binary.hd95(p, r)
            binary.hd(p, r)
            binary.assd(p, r)


def test_medpy_reference_sample(benchmark, golden_pairs):
    """medpy's dc, hd95, hd and assd, one slice at a time, on a sample (scale by 10,000 / sample)."""
    binary = pytest.importorskip("medpy.metric.binary")
    pred, ref = golden_pairs
    benchmark.extra_info.update(slices=MEDPY_SAMPLE, scale_to_10k=N_SLICES / MEDPY_SAMPLE)
    benchmark.pedantic(_medpy_all, args=(binary, pred[:MEDPY_SAMPLE], ref[:MEDPY_SAMPLE]), rounds=1, iterations=1)


def test_ours_on_the_same_sample(benchmark, golden_pairs):
    pred, ref = golden_pairs
    benchmark.extra_info.update(slices=MEDPY_SAMPLE)
    benchmark.pedantic(
        score_batch,
        args=(pred[:MEDPY_SAMPLE], ref[:MEDPY_SAMPLE], ("dice", "hd95", "hd", "assd")),
        kwargs={"workers": 1},
        rounds=3,
        iterations=1,
    )
