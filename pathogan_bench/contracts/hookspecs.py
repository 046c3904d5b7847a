"""Hook specifications: every way a plugin extends pathogan-bench, one hook per kind of component.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose
names match the specifications below; plugin authors import everything they
need from :mod:`pathogan_bench.plugin`. Plugins are found through the
``pathogan_bench`` entry-point group and in the folders of ``--plugins-dir``;
a plugin module may name further plugin modules in ``plugin_modules``. The
built-in ones are one such bundle (``pathogan_bench_plugins``), declared in
this project's ``pyproject.toml`` exactly as a third-party package declares
its own::

    [project.entry-points.pathogan_bench]
    my_terms = "my_package.plugin"

Every ``register_*`` hook is called once per process, when the registry is
first built (the first time a command needs a component), with no arguments.
It returns a list of :class:`~pathogan_bench.contracts.spec.Spec` (a
registry name, a factory and a one-line description, by default the first
line of the factory's docstring) or of classes and callable objects that
state their registry ``name`` (a model class, a dataset layout). Names are
unique per kind. The kinds, their factories' signatures and their contracts
are the table of :mod:`pathogan_bench.contracts.kinds`; what a component
states of itself (a metric's unit, a policy's optimism, a model's
supervision) are typed attributes its contract declares, never tags.

A plugin that fails to import, whose hook raises, that registers a name
another plugin already has, or whose factory falls short of its kind's
contract, is recorded as broken: ``pathogan-bench list`` shows it and why,
the other plugins keep working, and only a command that asks for one of its
components fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .spec import Spec

PROJECT = "pathogan_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Models
# -------------------------------------------------------------------------


@hookspec
def register_models() -> list[Spec] | None:
    """Register segmentation models (PathoGAN and the baselines).

    Called when the registry is built; ``run``, ``compare``, ``segment`` and
    ``list`` look models up by name.

    Returns model classes (:class:`~pathogan_bench.contracts.model.SegmentationModel`
    subclasses, registered under their ``name``) or Specs whose factory is one.

    Factory: ``factory(ctx: ModelContext, **options) -> SegmentationModel``
    where ``options`` is the run config's ``[model_options]`` table
    (``--model-option KEY=VALUE``). The factory is normally the model class;
    its class attributes state, once, the model's ``name``, ``supervision`` ("weak":
    healthy and pathological images; "healthy": healthy images only; "full":
    images with pixel labels; "none": no training), whether it is
    ``trainable`` and whether it ``uses_loss_set``. The engine builds the
    batches from the supervision kind, so a weakly supervised model never
    receives a mask.
    """


@hookspec
def register_generators() -> list[Spec] | None:
    """Register image-to-image generator networks.

    Called when the registry is built; models create them by name (e.g.
    PathoGAN's ``generator_b`` option) so that a user can swap in another
    network.

    Factory: ``factory(in_channels: int, out_channels: int, image_size: int,
    width: float = 1.0, **options) -> torch.nn.Module``.
    """


@hookspec
def register_discriminators() -> list[Spec] | None:
    """Register discriminator networks.

    Called when the registry is built; models create them by name.

    Factory: ``factory(in_channels: int, width: float = 1.0, **options) ->
    torch.nn.Module`` returning a map of realness scores.
    """


# -------------------------------------------------------------------------
# Objectives
# -------------------------------------------------------------------------


@hookspec
def register_loss_terms() -> list[Spec] | None:
    """Register loss terms.

    Called when the registry is built; a model that ``uses_loss_set``
    receives the run's resolved terms in ``ModelContext.loss_terms``.

    Factory: ``factory(**options) -> LossTerm``, a callable
    ``term(step) -> torch.Tensor`` that reads the named tensors of one
    training step's forward pass and returns an unweighted 0-d tensor. The
    step is the loss-set model's own type: PathoGAN's ``TranslationStep``
    (``pathogan_bench_plugins.models.pathogan.step``). The model multiplies it by the weight from the loss set and
    logs each term separately.
    """


@hookspec
def register_loss_sets() -> list[Spec] | None:
    """Register named objectives: ordered lists of (loss-term name, weight).

    Called when the registry is built; ``--loss-set NAME`` picks one.

    Factory: ``factory() -> list[tuple[str, float]]``. Users override weights
    with ``--loss NAME=WEIGHT``, drop terms with ``--without NAME`` and add
    sets in a config file's ``[loss_sets]`` table.
    """


# -------------------------------------------------------------------------
# Data and scores
# -------------------------------------------------------------------------


@hookspec
def register_datasets() -> list[Spec] | None:
    """Register dataset layouts: readers of one folder layout each.

    Called when the registry is built; ``--dataset NAME`` picks one, and
    ``--dataset auto`` (the default) reads a folder with the registered
    layout that finds the most cases in it.

    Returns :class:`~pathogan_bench.data.layout.Layout` objects (registered
    under their ``name``) or Specs of readers. A reader is
    ``reader(root: pathlib.Path | None, modalities: list[str] | None = None,
    **options) -> CaseCollection`` with a method ``count_cases(root) -> int``
    (:class:`~pathogan_bench.contracts.dataset.DatasetReader`); a
    :class:`Layout` implements both from its ``scan(root)``.
    """


@hookspec
def register_metrics() -> list[Spec] | None:
    """Register segmentation metrics.

    Called when the registry is built; the run config's ``[eval] metrics``
    and ``--metrics`` name them, and every name is checked before training.

    Factory: ``factory(empty: str = "default")`` (a factory without an
    ``empty`` parameter is called without it), returning a
    :class:`~pathogan_bench.contracts.metric.MaskMetric` (``input = "mask"``:
    ``metric(pred, ref, spacing) -> float`` for one pair and
    ``metric.batch(pred, ref, spacing)`` for a stack; ``level`` "pair" or
    "patient") or a :class:`~pathogan_bench.contracts.metric.MapMetric`
    (``input = "map"``, ``level = "split"``: ``metric(prob, ref, valid) ->
    float`` over a split's brain pixels). Both state ``label``, ``unit``
    ("ratio" is shown in %, "distance" in mm or px), ``higher_is_better``,
    ``description`` and ``note``; reports and comparisons take their columns
    from these, stored with each run's summary.
    """


@hookspec
def register_threshold_policies() -> list[Spec] | None:
    """Register threshold policies: rules that turn a probability map into a mask.

    Called when the registry is built; the run config's ``[eval] policies``
    and ``--policies`` name them (``NAME`` or ``NAME:ARGUMENT``, e.g.
    ``fpr:1``), and every run scores each one side by side
    (:mod:`pathogan_bench.evaluation.policy_grid`).

    Factory: ``factory(argument: str)`` when the name carries one, else
    ``factory()`` (a ValueError is reported as a bad argument), returning a
    :class:`~pathogan_bench.contracts.threshold_policy.ThresholdPolicy`:
    ``label``, ``optimistic`` (True when it reads the scored patients'
    labels), ``needs_calibration`` (True when it reads the validation
    patients' maps), ``looks_at(data) -> str`` (which data it fitted on) and
    ``thresholds(data) -> float | array`` (one threshold, or one per scored
    slice) given a :class:`~pathogan_bench.contracts.threshold_policy.PolicyData`.
    """


@hookspec
def register_postprocess_steps() -> list[Spec] | None:
    """Register post-processing steps applied per patient volume before scoring.

    Called when the registry is built; ``[eval] postprocess`` and
    ``--postprocess`` compose them by name in order (``NAME`` or
    ``NAME:ARGUMENT``, e.g. ``median:5,min-component:0.1ml``), and runs are
    scored before and after them (:mod:`pathogan_bench.evaluation.policy_grid`).

    Factory: ``factory(argument: str)`` or ``factory()``, returning a
    :class:`~pathogan_bench.contracts.postprocess.PostprocessStep`:
    ``stage`` ("map": on the (Z, H, W) probability map before thresholding;
    "mask": on the boolean mask after), ``label`` and ``step(array, volume)``
    returning an array of the same shape (``volume``: the patient's brain
    mask and voxel spacing).
    """


# -------------------------------------------------------------------------
# Experiment tracking
# -------------------------------------------------------------------------


@hookspec
def register_loggers() -> list[Spec] | None:
    """Register experiment loggers: where a run reports its config, losses, scores and report files.

    Called when the registry is built; ``[train] loggers`` and ``--loggers``
    name the ones a run uses (default: ``tensorboard``, which writes only
    when the package is installed; the built-in ``mlflow`` logger needs the
    ``mlflow`` extra), ``[train] tracking_uri`` / ``--tracking-uri`` where
    they write (:mod:`pathogan_bench.engine.loggers`).

    Factory: ``factory()``, called once when the run is planned (raise
    :class:`~pathogan_bench.errors.UserError` there when a package is
    missing) and once per run, returning a
    :class:`~pathogan_bench.contracts.logger.RunLogger`: ``start(context)`` (a
    :class:`~pathogan_bench.contracts.logger.LoggerContext`: run directory, config,
    tags model / seed / fold / run / study, tracking URI, resuming),
    ``log_losses(step, values)`` per loss window (the columns of
    ``losses.csv``), ``log_scores(scores)`` (flat final scores),
    ``log_artifacts(paths)`` (the report's files) and ``close(status)``.
    Loggers run on the training process (rank 0 only). A logger that
    raises is warned about once and dropped: it never fails the run, so
    bound any network wait it makes.
    """


# -------------------------------------------------------------------------
# Commands
# -------------------------------------------------------------------------


@hookspec
def register_commands() -> list[click.Command] | None:
    """Add commands to the ``pathogan-bench`` command line.

    Called when the command line lists or looks up its commands. Returns
    click commands (or groups); a command's name must not be one the core
    already has. Model-specific commands (PathoGAN's ``sample``) come from
    the plugin that owns the model. A command raises
    :class:`~pathogan_bench.errors.UserError` for bad input.
    """
