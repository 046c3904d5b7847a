"""The hooks through which every component of pathogan-bench is registered.

A plugin is any module or object with functions marked ``@hookimpl`` whose
names match the specifications below. Plugins are found through the
``pathogan_bench`` entry-point group: the built-in ones in ``plugins/`` are
declared in this project's ``pyproject.toml`` exactly as a third-party package
declares its own::

    [project.entry-points.pathogan_bench]
    my_terms = "my_package.plugin"

Each ``register_*`` hook is called once, when the registry is first built
(the first time a command needs a component). It receives nothing and returns
a list of :class:`pathogan_bench.registry.Spec`, one per component, or
``None``. A spec couples a registry name with a factory (a class or function
called with keyword arguments to create the component) and a one-line
description (default: the first line of the factory's docstring). Names are
unique per kind: two plugins registering the same name is an error naming
both.

What a factory is called with, and what the component it returns must do, is
written under each hook.
"""

from __future__ import annotations

import pluggy

PROJECT = "pathogan_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models():
    """Register segmentation models (PathoGAN and the baselines).

    Factory: ``factory(ctx: pathogan_bench.model.ModelContext, **options)``
    where ``options`` come from the run config's ``[model]`` table.
    Returns an object following :class:`pathogan_bench.model.SegmentationModel`:
    a ``supervision`` attribute ("weak", "full" or "none") that decides which
    batches the engine gives it, ``train_step``, ``segment`` and state methods.
    """


@hookspec
def register_generators():
    """Register image-to-image generator networks.

    Factory: ``factory(in_channels: int, out_channels: int, image_size: int,
    width: float = 1.0, **options) -> torch.nn.Module``. Models look these up
    by name so that a user can swap in another network.
    """


@hookspec
def register_discriminators():
    """Register discriminator networks.

    Factory: ``factory(in_channels: int, width: float = 1.0, **options) ->
    torch.nn.Module`` returning a map of realness scores.
    """


@hookspec
def register_loss_terms():
    """Register loss terms.

    Factory: ``factory(**options)`` returning a callable
    ``term(step) -> torch.Tensor`` that reads the named tensors of one
    training step's forward pass (for PathoGAN a
    :class:`pathogan_bench_plugins.pathogan.PathoGANStep`) and returns an
    unweighted scalar. The model multiplies it by the weight from the loss set
    and logs each term separately.
    """


@hookspec
def register_loss_sets():
    """Register named objectives: ordered lists of (loss-term name, weight).

    Factory: ``factory() -> list[tuple[str, float]]``. Users override weights
    with ``--loss NAME=WEIGHT``, drop terms with ``--without NAME`` and add
    sets in a config file's ``[loss_sets]`` table.
    """


@hookspec
def register_datasets():
    """Register dataset readers.

    Factory: ``factory(root: pathlib.Path | None, modalities: list[str] |
    None = None, **options)`` returning a
    :class:`pathogan_bench.data.cases.CaseCollection` of patient cases, each
    able to load its modality volumes (and its label volume, if any).
    """


@hookspec
def register_metrics():
    """Register segmentation metrics.

    Factory: ``factory(**options)`` returning a
    :class:`pathogan_bench.metrics.Metric`: called with boolean prediction
    and reference arrays (one slice, one volume or a batch of slices) and a
    voxel spacing, returning a float per item.
    """
