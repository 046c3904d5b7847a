"""Everything a plugin author needs, in one import.

    from pathogan_bench.plugin import hookimpl, Spec, SegmentationModel, ModelContext

A plugin module implements hooks of :mod:`pathogan_bench.hookspecs` and is
declared in its package's ``pyproject.toml``::

    [project.entry-points.pathogan_bench]
    my_plugin = "my_package.plugin"

A loss term (the most common extension; see ``plugins/tv-example``)::

    def total_variation():
        def term(step: TranslationStep) -> torch.Tensor:
            l = step.l_b
            return (l[..., 1:, :] - l[..., :-1, :]).abs().mean() + (l[..., 1:] - l[..., :-1]).abs().mean()
        return term

    @hookimpl
    def register_loss_terms():
        return [Spec("tv", total_variation, "total variation of the segmentation l_B")]

A model: a :class:`SegmentationModel` subclass whose class attributes state
its supervision kind, created as ``Model(ctx, **model_options)``::

    class Blob(SegmentationModel):
        "Segments bright FLAIR blobs."
        name = "blob"
        supervision = "none"
        trainable = False

        def __init__(self, ctx: ModelContext, level: float = 0.5):
            super().__init__()
            self.level = level

        def segment(self, images):
            return (images[:, 0] > self.level).float()

    @hookimpl
    def register_models():
        return [Spec("blob", Blob)]

A dataset: a factory ``(root, modalities=None, **options) -> CaseCollection``,
usually :func:`collect` with a naming scheme. A metric: a factory
``(empty="default") -> MetricLike`` such as a :class:`Metric`, or any object
with ``name``, ``level`` ("pair" or "patient") and ``__call__(pred, ref,
spacing)``. A command: a click command returned by ``register_commands``;
:func:`load_trained_model`, :func:`prepare_data` and :func:`save_nifti`
give it a run's model and data.
"""

from __future__ import annotations

from .data.cases import Case, CaseCollection, collect, detect_scheme
from .engine.prepare import PreparedData, prepare_data
from .engine.reload import load_trained_model
from .errors import UserError
from .hookspecs import hookimpl
from .io import save_nifti
from .losses import LossTerm, TranslationStep
from .metrics import Metric
from .metrics.registered import MetricLike
from .model import (ModelContext, SegmentationModel, Supervision, config_from_options, guarded_step,
                    linear_decay_schedule, make_adam)
from .registry import Spec, get_registry

__all__ = [
    "Case", "CaseCollection", "LossTerm", "Metric", "MetricLike", "ModelContext", "PreparedData", "SegmentationModel",
    "Spec", "Supervision", "TranslationStep", "UserError", "collect", "config_from_options", "detect_scheme",
    "get_registry", "guarded_step", "hookimpl", "linear_decay_schedule", "load_trained_model", "make_adam",
    "prepare_data", "save_nifti",
]
