"""The one-file plugins of docs/PLUGINS.md, run from the page: a model, a metric, a threshold policy and a data
layout dropped into a plugins folder appear in `list`, in the run's report and comparison, and in `--dataset auto`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench import registry as reg
from pathogan_bench.data.synthetic import synthesize
from pathogan_bench.engine.datasets import detect_layout

DOCS = Path(__file__).resolve().parents[1] / "docs" / "PLUGINS.md"
#: file name -> the section of docs/PLUGINS.md whose Python block it holds
FILES = {
    "pixelnet.py": "The shortest complete model",
    "sensitivity.py": "A metric in one file",
    "brain_percentile.py": "A threshold policy in one file",
    "plain_folders.py": "A data layout in one file",
}


def docs_block(section: str) -> str:
    """The first Python block under a heading of docs/PLUGINS.md."""
    return DOCS.read_text().split(f"## {section}\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch) -> Path:
    """A plugins folder holding the documented files, the process-wide registry built from it."""
    monkeypatch.setattr(reg, "_PLUGIN_DIRS", None)
    monkeypatch.setattr(reg, "_REGISTRY", None)
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    for name, section in FILES.items():
        (folder / name).write_text(docs_block(section))
    monkeypatch.setenv("PATHOGAN_BENCH_PLUGINS_DIR", str(folder))
    return folder


def plain_folders(root: Path, tmp_path: Path, patients: int = 4) -> Path:
    """Generated scans rewritten into the documented layout: PATIENT/flair.nii.gz, ..., seg.nii.gz."""
    generated = synthesize(tmp_path / "generated", patients=patients, size=32, seed=0, progress=False)
    suffixes = {"t2f": "flair", "t1n": "t1", "t1c": "t1c", "t2w": "t2", "seg": "seg"}
    for case in sorted(p for p in generated.iterdir() if p.is_dir()):
        target = root / case.name.lower()
        target.mkdir(parents=True)
        for file in case.glob("*.nii.gz"):
            suffix = file.name.removesuffix(".nii.gz").rsplit("-", 1)[1]
            shutil.copy(file, target / f"{suffixes[suffix]}.nii.gz")
    shutil.copy(generated / "dataset.json", root / "dataset.json")  # the generated volumes' slice range
    return root


def test_each_documented_plugin_is_listed_with_its_facts_and_its_file(plugin_folder):
    code, out, err = invoke_cli("list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert not listing["broken"], listing["broken"]

    def component(kind: str, name: str) -> dict:
        (found,) = [c for c in listing["components"][kind] if c["name"] == name]
        return found

    assert component("model", "pixelnet")["supervision"] == "full"
    sensitivity = component("metric", "sensitivity")
    assert (sensitivity["unit"], sensitivity["direction"], sensitivity["level"]) == (
        "ratio",
        "higher is better",
        "pair",
    )
    assert component("threshold-policy", "percentile")["source"] == str(
        (plugin_folder / "brain_percentile.py").resolve()
    )
    assert component("dataset", "plain-folders")["description"].startswith("One folder per patient")


def test_auto_detection_reads_a_folder_with_the_documented_layout(plugin_folder, tmp_path):
    root = plain_folders(tmp_path / "plain", tmp_path)
    assert detect_layout(reg.get_registry(), root) == "plain-folders"
    code, out, err = invoke_cli("data", "prepare", root, "--cache", tmp_path / "cache")
    assert code == 0, err
    assert "(plain-folders;" in out  # the layout auto-detection chose, in the table's title


@pytest.mark.slow
def test_a_run_of_the_documented_plugins_reports_their_metric_and_policy(plugin_folder, tmp_path):
    root = plain_folders(tmp_path / "plain", tmp_path, patients=5)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_RUN)
    args = ["run", "--config", config, "--data", root, "--model", "pixelnet", "--steps", "4", "--out", tmp_path]
    args += ["--metrics", "dice,sensitivity,auroc", "--policies", "model,percentile:99", "--name", "pixel"]
    result = invoke_cli(*args)
    assert result.code == 0, result.output
    run = tmp_path / "pixel"
    report = (run / "report.md").read_text()
    assert "Sensitivity (%)" in report and "| percentile:99 | none |" in report
    assert "its brain pixels' percentile" in report
    summary = json.loads((run / "summary.json").read_text())
    assert summary["metric_facts"]["sensitivity"]["label"] == "Sensitivity"
    code, out, err = invoke_cli("compare", run, "--out", tmp_path / "comparison")
    assert code == 0, err
    assert "Sensitivity (%)" in (tmp_path / "comparison" / "comparison.md").read_text()
    bad = invoke_cli(*args[:-2], "--policies", "percentile:200", "--name", "bad")
    assert bad.code == 2 and "threshold policy 'percentile:200': expected a percentile in (0, 100), got 200" in bad.err
