"""The plugin author's view: one import, every kind of component and a command, and broken plugins isolated."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import click
import pytest
import torch
from conftest import TINY_RUN, invoke_cli

import pathogan_bench.plugin as api
from pathogan_bench import registry as reg
from pathogan_bench.plugin import Case, CaseCollection, ModelContext, SegmentationModel, Spec, hookimpl


class Blob(SegmentationModel):
    """Segments bright FLAIR blobs."""

    name = "blob"
    supervision = "none"
    trainable = False

    def __init__(self, ctx: ModelContext, level: float = 0.5):
        super().__init__(ctx)
        self.level = level

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return (images[:, 0] > self.level).float()


SENSITIVITY = api.PairScore(
    "sensitivity",
    lambda pred, ref, spacing: float((pred & ref).sum() / ref.sum()) if ref.any() else float("nan"),
    label="Sensitivity",
)


class MyScans(api.Layout):
    """One folder per patient holding flair.nii.gz."""

    name = "my-scans"

    def scan(self, root):
        return [Case(f.name, {"flair": f / "flair.nii.gz"}) for f in sorted(Path(root).iterdir()) if f.is_dir()]


def my_scans_without_a_count(root, modalities=None, **options):
    cases = [Case(folder.name, {"flair": folder / "flair.nii.gz"}) for folder in sorted(Path(root).iterdir())]
    return CaseCollection(Path(root), cases, ("flair",), scheme="my-scans")


@click.command("volume")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def volume_command(run_dir):
    """Print the model's parameter count."""
    model, config, info = api.load_trained_model(run_dir, "cpu")
    click.echo(sum(p.numel() for p in model.parameters()))


class ExamplePlugin:
    @hookimpl
    def register_models(self):
        return [Blob]

    @hookimpl
    def register_metrics(self):
        return [Spec("sensitivity", lambda empty="default": SENSITIVITY)]

    @hookimpl
    def register_datasets(self):
        return [MyScans(), Spec("uncounted", my_scans_without_a_count)]

    @hookimpl
    def register_commands(self):
        return [volume_command]


@pytest.fixture
def with_example_plugin(monkeypatch):
    pm, broken = reg.make_plugin_manager(extra_plugins=[ExamplePlugin()])
    monkeypatch.setattr(reg, "_REGISTRY", reg.Registry(pm, broken))


def test_the_model_plugins_need_nothing_from_the_core_but_the_plugin_api():
    """Every built-in model, and what they share, imports the core only through ``pathogan_bench.plugin``, and
    every name so imported is in its ``__all__`` (the plugin author's one import)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "plugins"
    files = [*(root / "models").rglob("*.py"), *(root / "shared").rglob("*.py")]
    assert len(files) > 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pathogan_bench":
                where = f"{path.relative_to(root)}:{node.lineno}"
                assert node.module == "pathogan_bench.plugin", f"{where} imports {node.module}"
                missing = {a.name for a in node.names} - set(api.__all__)
                assert not missing, f"{where} imports {missing}, not in pathogan_bench.plugin.__all__"


def test_an_example_plugin_adds_a_model_a_metric_a_dataset_and_a_command(with_example_plugin, tmp_path):
    code, out, err = invoke_cli("list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    blob = next(c for c in listing["components"]["model"] if c["name"] == "blob")
    assert blob["supervision"] == "none" and blob["description"] == "Segments bright FLAIR blobs."
    sensitivity = next(c for c in listing["components"]["metric"] if c["name"] == "sensitivity")
    assert (sensitivity["unit"], sensitivity["direction"], sensitivity["input"]) == (
        "ratio",
        "higher is better",
        "mask",
    )
    assert {c["name"] for c in listing["commands"]} >= {"volume", "sample"}
    code, out, _ = invoke_cli("volume", "--help")
    assert code == 0 and "parameter count" in out
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "flair.nii.gz").write_bytes(b"")
    collection = reg.get_registry().create("dataset", "my-scans", tmp_path)
    assert [c.patient_id for c in collection] == ["p1"]
    errors = [b["error"] for b in listing["broken"]]
    assert any("dataset 'uncounted' does not meet the dataset contract: no method 'count_cases'" in e for e in errors)
    assert "uncounted" not in [c["name"] for c in listing["components"]["dataset"]]


def test_sample_comes_from_the_pathogan_plugin():
    commands = {c.name: plugin for c, plugin, _ in reg.get_registry().commands()}
    assert commands.get("sample") == "pathogan"


class FakeEntryPoint:
    def __init__(self, name: str, load):
        self.name, self.value, self.dist, self._load = name, f"fake.{name}", None, load

    def load(self):
        return self._load()


def exits_on_import():
    raise SystemExit(3)


def bad_signature():
    module = types.ModuleType("bad_signature")

    @hookimpl
    def register_models(unexpected_argument):
        return []

    module.register_models = register_models
    return module


def test_a_plugin_that_exits_or_has_a_bad_hook_is_listed_as_broken_and_the_rest_works(monkeypatch):
    real = reg.importlib.metadata.entry_points

    def entry_points(group):
        return list(real(group=group)) + [
            FakeEntryPoint("exits", exits_on_import),
            FakeEntryPoint("bad-hook", bad_signature),
        ]

    monkeypatch.setattr(reg.importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(reg, "_REGISTRY", None)
    code, out, err = invoke_cli("list", "--json")
    assert code == 0, err
    broken = {b["plugin"]: b["error"] for b in json.loads(out)["broken"]}
    assert "SystemExit" in broken["exits"] and "unexpected_argument" in broken["bad-hook"]
    assert "pathogan" in [c["name"] for c in json.loads(out)["components"]["model"]]


# -- the shortest complete model, run from docs/PLUGINS.md ----------------------------------------------------------
def docs_block(section: str) -> str:
    """The first Python block under a heading of docs/PLUGINS.md."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "PLUGINS.md").read_text()
    return text.split(f"## {section}", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def docs_model_module(monkeypatch) -> types.ModuleType:
    """The one Python block of docs/PLUGINS.md's "shortest complete model", executed as a plugin module."""
    code = docs_block("The shortest complete model")
    module = types.ModuleType("pixelnet")
    monkeypatch.setitem(sys.modules, "pixelnet", module)  # dataclasses look their module up
    exec(compile(code, "docs/PLUGINS.md", "exec"), module.__dict__)
    return module


@pytest.mark.slow
def test_the_documented_shortest_model_trains_checkpoints_and_is_scored(monkeypatch, tmp_path):
    pm, broken = reg.make_plugin_manager(extra_plugins=[docs_model_module(monkeypatch)])
    monkeypatch.setattr(reg, "_REGISTRY", reg.Registry(pm, broken))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    result = invoke_cli(
        "run", "--config", config, "--model", "pixelnet", "--steps", "6", "--out", tmp_path, "--name", "pixel"
    )
    assert result.code == 0, result.output
    run = tmp_path / "pixel"
    summary = json.loads((run / "summary.json").read_text())
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    assert "S/bce" in (run / "losses.csv").read_text().splitlines()[0]
    assert summary, "no scores"
    refused = invoke_cli("run", "--config", config, "--model", "pixelnet", "--model-option", "lrr=1", "--out", tmp_path)
    assert refused.code == 2 and "unknown pixelnet option(s) lrr; did you mean lr?" in refused.err


class ConstructorBug(SegmentationModel):
    """A model whose constructor has a bug."""

    name = "buggy"
    supervision = "none"
    trainable = False

    def __init__(self, ctx: ModelContext):
        super().__init__(ctx)
        len(5)  # type: ignore[arg-type]  # a TypeError of the model's own, not a bad option


class BuggyPlugin:
    @hookimpl
    def register_models(self):
        return [ConstructorBug]


def test_a_type_error_inside_a_model_is_an_internal_error_not_a_bad_option(monkeypatch, tmp_path):
    pm, broken = reg.make_plugin_manager(extra_plugins=[BuggyPlugin()])
    monkeypatch.setattr(reg, "_REGISTRY", reg.Registry(pm, broken))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    result = invoke_cli("run", "--config", config, "--model", "buggy", "--out", tmp_path)
    assert result.code == 1, result.output
    assert "model_options" not in result.err and "TypeError" in result.err


def test_a_class_registers_under_the_name_it_states_and_a_bad_return_is_broken():
    class Odd:
        @hookimpl
        def register_models(self):
            return [ConstructorBug, 42]

    registry = reg.Registry.from_plugins(Odd())
    assert registry.names("model") == ["buggy"]
    assert registry.get("model", "buggy").spec.summary == "A model whose constructor has a bug."
    assert any("not a Spec or a class with a name" in b.error for b in registry.broken)


# -- plugins from a folder of .py files ------------------------------------------------------------------------------
def test_plugins_load_from_a_folder_listed_with_their_file_and_a_broken_file_is_isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(reg, "_PLUGIN_DIRS", None)
    monkeypatch.setattr(reg, "_REGISTRY", None)
    (tmp_path / "edge_term.py").write_text(docs_block("A loss term in one file"))
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('not a plugin: never imported')\n")
    code, out, err = invoke_cli("--plugins-dir", tmp_path, "list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    (term,) = [c for c in listing["components"]["loss-term"] if c["name"] == "edge-length"]
    assert term["description"].startswith("Length of the segmentation's vertical edges")
    assert term["plugin"] == "edge_term" and term["source"] == str((tmp_path / "edge_term.py").resolve())
    broken = {b["plugin"]: b["error"] for b in listing["broken"]}
    assert set(broken) == {"broken"} and "RuntimeError: boom" in broken["broken"]
    assert "pathogan" in [c["name"] for c in listing["components"]["model"]]


@pytest.mark.slow
def test_a_one_file_model_from_the_environment_variable_trains(monkeypatch, tmp_path):
    monkeypatch.setattr(reg, "_PLUGIN_DIRS", None)
    monkeypatch.setattr(reg, "_REGISTRY", None)
    code = docs_block("The shortest complete model")
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "pixelnet.py").write_text(code)
    monkeypatch.setenv("PATHOGAN_BENCH_PLUGINS_DIR", str(folder))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    result = invoke_cli("run", "--config", config, "--model", "pixelnet", "--steps", "4", "--out", tmp_path)
    assert result.code == 0, result.output
