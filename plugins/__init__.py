"""The built-in plugins, installed as ``pathogan_bench_plugins`` and declared in the ``pathogan_bench`` entry-point
group exactly as a third-party package declares its own. This module is a plugin bundle: each module it lists in
``plugin_modules`` is registered as a plugin of its own, so one that fails to import leaves the others working.

- ``models/<name>/``: one folder per model, found without any declaration: a new folder (or file) there is a new
  model plugin;
- ``shared/``: pieces several models use (GAN losses and image pool, layers and the ``resnet9`` / ``patchgan``
  networks, the difference-map decision rule, the diffusion U-Net and schedule);
- ``datasets.py``: the data layouts; ``metrics.py``: the metrics of masks and of probability maps;
  ``threshold_policies.py`` and ``postprocess.py``: the rules that turn maps into masks and the steps applied
  before scoring; ``loggers.py``: the experiment loggers.
"""

from pathogan_bench.registry import plugin_modules_in

plugin_modules = [
    f"{__name__}.{name}"
    for name in ("datasets", "metrics", "threshold_policies", "postprocess", "loggers", "shared.networks")
] + plugin_modules_in(f"{__name__}.models")
