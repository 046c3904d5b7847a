"""Experiment loggers (``[train] loggers``): what they receive, and that a failing one never fails the run."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
from conftest import TINY_RUN, invoke_cli

from pathogan_bench.contracts.logger import LoggerContext
from pathogan_bench.contracts.spec import Spec
from pathogan_bench.engine.loggers import RunLoggers, flat_config
from pathogan_bench.registry import Registry

#: a U-Net small enough to train a few steps in about a second
TINY_UNET = ("--model-option", "width=0.0625", "--model-option", "levels=2")


class Recorder:
    calls: list[tuple[str, object]] = []

    def start(self, context):
        Recorder.calls.append(("start", context.tags))

    def log_losses(self, step, values):
        Recorder.calls.append(("losses", step))

    def log_scores(self, scores):
        Recorder.calls.append(("scores", scores))

    def log_artifacts(self, paths):
        Recorder.calls.append(("artifacts", paths))

    def close(self, status):
        Recorder.calls.append(("close", status))


class Broken(Recorder):
    def log_losses(self, step, values):
        raise ConnectionError("tracking server down\nsecond line")


class _Plugin:
    from pathogan_bench.contracts.hookspecs import hookimpl

    @staticmethod
    @hookimpl
    def register_loggers():
        return [Spec("recorder", Recorder), Spec("broken", Broken)]


def test_a_failing_logger_is_warned_about_once_and_dropped(tmp_path, caplog):
    Recorder.calls = []
    registry = Registry.from_plugins(_Plugin)
    context = LoggerContext(tmp_path, {"train": {"steps": 2}}, {"model": "unet"})
    loggers = RunLoggers.start(registry, ["broken", "recorder"], context)
    with caplog.at_level(logging.WARNING, logger="pathogan_bench"):
        for step in (2, 4, 6):
            loggers.log_losses(step, {"loss": 1.0, "bad": float("nan")})
        loggers.log_scores({"test/dice_mean": 0.5})
        loggers.close("done")
    warnings = [r.getMessage() for r in caplog.records if "logger broken failed" in r.getMessage()]
    assert len(warnings) == 1 and "tracking server down" in warnings[0] and "second line" not in warnings[0]
    # the broken one was closed once and dropped; the other saw every call
    assert [c for c in Recorder.calls if c[0] == "losses"] == [("losses", 2), ("losses", 4), ("losses", 6)]
    assert Recorder.calls[-1] == ("close", "done") and Recorder.calls.count(("close", "failed")) == 1
    assert flat_config({"train": {"steps": 2, "loggers": ["mlflow"]}, "model": "unet"}) == {
        "train.steps": "2",
        "train.loggers": "['mlflow']",
        "model": "unet",
    }


@pytest.mark.slow
def test_an_unknown_logger_fails_before_the_run(tmp_path):
    code, _, err = invoke_cli("run", "--model", "threshold", "--loggers", "mlfow", "--out", tmp_path)
    assert code == 2 and "unknown logger 'mlfow'" in err and "mlflow" in err
    assert not any(tmp_path.iterdir())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_mlflow_holds_a_study_run_params_losses_scores_and_report(tmp_path, capsys):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    (tmp_path / "tiny.toml").write_text(TINY_RUN)
    code, _, err = invoke_cli(
        "compare",
        "--models",
        "unet",
        "--config",
        tmp_path / "tiny.toml",
        "--steps",
        "4",
        *TINY_UNET,
        "--loggers",
        "mlflow",
        "--out",
        tmp_path / "study",
    )
    assert code == 0, err
    client = MlflowClient(tracking_uri=(tmp_path / "study" / "runs" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("study")
    (found,) = client.search_runs([experiment.experiment_id])
    tags = found.data.tags
    assert tags["pathogan_bench.model"] == "unet" and tags["pathogan_bench.seed"] == "0"
    assert tags["pathogan_bench.study"] == str((tmp_path / "study").resolve())
    assert found.info.run_name == "unet-seed0" and found.info.status == "FINISHED"
    assert found.data.params["train.steps"] == "4" and found.data.params["model"] == "unet"
    history = client.get_metric_history(found.info.run_id, "steps_per_s")
    assert [m.step for m in history] == [2, 4]
    assert "test/dice_mean" in found.data.metrics
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"report.md", "summary.json", "losses.csv", "config.toml"} <= artifacts


@pytest.mark.slow
def test_a_tracking_server_that_is_down_neither_fails_nor_slows_the_run(tmp_path, capsys):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    (tmp_path / "tiny.toml").write_text(TINY_RUN)
    args = ["run", "--config", tmp_path / "tiny.toml", "--model", "unet", "--steps", "4", *TINY_UNET]
    args += ["--out", tmp_path / "runs"]
    invoke_cli(*args, "--name", "warm", "--loggers", "none")  # data generated and modules imported once
    started = time.perf_counter()
    code, _, err = invoke_cli(*args, "--name", "plain", "--loggers", "none")
    plain = time.perf_counter() - started
    started = time.perf_counter()
    uri = f"http://127.0.0.1:{_closed_port()}"
    code, _, err = invoke_cli(*args, "--name", "down", "--loggers", "mlflow", "--tracking-uri", uri)
    down = time.perf_counter() - started
    assert code == 0, err
    assert err.count("logger mlflow failed") == 1, err
    assert (tmp_path / "runs" / "down" / "report.md").is_file()
    assert down < plain + 10, (plain, down)  # one refused connection, no retries
    assert "logger mlflow failed" in Path(tmp_path / "runs" / "down" / "log.txt").read_text()
