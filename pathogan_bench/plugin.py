"""Everything a plugin author needs, in one import.

    from pathogan_bench.plugin import hookimpl, Spec, SegmentationModel, ModelContext

A plugin module implements hooks of :mod:`pathogan_bench.hookspecs` and is
declared in its package's ``pyproject.toml``::

    [project.entry-points.pathogan_bench]
    my_plugin = "my_package.plugin"

A loss term (the most common extension; see ``plugins/tv-example``): a
function of PathoGAN's forward pass, a ``TranslationStep``
(``pathogan_bench_plugins.models.pathogan``)::

    def total_variation():
        def term(step: TranslationStep) -> torch.Tensor:
            l = step.l_b
            return (l[..., 1:, :] - l[..., :-1, :]).abs().mean() + (l[..., 1:] - l[..., :-1]).abs().mean()
        return term

    @hookimpl
    def register_loss_terms():
        return [Spec("tv", total_variation, "total variation of the segmentation l_B")]

A model: a :class:`SegmentationModel` subclass whose class attributes state
its name and supervision kind, created as ``Model(ctx, **model_options)``
(docs/PLUGINS.md has the shortest one that trains)::

    class Blob(SegmentationModel):
        "Segments bright FLAIR blobs."
        name = "blob"
        supervision = "none"
        trainable = False

        def __init__(self, ctx: ModelContext, level: float = 0.5):
            super().__init__(ctx)
            self.level = level

        def segment(self, images):
            return (images[:, 0] > self.level).float()

    @hookimpl
    def register_models():
        return [Blob]

A dataset: a factory ``(root, modalities=None, **options) -> CaseCollection``;
a new naming scheme builds its :class:`Case` objects itself::

    def my_scans(root, modalities=None, **options):
        cases = [Case(folder.name, {"flair": folder / "flair.nii.gz", "t1c": folder / "t1c.nii.gz"},
                      label=folder / "seg.nii.gz") for folder in sorted(Path(root).iterdir())]
        return CaseCollection(Path(root), cases, ("flair", "t1c"), scheme="my-scans")

    @hookimpl
    def register_datasets():
        return [Spec("my-scans", my_scans)]

A metric: a factory ``(empty="default") -> MetricLike``: an object with a
``name``, a ``level`` ("pair" or "patient") and ``__call__(pred, ref,
spacing) -> float`` (a ``batch`` method is used when present)::

    @dataclass(frozen=True)
    class Sensitivity:
        name: str = "sensitivity"
        level: str = "pair"

        def __call__(self, pred, ref, spacing=None):
            return float((pred & ref).sum() / ref.sum()) if ref.any() else float("nan")

    @hookimpl
    def register_metrics():
        return [Spec("sensitivity", lambda empty="default": Sensitivity(), tags={"higher_is_better": "true"})]

A command: a click command; :func:`load_trained_model` and
:func:`prepare_data` give it a run's model and data, :func:`save_nifti`
writes results::

    @click.command("volume")
    @click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
    def volume_command(run_dir):
        "Print the model's parameter count."
        model, config, info = load_trained_model(run_dir, "cpu")
        click.echo(sum(p.numel() for p in model.parameters()))

    @hookimpl
    def register_commands():
        return [volume_command]
"""

from __future__ import annotations

from .data.cases import Case, CaseCollection
from .data.schemes import collect, detect_scheme
from .data.slices import BACKGROUND, BRAIN_MARGIN, HEALTHY, MINOR, PATHOLOGICAL, UNLABELLED
from .engine.prepare import PreparedData, prepare_data
from .engine.reload import load_trained_model
from .errors import ModelOptionsError, UserError
from .hookspecs import hookimpl
from .io import save_nifti
from .loss_sets import LossTerm
from .metrics import Metric
from .metrics.registered import MetricLike
from .model import (
    ModelContext,
    SegmentationModel,
    Supervision,
    config_from_options,
    guarded_step,
    linear_decay_schedule,
    make_adam,
)
from .registry import get_registry
from .samples import save_sample_grid
from .spec import Spec

__all__ = [
    "BACKGROUND",
    "BRAIN_MARGIN",
    "HEALTHY",
    "MINOR",
    "PATHOLOGICAL",
    "UNLABELLED",
    "Case",
    "CaseCollection",
    "LossTerm",
    "Metric",
    "MetricLike",
    "ModelContext",
    "ModelOptionsError",
    "PreparedData",
    "SegmentationModel",
    "Spec",
    "Supervision",
    "UserError",
    "collect",
    "config_from_options",
    "detect_scheme",
    "get_registry",
    "guarded_step",
    "hookimpl",
    "linear_decay_schedule",
    "load_trained_model",
    "make_adam",
    "prepare_data",
    "save_nifti",
    "save_sample_grid",
]
