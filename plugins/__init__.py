"""The built-in plugins, installed as ``pathogan_bench_plugins`` and registered through the ``pathogan_bench``
entry-point group exactly as a third-party package registers its own.

- ``models/<name>/``: one folder per model (PathoGAN, CycleGAN, MDGRU, U-Net, the FLAIR threshold and the
  diffusion baselines);
- ``shared/``: pieces several models use (GAN losses and image pool, layers and the ``resnet9`` / ``patchgan``
  networks, the difference-map decision rule, the diffusion U-Net and schedule);
- ``datasets.py``: the dataset readers; ``metrics.py``: the metrics of masks and of probability maps;
  ``policies.py``: the threshold policies and post-processing steps; ``loggers.py``: the experiment loggers.
"""
