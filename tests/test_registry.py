from __future__ import annotations

import importlib.metadata
import types
from pathlib import Path

import pytest

from pathogan_bench import registry as reg
from pathogan_bench.contracts.hookspecs import hookimpl
from pathogan_bench.errors import DuplicateComponentError, UnknownComponentError
from pathogan_bench.registry import Registry, Spec


class Scale:
    """Multiply by a factor."""

    def __init__(self, factor: float = 1.0):
        self.factor = factor

    def __call__(self, step):
        return self.factor * step


def plugin(**hooks):
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def terms_plugin():
    return plugin(register_loss_terms=lambda: [Spec("relevancy", Scale), Spec("identity", Scale, "L1 of label maps")])


def test_create_by_name_with_kwargs_and_descriptions():
    registry = Registry.from_plugins(terms_plugin())
    term = registry.create("loss-term", "relevancy", factor=0.5)
    assert isinstance(term, Scale) and term.factor == 0.5
    assert registry.names("loss-term") == ["identity", "relevancy"]
    assert registry.get("loss-term", "relevancy").spec.summary == "Multiply by a factor."
    assert registry.get("loss-term", "identity").spec.summary == "L1 of label maps"


def test_unknown_name_lists_near_matches_in_one_line():
    registry = Registry.from_plugins(terms_plugin())
    with pytest.raises(UnknownComponentError) as err:
        registry.create("loss-term", "relevency")
    message = str(err.value)
    assert "unknown loss-term 'relevency'" in message and "'relevancy'" in message
    assert "\n" not in message


def test_unknown_name_without_near_match_lists_registered():
    registry = Registry.from_plugins(terms_plugin())
    with pytest.raises(UnknownComponentError, match="registered: identity, relevancy"):
        registry.get("loss-term", "zzz")


def test_unknown_kind():
    registry = Registry.from_plugins(terms_plugin())
    with pytest.raises(UnknownComponentError, match="unknown kind 'loss-terms'.*'loss-term'"):
        registry.names("loss-terms")


def test_duplicate_names_fail_naming_both_plugins():
    first = plugin(register_metrics=lambda: [Spec("dice", Scale)])
    second = plugin(register_metrics=lambda: [Spec("dice", Scale)])
    pm = reg.pluggy.PluginManager("pathogan_bench")
    pm.add_hookspecs(reg.hookspecs)
    pm.register(first, name="first-plugin")
    pm.register(second, name="second-plugin")
    pm.register(plugin(register_metrics=lambda: [Spec("hd95", Scale)]), name="third-plugin")
    registry = Registry(pm)  # the rest of the registry still works
    assert registry.names("metric") == ["hd95"]
    with pytest.raises(DuplicateComponentError) as err:
        registry.get("metric", "dice")
    assert "first-plugin" in str(err.value) and "second-plugin" in str(err.value) and "'dice'" in str(err.value)
    assert [b.plugin for b in registry.broken] == ["second-plugin"]


def test_same_name_in_different_kinds_is_fine():
    registry = Registry.from_plugins(
        plugin(register_metrics=lambda: [Spec("dice", Scale)], register_loss_terms=lambda: [Spec("dice", Scale)])
    )
    assert registry.names("metric") == ["dice"] == registry.names("loss-term")


def test_hook_that_raises_is_reported_and_others_still_load():
    def boom():
        raise RuntimeError("cannot build")

    registry = Registry.from_plugins(terms_plugin(), plugin(register_metrics=boom))
    assert registry.names("loss-term") == ["identity", "relevancy"]
    assert len(registry.broken) == 1
    assert "RuntimeError: cannot build" in registry.broken[0].error


def test_entry_point_that_fails_to_import_is_recorded(monkeypatch):
    good = importlib.metadata.EntryPoint("good", "tests.test_registry:GOOD_PLUGIN", "pathogan_bench")
    bad = importlib.metadata.EntryPoint("bad", "no_such_module_for_tests.plugin", "pathogan_bench")
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [good, bad])
    pm, broken = reg.make_plugin_manager()
    registry = Registry(pm, broken)
    assert registry.names("metric") == ["good-metric"]
    assert [b.plugin for b in registry.broken] == ["bad"]
    assert "no_such_module_for_tests" in registry.broken[0].error
    with pytest.raises(UnknownComponentError, match=r"broken plugins: bad"):
        registry.get("metric", "dise")


GOOD_PLUGIN = plugin(register_metrics=lambda: [Spec("good-metric", Scale)])


def test_builtin_components_come_through_the_entry_point_group():
    registry = reg.get_registry()
    (bundle,) = [ep for ep in importlib.metadata.entry_points(group="pathogan_bench") if ep.name == "builtin"]
    members = {name.rpartition(".")[2].replace("_", "-") for name in bundle.load().plugin_modules}
    assert {e.plugin for e in registry.entries() if e.source.startswith("pathogan-bench==")} <= members
    folders = Path(__file__).resolve().parents[1] / "plugins" / "models"
    assert {p.name.replace("_", "-") for p in folders.iterdir() if (p / "__init__.py").is_file()} <= members
    for name in ("pathogan", "cyclegan", "mdgru", "unet", "threshold"):
        assert registry.get("model", name).source.startswith("pathogan-bench==")
    assert {"full", "no-vae", "no-relevancy", "no-identity", "cyclegan-objective"} <= set(registry.names("loss-set"))
    assert {"dice", "hd95", "avd"} <= set(registry.names("metric"))


def test_a_bundle_registers_each_of_its_plugin_modules_and_a_new_module_needs_no_declaration(tmp_path, monkeypatch):
    package = tmp_path / "bundle_for_tests"
    (package / "parts").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathogan_bench.plugin import plugin_modules_in\nplugin_modules = plugin_modules_in(__name__ + '.parts')\n"
    )
    (package / "parts" / "__init__.py").write_text("")
    metric = (
        "from pathogan_bench.plugin import Spec, hookimpl\n@hookimpl\ndef register_loss_sets():\n"
        "    return [Spec('{0}', lambda: [('identity', 1.0)])]\n"
    )
    (package / "parts" / "first.py").write_text(metric.format("set-one"))
    (package / "parts" / "second_part.py").write_text(metric.format("set-two"))
    (package / "parts" / "broken.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint("bundle", "bundle_for_tests", "pathogan_bench")
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [ep])
    pm, broken = reg.make_plugin_manager()
    registry = Registry(pm, broken)
    assert registry.names("loss-set") == ["set-one", "set-two"]
    assert registry.get("loss-set", "set-two").plugin == "second-part"
    assert [(b.plugin, "half-written" in b.error) for b in registry.broken] == [("broken", True)]
