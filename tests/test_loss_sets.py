from __future__ import annotations

import types

import pytest

from pathogan_bench.config import parse_loss_override
from pathogan_bench.contracts.hookspecs import hookimpl
from pathogan_bench.engine.loss_sets import loss_set_pairs, resolve_loss_set
from pathogan_bench.errors import UnknownComponentError, UserError
from pathogan_bench.registry import Registry, Spec


def make_registry():
    def term(name):
        return lambda: lambda step: step[name]

    plugin = types.SimpleNamespace(
        register_loss_terms=hookimpl(lambda: [Spec(n, term(n)) for n in ("gan", "cycle", "kl", "relevancy")]),
        register_loss_sets=hookimpl(lambda: [Spec("base", lambda: [("gan", 1.0), ("cycle", 5.0), ("kl", 0.1)])]),
    )
    return Registry.from_plugins(plugin)


def test_pairs_follow_the_set_order():
    assert loss_set_pairs(make_registry(), "base") == [("gan", 1.0), ("cycle", 5.0), ("kl", 0.1)]


def test_override_changes_weight_and_adds_terms_at_the_end():
    pairs = loss_set_pairs(make_registry(), "base", {"cycle": 10.0, "relevancy": 0.5})
    assert pairs == [("gan", 1.0), ("cycle", 10.0), ("kl", 0.1), ("relevancy", 0.5)]


def test_without_drops_terms():
    assert loss_set_pairs(make_registry(), "base", without=["kl"]) == [("gan", 1.0), ("cycle", 5.0)]
    with pytest.raises(UserError, match="has no term 'vae'"):
        loss_set_pairs(make_registry(), "base", without=["vae"])


def test_user_defined_set_from_config():
    pairs = loss_set_pairs(make_registry(), "mine", user_sets={"mine": [["cycle", 2], ["gan", 1]]})
    assert pairs == [("cycle", 2.0), ("gan", 1.0)]


def test_unknown_term_and_set_fail_with_near_matches():
    with pytest.raises(UnknownComponentError, match="'cycle'"):
        loss_set_pairs(make_registry(), "base", {"cycel": 1.0})
    with pytest.raises(UnknownComponentError, match="unknown loss-set 'bsae'"):
        loss_set_pairs(make_registry(), "bsae")


def test_resolved_terms_are_called_on_the_step():
    terms = resolve_loss_set(make_registry(), "base")
    step = {"gan": 1.5, "cycle": 2.0, "kl": 4.0}
    assert sum(t.weight * t(step) for t in terms) == pytest.approx(1.5 + 10.0 + 0.4)


@pytest.mark.parametrize("text", ["relevancy", "=0.2", "relevancy=abc"])
def test_bad_override_syntax(text):
    with pytest.raises(UserError, match="--loss"):
        parse_loss_override(text)


def test_override_syntax():
    assert parse_loss_override(" tv = 0.2") == ("tv", 0.2)
