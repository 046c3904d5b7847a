"""A run configuration as plain tables and as config.toml."""

from __future__ import annotations

import dataclasses
from typing import Any

import tomli_w

from .schema import RunConfig


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_table(config: RunConfig) -> dict[str, Any]:
    """The config as nested tables, as config.toml holds them."""
    return dict(_drop_none(to_dict(config)))


def to_toml(config: RunConfig) -> str:
    header = (
        "# pathogan-bench resolved run configuration\n# repeat this run: pathogan-bench run --config config.toml\n\n"
    )
    return header + tomli_w.dumps(to_table(config))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
