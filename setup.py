"""Package discovery (everything else is in pyproject.toml): the core and every package under plugins/, which is
installed as ``pathogan_bench_plugins``."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["pathogan_bench", "pathogan_bench.*"]),
        "pathogan_bench_plugins",
        *(f"pathogan_bench_plugins.{name}" for name in find_packages(where="plugins")),
    ]
)
