"""The plugin author's view: one import, every kind of component and a command, and broken plugins isolated."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import torch

import pathogan_bench.plugin as api
from pathogan_bench import registry as reg
from pathogan_bench.plugin import Case, CaseCollection, ModelContext, SegmentationModel, Spec, hookimpl

from conftest import invoke_cli


class Blob(SegmentationModel):
    """Segments bright FLAIR blobs."""

    name = "blob"
    supervision = "none"
    trainable = False

    def __init__(self, ctx: ModelContext, level: float = 0.5):
        super().__init__()
        self.level = level

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return (images[:, 0] > self.level).float()


@dataclass(frozen=True)
class Sensitivity:
    name: str = "sensitivity"
    level: str = "pair"

    def __call__(self, pred, ref, spacing=None):
        return float((pred & ref).sum() / ref.sum()) if ref.any() else float("nan")


def my_scans(root, modalities=None, **options):
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
        return [Spec("blob", Blob)]

    @hookimpl
    def register_metrics(self):
        return [Spec("sensitivity", lambda empty="default": Sensitivity(), tags={"higher_is_better": "true"})]

    @hookimpl
    def register_datasets(self):
        return [Spec("my-scans", my_scans)]

    @hookimpl
    def register_commands(self):
        return [volume_command]


@pytest.fixture
def with_example_plugin(monkeypatch):
    pm, broken = reg.make_plugin_manager(extra_plugins=[ExamplePlugin()])
    monkeypatch.setattr(reg, "_REGISTRY", reg.Registry(pm, broken))


def test_everything_a_plugin_needs_is_one_import():
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_an_example_plugin_adds_a_model_a_metric_a_dataset_and_a_command(with_example_plugin, tmp_path):
    code, out, err = invoke_cli("list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    blob = next(c for c in listing["components"]["model"] if c["name"] == "blob")
    assert blob["supervision"] == "none" and blob["description"] == "Segments bright FLAIR blobs."
    assert "sensitivity" in [c["name"] for c in listing["components"]["metric"]]
    assert {c["name"] for c in listing["commands"]} >= {"volume", "sample"}
    code, out, _ = invoke_cli("volume", "--help")
    assert code == 0 and "parameter count" in out
    (tmp_path / "p1").mkdir()
    collection = reg.get_registry().create("dataset", "my-scans", tmp_path)
    assert [c.patient_id for c in collection] == ["p1"]


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
        return list(real(group=group)) + [FakeEntryPoint("exits", exits_on_import),
                                          FakeEntryPoint("bad-hook", bad_signature)]

    monkeypatch.setattr(reg.importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(reg, "_REGISTRY", None)
    code, out, err = invoke_cli("list", "--json")
    assert code == 0, err
    broken = {b["plugin"]: b["error"] for b in json.loads(out)["broken"]}
    assert "SystemExit" in broken["exits"] and "unexpected_argument" in broken["bad-hook"]
    assert "pathogan" in [c["name"] for c in json.loads(out)["components"]["model"]]
