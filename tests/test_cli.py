"""The command line's contract: help texts, listing, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import invoke_cli

from pathogan_bench import cli as cli_module
from pathogan_bench.registry import KINDS


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pathogan_bench", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def test_every_command_has_help_with_an_example(monkeypatch, capsys):
    code, out, _ = invoke_cli("--help")
    assert code == 0
    names = cli_module.cli.list_commands(None)
    assert {"list", "run"} <= set(names)
    for name in names:
        command = cli_module.cli.get_command(None, name)
        text = command.help or ""
        assert "pathogan-bench" in text, f"{name} --help has no example"


def test_list_json_groups_every_kind(monkeypatch, capsys):
    code, out, _ = invoke_cli("list", "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload["components"]) == set(KINDS) == set(payload["kinds"])
    assert all(kind["hook"] == KINDS[name] for name, kind in payload["kinds"].items())
    for entries in payload["components"].values():
        for entry in entries:
            assert entry["name"] and "plugin" in entry and "source" in entry


def test_list_one_kind(monkeypatch, capsys):
    code, out, _ = invoke_cli("list", "loss-set", "--json")
    assert code == 0 and list(json.loads(out)["components"]) == ["loss-set"]


def test_unknown_model_is_exit_2_one_line(monkeypatch, capsys):
    code, _, err = invoke_cli("run", "--model", "pathogn", "--steps", "1")
    assert code == 2
    assert err.strip().count("\n") == 0 and "unknown model 'pathogn'" in err and "'pathogan'" in err


def test_bad_loss_override_is_exit_2(monkeypatch, capsys):
    code, _, err = invoke_cli("run", "--loss", "relevancy")
    assert code == 2 and "expected NAME=WEIGHT" in err


def test_missing_config_file_is_exit_2(monkeypatch, capsys, tmp_path):
    code, _, err = invoke_cli("run", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml" in err


def test_usage_error_is_exit_2(monkeypatch, capsys):
    code, _, err = invoke_cli("run", "--no-such-option")
    assert code == 2


def test_resume_of_a_folder_that_is_not_a_run(monkeypatch, capsys, tmp_path):
    code, _, err = invoke_cli("run", "--resume", str(tmp_path))
    assert code == 2 and "not a run directory" in err


def test_internal_failure_is_exit_1_and_debug_shows_traceback(monkeypatch, capsys):
    import pathogan_bench.engine as engine

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(engine, "run", boom)
    code, _, err = invoke_cli("run", "--steps", "1")
    assert code == 1 and "internal error: RuntimeError: kaboom" in err and "Traceback" not in err
    code, _, err = invoke_cli("--debug", "run", "--steps", "1")
    assert code == 1 and "Traceback" in err


def test_console_script_is_installed():
    result = subprocess.run(["pathogan-bench", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "0.1.0" in result.stdout


def test_loss_completion_offers_term_names_ready_for_a_weight():
    from pathogan_bench.commands.options import loss_weight_names

    offered = [item.value for item in loss_weight_names(None, None, "re")]  # type: ignore[arg-type]
    assert offered == ["relevancy="]
    assert loss_weight_names(None, None, "relevancy=0.") == []  # type: ignore[arg-type]


def test_list_shows_each_models_supervision_as_text(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = invoke_cli("list", "model")
    assert code == 0, err
    assert "[weak]" in out and "[full]" in out and "[healthy]" in out
    assert max(len(line) for line in out.splitlines()) <= 80
