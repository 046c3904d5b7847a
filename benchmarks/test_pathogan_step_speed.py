"""PathoGAN's training step with its independent passes batched, against one call per pass, in the same process.

The quick preset's size: 64 px, width 0.125, 4 channels, batch 4. The
variants run in turns (``speed.interleaved_rates``), so that the load of a
shared machine falls on all of them alike; ``extra_info`` holds each
variant's steps/s (median over rounds) and the speed-up over one call per
pass. Target: 1.5x.
"""

from __future__ import annotations

import pytest
import torch
from speed import PAPER_BATCH, PAPER_CHANNELS, build, fake_batch, interleaved_rates, median

SIZE, WIDTH = 64, 0.125
VARIANTS = {
    "one call per pass": {"batched_passes": False},
    "batched passes": {"batched_passes": True},
    "batched passes, paired discriminators": {"batched_passes": True, "paired_discriminators": True},
}


@pytest.mark.timeout(1200)  # two threads on a machine shared with other jobs can be very slow
@pytest.mark.parametrize("threads", [1, 2])
def test_pathogan_step_batched_against_one_call_per_pass(benchmark, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batch = fake_batch("weak", PAPER_BATCH, PAPER_CHANNELS, SIZE, "cpu")
        steps = {}
        for name, options in VARIANTS.items():
            torch.manual_seed(0)
            model = build("pathogan", SIZE, PAPER_CHANNELS, WIDTH, "cpu", **options)
            model.train_step(batch, 0)  # warm-up
            steps[name] = lambda i, model=model: model.train_step(batch, i)
        rates: dict[str, list[float]] = {}

        def measure():
            # one round only when timing is off (--benchmark-disable): the suite must run, not measure
            rounds, calls = (1, 1) if benchmark.disabled else (6, 4)
            rates.update(interleaved_rates(steps, rounds=rounds, calls=calls, device="cpu"))

        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        torch.set_num_threads(before)
    reference = median(rates["one call per pass"])
    benchmark.extra_info.update(
        threads=threads,
        **{f"steps_per_s/{name}": round(median(values), 3) for name, values in rates.items()},
        **{f"speedup/{name}": round(median(values) / reference, 3) for name, values in rates.items()},
        **{f"rounds/{name}": [round(v, 3) for v in values] for name, values in rates.items()},
    )
    assert all(v > 0 for values in rates.values() for v in values)
