"""The built-in models, one folder each: ``model.py`` (the model and its options dataclass), the plugin hooks
in the folder's ``__init__.py``, and whatever else only that model uses (PathoGAN's loss terms, networks and
command; AnoDDPM's simplex noise). Pieces several models use are in :mod:`pathogan_bench_plugins.shared`.
"""
