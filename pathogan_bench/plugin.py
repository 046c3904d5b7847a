"""Everything a plugin author needs, in one import.

    from pathogan_bench.plugin import hookimpl, Spec, SegmentationModel, ModelContext

A plugin module implements hooks of :mod:`pathogan_bench.contracts.hookspecs`; each kind of component, its hook,
its factory's signature and its contract are listed in :mod:`pathogan_bench.contracts.kinds`. A plugin is a
module declared in its package's ``pyproject.toml``::

    [project.entry-points.pathogan_bench]
    my_plugin = "my_package.plugin"

or a file (or a folder with an ``__init__.py``) in a folder given to ``--plugins-dir``. A module may list more
plugin modules in ``plugin_modules`` (:func:`plugin_modules_in` lists a package's), each registered as a plugin of
its own: that is how the built-in plugins are found. docs/PLUGINS.md has a complete file for each kind.

A model: a :class:`SegmentationModel` subclass whose class attributes state its name and supervision kind,
created as ``Model(ctx, **model_options)``::

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

A data layout: a :class:`Layout` whose ``scan(root)`` finds the cases; ``--dataset auto`` picks it when it finds
the most cases in a folder::

    class MyScans(Layout):
        "One folder per patient: flair.nii.gz, t1c.nii.gz, seg.nii.gz."
        name = "my-scans"

        def scan(self, root):
            return [Case(f.name, {"flair": f / "flair.nii.gz", "t1c": f / "t1c.nii.gz"}, label=f / "seg.nii.gz")
                    for f in sorted(root.iterdir()) if (f / "flair.nii.gz").is_file()]

    @hookimpl
    def register_datasets():
        return [MyScans()]

A metric: a factory ``(empty="default")`` returning a metric that states its facts (:class:`PairScore` and
:class:`MapScore` make one from a function)::

    sensitivity = PairScore("sensitivity", lambda pred, ref, spacing: (pred & ref).sum() / max(ref.sum(), 1),
                            label="Sensitivity", unit="ratio", higher_is_better=True)

    @hookimpl
    def register_metrics():
        return [Spec("sensitivity", lambda empty="default": sensitivity)]

A threshold policy: a factory ``(argument)`` for ``NAME:ARGUMENT`` (``()`` for ``NAME``) returning an object with
``label``, ``optimistic``, ``needs_calibration``, ``looks_at(data)`` and ``thresholds(data)``
(:class:`PolicyData`); a post-processing step likewise, with ``stage``, ``label`` and ``step(array, volume)``.

A command: a click command; :func:`load_trained_model` and :func:`prepare_data` give it a run's model and data,
:func:`save_nifti` writes results::

    @click.command("volume")
    @click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
    def volume_command(run_dir):
        "Print the model's parameter count."
        model, config, facts = load_trained_model(run_dir, "cpu")
        click.echo(sum(p.numel() for p in model.parameters()))

    @hookimpl
    def register_commands():
        return [volume_command]
"""

from __future__ import annotations

from .config.ranges import SAMPLES, SEED, Range
from .contracts.dataset import DatasetReader
from .contracts.hookspecs import hookimpl
from .contracts.logger import LoggerContext, RunLogger
from .contracts.loss import LossTerm
from .contracts.metric import MapMetric, MaskMetric, MetricFacts
from .contracts.model import ModelContext, ReferenceSchedule, SegmentationModel, Supervision, config_from_options
from .contracts.postprocess import PostprocessStep
from .contracts.postprocess import Volume as PostprocessVolume
from .contracts.spec import Spec
from .contracts.threshold_policy import MapSet, PolicyData, ThresholdPolicy
from .data.cases import Case, CaseCollection
from .data.layout import Layout, NamedFilesLayout
from .data.slices import BACKGROUND, BRAIN_MARGIN, HEALTHY, MINOR, PATHOLOGICAL, UNLABELLED
from .engine.prepare import PreparedData, prepare_data
from .engine.reload import load_trained_model
from .engine.rundir import refuse_foreign_run_dir
from .errors import ModelOptionsError, UserError
from .figures.samples import save_sample_grid
from .metrics import MapScore, Metric, PairScore, threshold_free
from .metrics.lesionwise import label_components
from .record.facts import RunFacts
from .registry import get_registry, plugin_modules_in
from .utils.io import save_nifti
from .utils.optim import guarded_step, linear_decay_schedule, make_adam

__all__ = [
    "BACKGROUND",
    "BRAIN_MARGIN",
    "HEALTHY",
    "MINOR",
    "PATHOLOGICAL",
    "UNLABELLED",
    "Case",
    "CaseCollection",
    "DatasetReader",
    "Layout",
    "LoggerContext",
    "LossTerm",
    "MapMetric",
    "MapScore",
    "MapSet",
    "MaskMetric",
    "Metric",
    "MetricFacts",
    "ModelContext",
    "ModelOptionsError",
    "NamedFilesLayout",
    "PairScore",
    "PolicyData",
    "PostprocessStep",
    "PostprocessVolume",
    "PreparedData",
    "SAMPLES",
    "SEED",
    "Range",
    "RunFacts",
    "ReferenceSchedule",
    "RunLogger",
    "SegmentationModel",
    "Spec",
    "Supervision",
    "ThresholdPolicy",
    "UserError",
    "config_from_options",
    "get_registry",
    "guarded_step",
    "hookimpl",
    "label_components",
    "linear_decay_schedule",
    "load_trained_model",
    "make_adam",
    "plugin_modules_in",
    "prepare_data",
    "refuse_foreign_run_dir",
    "save_nifti",
    "save_sample_grid",
    "threshold_free",
]
