from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pathogan_bench.cli import cli

#: where the shared BraTS scans are; PATHOGAN_BENCH_TEST_DATA points elsewhere
SHARED_DATA = Path(
    os.environ.get("PATHOGAN_BENCH_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA} (set PATHOGAN_BENCH_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep generated data and caches out of the user's home during tests."""
    monkeypatch.setenv("PATHOGAN_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


#: the smallest synthetic data a run trains on: 6 patients of 32 px
TINY_DATA = """
[data]
synthetic_patients = 6
synthetic_size = 32
image_size = 32
n_healthy = 40
n_pathological = 40
"""
#: ... and a quiet schedule: losses every 2 steps, no intermediate checkpoints, samples or figures
TINY_RUN = (
    TINY_DATA
    + """
[train]
log_every = 2
checkpoint_every = 1000
sample_every = 0
[eval]
figure_slices = 0
"""
)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def __iter__(self):  # code, out, err = invoke_cli(...)
        return iter((self.code, self.out, self.err))


def invoke_cli(*args: str | os.PathLike[str]) -> CliResult:
    """Run ``pathogan-bench ARGS...`` in this process, as a user's shell would; the one way tests drive the CLI."""
    result = CliRunner().invoke(cli, [str(a) for a in args], prog_name="pathogan-bench", catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def load_golden() -> dict:
    """The golden metric table and its mask pairs (``metrics-golden/`` of the test data); skips when absent."""
    folder = SHARED_DATA / "metrics-golden"
    if not (folder / "golden.csv").is_file():
        pytest.skip(f"golden metric data not available at {folder} (set PATHOGAN_BENCH_TEST_DATA)")
    table = pd.read_csv(folder / "golden.csv", dtype={"z": str})
    pairs = np.load(folder / "pairs.npz")
    width = int(pairs["shape"][-1])
    pred = np.unpackbits(pairs["pred_bits"], axis=-1, count=width).astype(bool)
    ref = np.unpackbits(pairs["gt_bits"], axis=-1, count=width).astype(bool)
    return {"table": table, "pairs": pairs, "pred": pred, "ref": ref}
