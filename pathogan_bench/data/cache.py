"""Where preprocessed slices and generated synthetic data are cached."""

from __future__ import annotations

import os
from pathlib import Path

#: environment variable that moves the cache (e.g. to a scratch disk)
CACHE_ENV = "PATHOGAN_BENCH_CACHE"


def default_cache_dir(configured: str | os.PathLike[str] = "") -> Path:
    """``configured`` if given, else ``$PATHOGAN_BENCH_CACHE``, else ``~/.cache/pathogan-bench``."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pathogan-bench"
