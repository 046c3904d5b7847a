"""The shared training loop: checkpoints, resume, non-finite losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pathogan_bench.config import TrainConfig
from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.engine.batches import DomainBatches, MaskedBatches
from pathogan_bench.engine.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from pathogan_bench.engine.selection import Selection
from pathogan_bench.engine.trainer import Trainer
from pathogan_bench.errors import NonFiniteLossError
from pathogan_bench.utils.optim import guarded_step, make_adam


class ToyWeakModel(SegmentationModel):
    """A tiny model with noise in its step, so the RNG matters for resume."""

    supervision = "weak"

    def __init__(self, poison_from: int | None = None):
        super().__init__(ModelContext(in_channels=2, image_size=8, total_steps=12))
        torch.manual_seed(0)
        self.net = torch.nn.Conv2d(2, 1, 3, padding=1)
        self.register_buffer("seen", torch.zeros(()))
        self.opt = self.add_optimizer("opt", self.net.parameters(), lr=0.01, decay_start=0.5)
        self.poison_from = poison_from

    def train_step(self, batch, step):
        noise = torch.randn_like(batch["x_a"]) * 0.1
        loss_a = self.net(batch["x_a"] + noise).pow(2).mean()
        loss_b = (1 - self.net(batch["x_b"])).pow(2).mean()
        if self.poison_from is not None and step >= self.poison_from:
            loss_b = loss_b * float("nan")
        total = loss_a + loss_b
        self.update("opt", total)
        self.seen += 1
        return {"G/a": loss_a.detach(), "G/b": loss_b.detach(), "G/total": total.detach()}

    def segment(self, images):
        return torch.sigmoid(self.net(images))[:, 0]


def toy_batches(seed=0):
    rng = np.random.default_rng(0)
    healthy = rng.uniform(-1, 1, (10, 2, 8, 8)).astype(np.float32)
    patho = rng.uniform(-1, 1, (7, 2, 8, 8)).astype(np.float32)
    return DomainBatches(healthy, patho, batch_size=3, seed=seed, device=torch.device("cpu"))


def config(**kw):
    base = dict(log_every=2, checkpoint_every=4, sample_every=0, keep_checkpoints=2, max_nonfinite=3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    straight = ToyWeakModel()
    Trainer(straight, toy_batches(), config(), tmp_path / "a", total_steps=12, seed=5).fit()

    first = ToyWeakModel()
    Trainer(first, toy_batches(), config(stop_at=7), tmp_path / "b", total_steps=12, seed=5).fit()
    resumed = ToyWeakModel()
    trainer = Trainer(resumed, toy_batches(), config(), tmp_path / "b", total_steps=12, seed=5)
    assert trainer.resume() and trainer.step == 7  # mid-epoch: epochs here are 3 steps long
    trainer.fit()

    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    assert resumed.opt.state_dict()["state"][0]["step"] == straight.opt.state_dict()["state"][0]["step"]
    assert resumed.schedulers()["opt"].last_epoch == straight.schedulers()["opt"].last_epoch == 12


@pytest.mark.slow
def test_checkpoints_are_kept_and_pruned(tmp_path):
    Trainer(ToyWeakModel(), toy_batches(), config(), tmp_path, total_steps=12, seed=0).fit()
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*.json"))
    assert names == ["step-00000008.json", "step-00000012.json"]
    rows = (tmp_path / "losses.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,steps_per_s,G/a,G/b,G/total") and len(rows) == 1 + 6


def test_checkpoint_holds_plain_data_only(tmp_path):
    Trainer(ToyWeakModel(), toy_batches(), config(), tmp_path, total_steps=4, seed=0).fit()
    meta = json.loads((tmp_path / "checkpoints" / "step-00000004.json").read_text())
    assert meta["format"].startswith("pathogan-bench-checkpoint")
    with pytest.raises(TypeError, match="tensors and plain data only"):
        save_checkpoint(tmp_path / "bad", {"obj": object()})


@pytest.mark.slow
def test_incomplete_checkpoint_is_ignored(tmp_path):
    Trainer(ToyWeakModel(), toy_batches(), config(), tmp_path, total_steps=8, seed=0).fit()
    ckpt = tmp_path / "checkpoints"
    tensors = ckpt / "step-00000008.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:100])  # a tensor file cut short
    assert latest_checkpoint(ckpt).name == "step-00000004.json"
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(ckpt / "step-00000008.json")


@pytest.mark.slow
def test_non_finite_steps_are_skipped_then_the_run_fails_keeping_the_good_checkpoint(tmp_path, caplog):
    model = ToyWeakModel(poison_from=4)
    trainer = Trainer(model, toy_batches(), config(log_every=1), tmp_path, total_steps=12, seed=0)
    with pytest.raises(NonFiniteLossError, match=r"G/b.*G/total|G/total.*G/b"):
        trainer.fit()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.opt.state_dict()["state"][0]["step"] == 4  # poisoned updates were not applied
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-00000004.json"
    assert "non-finite" in caplog.text


def test_batches_are_a_function_of_seed_and_step():
    a, b = toy_batches(seed=1), toy_batches(seed=1)
    for step in (0, 5, 3):
        torch.testing.assert_close(a.batch(step)["x_b"], b.batch(step)["x_b"])
    assert not torch.equal(toy_batches(seed=2).batch(0)["x_a"], a.batch(0)["x_a"])


def test_weak_batches_carry_no_mask_and_full_batches_do():
    weak = toy_batches().batch(0)
    assert set(weak) == {"x_a", "x_b"}
    assert not hasattr(toy_batches(), "masks")
    full = MaskedBatches(np.zeros((4, 2, 8, 8), np.float32), np.ones((4, 8, 8), bool), 2, 0, torch.device("cpu"))
    batch = full.batch(0)
    assert set(batch) == {"image", "mask"} and batch["mask"].shape == (2, 1, 8, 8)


@pytest.mark.parametrize("bad", ["loss", "gradient"])
def test_guarded_step_skips_non_finite_losses_and_gradients(bad):
    layer = torch.nn.Linear(3, 1)
    opt = make_adam(layer.parameters(), 0.1, (0.5, 0.999))
    before = [p.detach().clone() for p in layer.parameters()]
    x = torch.ones(2, 3)
    out = layer(x).sum()
    if bad == "loss":
        loss = out * float("nan")
    else:  # finite loss, NaN gradient: d/dw sqrt(w - w) at 0
        loss = out + torch.sqrt(layer.weight.sum() - layer.weight.sum())
    loss.backward()
    assert (torch.isfinite(loss).item()) == (bad == "gradient")
    applied = guarded_step(opt, loss)
    assert not bool(applied)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    opt.zero_grad()
    layer(x).sum().backward()
    assert bool(guarded_step(opt, layer(x).sum()))
    assert not torch.equal(before[0], layer.weight)


# -- choosing the weights by validation ---------------------------------------------------------------------------
def scripted_selection(scores: list[float], every: int = 2, patience: int = 2) -> Selection:
    """A selection whose validations score ``scores`` in turn (and remember the weights they saw)."""
    pending = iter(scores)
    return Selection("val-dice", lambda model: next(pending), every, patience)


def test_training_stops_after_patience_validations_without_gain_and_segments_with_the_best_weights(tmp_path):
    model = ToyWeakModel()
    selection = scripted_selection([0.1, 0.5, 0.4, 0.3, 0.9])
    trainer = Trainer(model, toy_batches(), config(), tmp_path, total_steps=12, seed=0, selection=selection)
    seen = {}
    original = selection.check

    def check(m, step):
        seen[step] = {k: v.clone() for k, v in m.state_dict().items()}
        return original(m, step)

    selection.check = check
    trainer.fit()
    assert trainer.stopped_early == 8 and trainer.step == 8 and trainer.done  # validations at 2, 4, 6, 8
    assert (selection.best_step, selection.best_score) == (4, 0.5) and selection.history[-1] == (8, 0.3)
    trainer.finish_selection()
    for key, value in seen[4].items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    assert selection.facts()["validations"] == 4


@pytest.mark.slow
def test_a_stopped_run_resumes_its_selection_and_stops_where_the_uninterrupted_one_does(tmp_path):
    scores = [0.1, 0.5, 0.4, 0.3, 0.9]
    straight = Trainer(
        ToyWeakModel(), toy_batches(), config(), tmp_path / "a", 12, 0, selection=scripted_selection(scores)
    )
    straight.fit()
    Trainer(
        ToyWeakModel(), toy_batches(), config(stop_at=5), tmp_path / "b", 12, 0, selection=scripted_selection(scores)
    ).fit()
    # the resumed run's selection continues with the remaining validations: 6 -> 0.4, 8 -> 0.3
    resumed = Trainer(
        ToyWeakModel(), toy_batches(), config(), tmp_path / "b", 12, 0, selection=scripted_selection(scores[2:])
    )
    assert resumed.resume() and resumed.selection.history == [(2, 0.1), (4, 0.5)]
    resumed.fit()
    assert resumed.stopped_early == straight.stopped_early == 8
    assert resumed.selection.best_step == 4
    for key, value in straight.selection.best_state.items():
        torch.testing.assert_close(resumed.selection.best_state[key], value, rtol=0, atol=0)


def test_a_loss_window_sums_on_the_device_and_counts_non_finite_steps_and_their_streak():
    from pathogan_bench.engine.loss_log import LossWindow

    nan, inf = float("nan"), float("inf")
    window = LossWindow(0, {"opt": torch.tensor(3)})
    for a, b in [(1.0, 2.0), (nan, 4.0), (3.0, inf)]:
        window.add({"a": torch.tensor(a), "b": torch.tensor(b)})
    summary = window.close(3, {"opt": torch.tensor(5)})
    assert summary.steps == 3 and summary.means == {"a": 2.0, "b": 3.0}
    assert summary.nonfinite == {"a": 1, "b": 1} and summary.worst_streak == 2 and summary.skipped == {"opt": 2}
    following = LossWindow(3, {}, window.streak)  # a streak goes on across windows
    following.add({"a": torch.tensor(nan), "b": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="same loss names"):
        following.add({"a": torch.tensor(1.0)})
    assert following.close(4, {}).worst_streak == 3
    assert LossWindow(4, {}).close(4, {}).steps == 0
