"""--compile: which networks are compiled, and a network that fails to compile runs eagerly, said once."""

from __future__ import annotations

import logging

import pytest
import torch
from test_pathogan import make_batch, make_model

from pathogan_bench.engine.build import compile_networks


def failing_backend(graph, example_inputs):
    raise RuntimeError("no compiler on this machine")


def test_pathogan_compiles_the_parts_training_calls():
    model = make_model()
    names = set(model.networks_to_compile())
    assert names == {"gen_a.anatomy_encoder", "gen_a.pathology_encoder", "gen_a.decoder", "gen_b", "disc_a", "disc_b"}


def test_the_default_compiles_every_child_with_trainable_parameters():
    from test_baselines import make_model as make_baseline

    assert set(make_baseline("cyclegan").networks_to_compile()) == {"gen_ab", "gen_ba", "disc_a", "disc_b"}
    assert make_baseline("threshold").networks_to_compile() == {}


def test_networks_that_fail_to_compile_run_eagerly_with_one_warning(caplog):
    torch.manual_seed(0)
    eager = make_model()
    torch.manual_seed(0)
    model = make_model()
    compiled = compile_networks(model, backend=failing_backend)
    with caplog.at_level(logging.INFO, logger="pathogan_bench"):
        for step in range(2):
            torch.manual_seed(step)
            got = model.train_step(make_batch(step), step)
            torch.manual_seed(step)
            expected = eager.train_step(make_batch(step), step)
            for key, value in expected.items():
                torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    assert set(compiled.eager_fallbacks) == set(model.networks_to_compile())
    assert all("no compiler on this machine" in reason for reason in compiled.eager_fallbacks.values())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "runs eagerly" in warnings[0].getMessage()
    assert compiled.facts()["eager_fallbacks"] == compiled.eager_fallbacks


@pytest.mark.slow
def test_networks_that_compile_give_the_eager_losses(caplog):
    torch.manual_seed(0)
    eager = make_model()
    torch.manual_seed(0)
    model = make_model()
    compiled = compile_networks(model, backend="eager")  # traced by dynamo, run without code generation
    with caplog.at_level(logging.WARNING, logger="pathogan_bench"):
        torch.manual_seed(0)
        got = model.train_step(make_batch(0), 0)
    torch.manual_seed(0)
    expected = eager.train_step(make_batch(0), 0)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert compiled.eager_fallbacks == {} and not caplog.records
