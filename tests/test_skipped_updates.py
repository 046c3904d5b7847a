"""Skipped optimizer updates are counted, reported and, past a limit, fail the run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from conftest import TINY_RUN as TINY
from conftest import invoke_cli

from pathogan_bench import registry as reg
from pathogan_bench.plugin import ModelContext, SegmentationModel, hookimpl


class Flaky(SegmentationModel):
    """A one-layer weak model whose loss is NaN on every ``every``-th step."""

    name = "flaky"
    supervision = "weak"

    def __init__(self, ctx: ModelContext, every: int = 2):
        super().__init__(ctx)
        self.every = every
        self.net = torch.nn.Conv2d(ctx.in_channels, 1, 1)
        self.add_optimizer("net", self.net.parameters(), 1e-3)

    def train_step(self, batch, step):
        loss = self.net(batch["x_b"]).pow(2).mean()
        if step % self.every == 0:
            loss = loss * float("nan")
        self.update("net", loss)
        return {"S/loss": loss.detach()}

    def segment(self, images):
        return torch.sigmoid(self.net(images))[:, 0]


class FlakyPlugin:
    @hookimpl
    def register_models(self):
        return [Flaky]


@pytest.fixture
def with_flaky(monkeypatch, tmp_path):
    pm, broken = reg.make_plugin_manager(extra_plugins=[FlakyPlugin()])
    monkeypatch.setattr(reg, "_REGISTRY", reg.Registry(pm, broken))
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path / "tiny.toml"


def test_too_many_skipped_updates_fail_the_run_and_say_so(with_flaky, tmp_path):
    code, _, err = invoke_cli(
        "run", "--config", with_flaky, "--model", "flaky", "--steps", "6", "--out", tmp_path, "--name", "r"
    )
    assert code == 1 and "run failed:" in err and "net 3 of 6" in err
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "failed" and "max_skipped_fraction" in info["error"]
    # a window where every step was skipped logs no loss, not 0.0
    frame = pd.read_csv(tmp_path / "r" / "losses.csv")
    assert frame["skipped/net"].tolist() == [1, 1, 1]


@pytest.mark.slow
def test_skipped_updates_within_the_limit_are_counted_in_the_run_facts_and_the_report(with_flaky, tmp_path):
    def flaky_run(name: str) -> tuple[int, str]:
        code, _, err = invoke_cli(
            "run", "--config", with_flaky, "--model", "flaky", "--model-option", "every=4", "--steps", "8",
            "--out", tmp_path, "--name", name,
        )  # fmt: skip
        return code, err

    code, err = flaky_run("r")
    assert code == 1  # 2 of 8 > 10 %
    with_flaky.write_text(TINY.replace("[train]\n", "[train]\nmax_skipped_fraction = 0.3\n"))
    code, err = flaky_run("ok")
    assert code == 0, err
    assert "skipped optimizer updates" in err and "net 2 of 8" in err
    run_dir = tmp_path / "ok"
    assert json.loads((run_dir / "run.json").read_text())["skipped_updates"] == {"net": 2}
    assert json.loads((run_dir / "summary.json").read_text())["run"]["skipped_updates"] == {"net": 2}
    assert "optimizer updates skipped (non-finite loss or gradients): net 2" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_a_window_of_only_skipped_steps_logs_nan_not_zero(with_flaky, tmp_path):
    with_flaky.write_text(
        TINY.replace("log_every = 2", "log_every = 1").replace("[train]\n", "[train]\nmax_skipped_fraction = 1\n")
    )
    code, _, err = invoke_cli(
        "run", "--config", with_flaky, "--model", "flaky", "--steps", "4", "--out", tmp_path, "--name", "r"
    )
    assert code == 0, err
    frame = pd.read_csv(tmp_path / "r" / "losses.csv")
    assert frame["S/loss"].isna().tolist() == [True, False, True, False]
