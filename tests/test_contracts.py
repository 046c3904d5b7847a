"""Every registered component meets its kind's contract, tested at a tiny size the moment it registers."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pathogan_bench.contracts import hookspecs
from pathogan_bench.contracts.kinds import KINDS
from pathogan_bench.contracts.metric import MetricFacts
from pathogan_bench.contracts.model import ModelContext, SegmentationModel
from pathogan_bench.data.synthetic import synthesize
from pathogan_bench.engine.checkpoint import load_checkpoint, save_checkpoint
from pathogan_bench.engine.loss_sets import resolve_loss_set
from pathogan_bench.engine.model_options import model_class
from pathogan_bench.errors import ContractError, ModelOptionsError, UserError
from pathogan_bench.evaluation import create_metric
from pathogan_bench.plugin import Spec, hookimpl
from pathogan_bench.registry import Registry, get_registry

REGISTRY = get_registry()
SIZE, CHANNELS, BATCH = 32, 2, 2


def tiny_model(name: str, steps: int = 4) -> SegmentationModel:
    entry = REGISTRY.get("model", name)
    factory = entry.spec.factory
    uses = getattr(factory, "uses_loss_set", False)
    ctx = ModelContext(
        in_channels=CHANNELS,
        image_size=SIZE,
        modalities=("flair", "t1c"),
        total_steps=steps,
        loss_terms=resolve_loss_set(REGISTRY, "full") if uses else (),
        loss_set="full",
        batch_size=BATCH,
        registry=REGISTRY,
    )
    config_class = getattr(factory, "config_class", None)
    known = {f.name for f in dataclasses.fields(config_class)} if config_class else set()
    # what the quick preset adds (few sampling steps for the diffusion models), at the smallest width
    options = {**getattr(factory, "preset_options", {}).get("quick", {})}
    options |= {k: v for k, v in {"width": 0.0625, "z": 8}.items() if k in known}
    torch.manual_seed(0)
    return factory(ctx, **options)


def images(n: int = BATCH, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, CHANNELS, SIZE, SIZE, generator=gen) * 1.6 - 0.8
    x[..., :4, :] = -1  # background rows, as after preprocessing
    return x


def batch_for(supervision: str) -> dict[str, torch.Tensor]:
    if supervision == "full":
        mask = torch.zeros(BATCH, 1, SIZE, SIZE)
        mask[:, :, 10:18, 12:20] = 1
        return {"image": images(), "mask": mask}
    if supervision == "healthy":
        return {"x_a": images()}
    return {"x_a": images(seed=1), "x_b": images(seed=2)}


# -- models ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTRY.names("model"))
def test_model_states_its_supervision_and_trains_without_touching_masks_it_may_not_see(name):
    model = tiny_model(name)
    kind = model_class(REGISTRY.get("model", name)).supervision
    assert isinstance(model, SegmentationModel) and model.supervision == kind
    if not model.trainable:
        return
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    losses = model.train_step(batch_for(kind), 0)
    assert losses and all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters()), "a training step changed nothing"


@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTRY.names("model"))
def test_model_segments_into_probabilities_and_round_trips_through_a_checkpoint(name, tmp_path):
    model = tiny_model(name)
    model.calibrate(images(4, seed=3))
    model.eval()
    x = images(seed=4)
    prob = model.segment(x)
    assert prob.shape == (BATCH, SIZE, SIZE) and torch.isfinite(prob).all()
    assert float(prob.min()) >= 0 and float(prob.max()) <= 1
    joint, translated = model.segment_and_translate(x)
    assert torch.allclose(joint, prob, atol=1e-6)
    assert all(t.shape[0] == BATCH and t.shape[-2:] == (SIZE, SIZE) for t in translated.values())
    save_checkpoint(tmp_path / "ckpt", {"model": model.state_dict(), "extra": model.extra_state()})
    state = load_checkpoint(tmp_path / "ckpt.json")
    fresh = tiny_model(name)
    fresh.load_state_dict(state["model"])
    fresh.load_extra_state(state["extra"])
    fresh.eval()
    assert torch.allclose(fresh.segment(x), prob, atol=1e-6)


@pytest.mark.parametrize("name", REGISTRY.names("model"))
def test_model_refuses_unknown_options_before_it_is_built(name):
    factory = REGISTRY.get("model", name).spec.factory
    with pytest.raises(ModelOptionsError):
        factory.check_options({"no_such_option": 1})


# -- loss terms -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def translation_step():
    model = tiny_model("pathogan")
    torch.manual_seed(0)
    return model.forward_step(images(seed=1), images(seed=2)).float()


@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTRY.names("loss-term"))
def test_loss_term_is_a_finite_differentiable_scalar(name, translation_step):
    value = REGISTRY.create("loss-term", name)(translation_step)
    assert value.dim() == 0 and torch.isfinite(value) and value.requires_grad


@pytest.mark.parametrize("name", REGISTRY.names("loss-set"))
def test_loss_set_names_registered_terms_with_finite_weights(name):
    pairs = REGISTRY.create("loss-set", name)
    assert pairs and all(term in REGISTRY.names("loss-term") and math.isfinite(w) and w >= 0 for term, w in pairs)


# -- datasets -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("synthetic"), patients=2, size=32, modalities=("flair", "t1c"), seed=0)


@pytest.mark.parametrize("name", REGISTRY.names("dataset"))
def test_dataset_reads_a_folder_or_refuses_it_with_one_line_naming_it(name, synthetic_folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=str(empty)):
        REGISTRY.create("dataset", name, empty)
    try:
        collection = REGISTRY.create("dataset", name, synthetic_folder)
    except UserError as exc:  # another naming scheme: refused, naming the folder
        assert str(synthetic_folder) in str(exc) and "\n" not in str(exc)
        return
    assert len(collection) == 2 and collection.modalities
    for case in collection:
        assert all(case.images[m].is_file() for m in collection.modalities)
        stack, volume = case.load_all(collection.modalities)
        assert stack.shape[0] == len(collection.modalities) and volume.affine.shape == (4, 4)


# -- metrics --------------------------------------------------------------------------------------------------------
def masks() -> tuple[np.ndarray, np.ndarray]:
    ref = np.zeros((3, 24, 24), bool)
    ref[:, 6:14, 6:14] = True
    pred = np.roll(ref, 3, axis=2)
    return pred, ref


@pytest.mark.parametrize("name", REGISTRY.names("metric"))
def test_metric_scores_a_perfect_prediction_best_and_a_batch_like_its_items(name):
    metric = create_metric(REGISTRY, name)
    facts = MetricFacts.of(metric)
    pred, ref = masks()
    if facts.input == "map":  # a score of probability maps, pooled over the valid pixels
        valid = np.ones_like(ref)
        perfect = float(metric(ref.astype(np.float32), ref, valid))
        shifted = float(metric(pred.astype(np.float32) * 0.6 + ref * 0.2, ref, valid))
        assert math.isfinite(perfect) and math.isfinite(shifted)
        assert (perfect > shifted) if facts.higher_is_better else (perfect < shifted)
        return
    assert facts.level in ("pair", "patient")
    perfect, shifted = float(metric(ref, ref, (1.0, 1.0, 1.0))), float(metric(pred, ref, (1.0, 1.0, 1.0)))
    assert math.isfinite(perfect) and math.isfinite(shifted)
    assert (perfect > shifted) if facts.higher_is_better else (perfect < shifted)
    if facts.level == "pair":
        items = [float(metric(pred[i], ref[i], (1.0, 1.0))) for i in range(len(pred))]
        assert np.allclose(metric.batch(pred, ref, (1.0, 1.0)), items)


# -- every kind -----------------------------------------------------------------------------------------------------
#: arguments a factory of each kind is called with here (the engine's, at a tiny size)
EXAMPLE_ARGUMENTS = {
    "generator": ((CHANNELS, CHANNELS + 1, SIZE), {"width": 0.0625}),
    "discriminator": ((CHANNELS,), {"width": 0.0625}),
}


def example(kind: str, name: str):
    """A component of ``kind`` made as the engine makes it (models and datasets are checked as factories)."""
    if kind == "metric":
        return create_metric(REGISTRY, name)
    args, kwargs = EXAMPLE_ARGUMENTS.get(kind, ((), {}))
    return REGISTRY.create(kind, name, *args, **kwargs)


@pytest.mark.parametrize("kind,name", [(k, n) for k in KINDS for n in REGISTRY.names(k)])
def test_every_registered_component_meets_its_kinds_contract(kind, name):
    contract, entry = KINDS[kind], REGISTRY.get(kind, name)
    assert contract.factory_problems(entry.spec.factory) == []
    if kind in ("model", "dataset"):  # the factory is the component's class or reader; built by other tests
        return
    try:
        component = example(kind, name)
    except UserError as exc:  # a logger of an optional extra that is not installed says so
        pytest.skip(str(exc))
    assert contract.component_problems(component) == []
    assert entry.spec.summary, f"{kind} '{name}' has no description"


def test_every_kind_has_a_documented_hook_and_every_hook_a_kind():
    specs = {name for name in vars(hookspecs) if name.startswith("register_")}
    assert {kind.hook for kind in KINDS.values()} | {"register_commands"} == specs
    for kind in KINDS.values():
        assert getattr(hookspecs, kind.hook).__doc__, kind.hook


class Nothing:
    """A component that states nothing."""

    name = "nothing"

    def __call__(self, *args, **kwargs):
        return self


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("loss-term",)])
def test_a_component_that_states_nothing_is_refused_naming_its_plugin(kind):
    class Plugin:
        pass

    setattr(Plugin, KINDS[kind].hook, staticmethod(hookimpl(lambda: [Spec("nothing", Nothing)])))
    registry = Registry.from_plugins(Plugin)
    if KINDS[kind].factory_problems(Nothing):  # known from the factory: left out when the registry is built
        (broken,) = registry.broken
        assert f"{kind} 'nothing' does not meet the {kind} contract" in broken.error
        assert "nothing" not in registry.names(kind)
        return
    with pytest.raises(ContractError, match=f"{kind} 'nothing' from plugin .* does not meet the {kind} contract"):
        registry.create(kind, "nothing")
