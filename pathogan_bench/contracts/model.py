"""What the engine expects of a model plugin, and what every model inherits.

A model is a :class:`SegmentationModel` subclass. Its class attributes state,
once, its registry ``name``, its ``supervision`` and its options dataclass
(``config_class``); the engine creates it as ``Model(ctx, **options)`` with a
:class:`ModelContext` and the run's ``[model_options]``. The base class parses
and checks the options into ``self.config``, keeps ``self.ctx``, places the
model on the run's device before its first optimizer is made
(:meth:`SegmentationModel.add_optimizer`), and checkpoints every optimizer and
schedule it made. The engine owns the loop (batching, augmentation, progress,
logging, checkpoints, resume, evaluation); the model owns one optimisation
step (:meth:`~SegmentationModel.train_step`) and inference
(:meth:`~SegmentationModel.segment`).

Batches depend on the model's ``supervision``; the engine builds them from
the data, so a weakly supervised model cannot receive a mask:

- ``"weak"`` and ``"none"``: ``{"x_a": healthy (B,C,H,W), "x_b": pathological (B,C,H,W)}``
- ``"healthy"``: ``{"x_a": healthy (B,C,H,W)}``, never a pathological image
- ``"full"``: ``{"image": (B,C,H,W), "mask": (B,1,H,W) float in {0, 1}}``

Images are float32 in [-1, 1] on ``ctx.device``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar

import torch
from torch import nn

from ..errors import ModelOptionsError, UserError
from ..utils.optim import guarded_step, linear_decay_schedule, make_adam
from .loss import WeightedTerm

Config = TypeVar("Config")
Supervision = Literal["weak", "full", "healthy", "none"]
SUPERVISION_KINDS: tuple[str, ...] = ("weak", "full", "healthy", "none")


#: the widest network any model builds: width multiplies channels, so parameters grow with its square
MAX_WIDTH = 4.0


def config_from_options(config_class: type[Config], options: dict[str, Any], model: str) -> Config:
    """A model's config dataclass from the run's ``[model_options]``.

    Unknown names, and values that the class's ``check(self) -> None`` rejects
    with ValueError, raise :class:`ModelOptionsError` naming the model.
    """
    known = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    _refuse_unknown(model, options, known)
    width = options.get("width")
    if isinstance(width, (int, float)) and not isinstance(width, bool) and width > MAX_WIDTH:
        raise ModelOptionsError(
            f"model '{model}' option width = {width!r}: expected at most {MAX_WIDTH:g} (the paper's networks are "
            "width 1; wider ones outgrow one machine's memory)"
        )
    config = config_class(**options)
    check = getattr(config, "check", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            raise ModelOptionsError(f"model '{model}' option {exc}") from None
    return config


def _refuse_unknown(model: str, options: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        close = sorted({m for name in unknown for m in difflib.get_close_matches(name, known, n=2)})
        hint = f"did you mean {', '.join(close)}? " if close else ""
        listed = ", ".join(sorted(known)) or "none"
        raise ModelOptionsError(f"unknown {model} option(s) {', '.join(unknown)}; {hint}known: {listed}")


@dataclass(frozen=True)
class ModelContext:
    """Everything a model needs to know about the run it is created for."""

    in_channels: int
    image_size: int
    modalities: tuple[str, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: optimisation steps the run will take (for learning-rate schedules)
    total_steps: int = 1000
    #: the resolved loss set: ordered (name, weight, term) triples
    loss_terms: tuple[WeightedTerm, ...] = ()
    loss_set: str = ""
    batch_size: int = 4
    #: bf16 autocast on CUDA
    amp: bool = False
    channels_last: bool = False
    deterministic: bool = False
    #: the registry, to create generators and discriminators by name
    registry: Any = None

    def create(self, kind: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Create a registered component (a generator, a discriminator, ...) by name, from the run's registry."""
        return self._registry(kind, name).create(kind, name, *args, **kwargs)

    def factory(self, kind: str, name: str) -> Any:
        """The factory a registered component is created with (to check it before building anything)."""
        return self._registry(kind, name).get(kind, name).spec.factory

    def _registry(self, kind: str, name: str) -> Any:
        if self.registry is None:
            raise UserError(f"cannot create {kind} '{name}': this ModelContext was made without the run's registry")
        return self.registry


@dataclass(frozen=True)
class ReferenceSchedule:
    """How long the method's own paper trains it: ``steps``, or ``epochs`` over the larger training domain (turned
    into steps with the run's data), and where the figure comes from."""

    source: str
    steps: int | None = None
    epochs: float | None = None

    def steps_for(self, epoch_steps: int) -> int | None:
        if self.steps is not None:
            return self.steps
        return None if self.epochs is None else round(self.epochs * epoch_steps)


class SegmentationModel(nn.Module):
    """Base class of model plugins.

    A subclass states its ``name``, ``supervision`` and (optionally) its
    options dataclass ``config_class`` as class attributes, calls
    ``super().__init__(ctx, **options)`` first (which sets ``self.ctx`` and
    ``self.config``), builds its networks, then makes its optimizers with
    :meth:`add_optimizer` and steps them in :meth:`train_step` with
    :meth:`update`.

    Every tensor that affects training (network weights, image pools, running
    statistics) must live in parameters or buffers so that ``state_dict``
    captures it; optimizers and schedules made by :meth:`add_optimizer` are
    checkpointed by the engine. Checkpoints hold tensors and plain data only.
    """

    #: the registry name (stated once: the plugin hook registers the class under it)
    name: ClassVar[str] = ""
    #: which batches the engine gives the model (see the module docstring)
    supervision: ClassVar[Supervision] = "weak"
    #: False for models fitted by :meth:`calibrate` alone (no training steps)
    trainable: ClassVar[bool] = True
    #: whether training optimises the run's loss set (``ctx.loss_terms``); reports show "-" otherwise
    uses_loss_set: ClassVar[bool] = False
    #: the model's options dataclass (``self.config``); None: the constructor's own keyword arguments
    config_class: ClassVar[type | None] = None
    #: model options a preset adds for this model, e.g. {"quick": {"sampling_steps": 10}}; the user's win
    preset_options: ClassVar[dict[str, dict[str, Any]]] = {}
    #: how long the method's paper trains it (None: unknown); a run far shorter says its scores measure its budget
    reference_schedule: ClassVar[ReferenceSchedule | None] = None
    #: probability above which a pixel is labelled pathological
    threshold: float = 0.5
    #: how the run fits :attr:`threshold` after :meth:`calibrate`: "" keeps it, or the name of a registered threshold
    #: policy fitted on the validation patients' maps (e.g. "slice-labels": their slice labels only)
    threshold_rule: str = ""

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        self.ctx = ctx
        if self.config_class is not None:
            self.config: Any = config_from_options(self.config_class, options, self.name or type(self).__name__)
        elif options:
            _refuse_unknown(self.name or type(self).__name__, options, set())
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._schedulers: dict[str, Any] = {}
        self._placed = False

    # -- optimisation -------------------------------------------------------------------------------------------------
    def add_optimizer(
        self,
        name: str,
        params: Iterable[nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.5, 0.999),
        decay_start: float | None = None,
    ) -> torch.optim.Adam:
        """Adam (fused) over ``params``, checkpointed as ``name``; with ``decay_start`` (a fraction of the run's
        steps) the rate is constant, then decays linearly to zero (:func:`linear_decay_schedule`).

        The model is moved to the run's device (channels-last when the run asks for it) before the first
        optimizer is made, so build every network before calling this.
        """
        self._place()
        optimizer = make_adam(params, lr, betas)
        self._optimizers[name] = optimizer
        if decay_start is not None:
            self._schedulers[name] = linear_decay_schedule(optimizer, self.ctx.total_steps, decay_start)
        return optimizer

    def update(self, name: str, loss: torch.Tensor, advance_schedule: bool = True) -> torch.Tensor:
        """One update of optimizer ``name`` from ``loss``: gradients cleared, back-propagated, applied only if
        finite (:func:`guarded_step`), the schedule advanced (a model that updates an optimizer several times in
        one training step advances its schedule on one of them only). Returns the 0-d bool tensor ``applied``."""
        optimizer = self._optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        applied = guarded_step(optimizer, loss)
        schedule = self._schedulers.get(name)
        if schedule is not None and advance_schedule:
            schedule.step()
        return applied

    def _place(self) -> None:
        if self._placed:
            return
        self.to(self.ctx.device)
        if self.ctx.channels_last:
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack this form
        self._placed = True

    def networks_to_compile(self) -> dict[str, nn.Module]:
        """The networks whose forward ``--compile`` wraps in torch.compile, by name: every child module holding
        trainable parameters. A model whose training calls parts of a network (an encoder and a decoder, not the
        network's own forward) names those parts instead."""
        return {
            name: child for name, child in self.named_children() if any(p.requires_grad for p in child.parameters())
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._optimizers)

    def schedulers(self) -> dict[str, Any]:
        return dict(self._schedulers)

    # -- what a model implements ----------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Run one optimisation step and return detached scalar losses.

        Must not synchronise with the host (no ``.item()``), and must not
        apply an update whose loss is non-finite: use :meth:`update` (or
        :func:`guarded_step`). The returned dict maps log names (e.g.
        ``"G/cycle"``) to 0-d tensors.
        """
        raise NotImplementedError

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Pathology probability maps (B,H,W) in [0, 1] for images (B,C,H,W)."""
        raise NotImplementedError

    def calibrate(self, healthy: torch.Tensor) -> None:
        """Called after training with healthy validation images (no masks).

        Models whose decision rule needs fitting without pixel labels (a
        threshold on a difference image, say) fit it here.
        """

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Optional: images produced while segmenting (e.g. ``inpainting``,
        ``translated``), each (B,C,H,W), for figures and ``segment``."""
        return {}

    @torch.no_grad()
    def segment_and_translate(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`segment` and :meth:`translate` of the same images; override to share one forward pass."""
        return self.segment(images), self.translate(images)

    @torch.no_grad()
    def slice_scores(self, images: torch.Tensor) -> torch.Tensor | None:
        """Optional: how pathological each of (B,C,H,W) images is as a whole, (B,) (a slice classifier's
        probability); the engine reports their AUROC against the slices' labels. None: the model scores no slice."""
        return None

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Optional: named images (B,C,H,W) or maps (B,1,H,W) for a sample grid."""
        return {}

    @classmethod
    def option_names(cls) -> set[str] | None:
        """The options the model takes: its config's fields, or its constructor's keywords (None: any)."""
        if cls.config_class is not None:
            return {f.name for f in fields(cls.config_class)}
        parameters = inspect.signature(cls.__init__).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return None
        return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self", "ctx"}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Raise :class:`ModelOptionsError` for options the model would reject (called before any data is read)."""
        name = cls.name or cls.__name__
        if cls.config_class is not None:
            config_from_options(cls.config_class, options, name)
            return
        known = cls.option_names()
        if known is not None:
            _refuse_unknown(name, options, known)

    def notes(self) -> list[str]:
        """Optional: what the run's report and console should say of this training (e.g. a collapse the model
        detected), one sentence each."""
        return []

    def extra_state(self) -> dict[str, Any]:
        """Plain data (numbers, strings) to keep in checkpoints, e.g. a fitted threshold."""
        return {"threshold": float(self.threshold)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.threshold = float(state.get("threshold", self.threshold))
