"""One typed configuration per run: the schema, the presets and how a config is resolved.

The names below are imported on first use, so that the command line can read
the schema's choices without loading torch (which resolving a device needs).
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

#: exported name -> the submodule that defines it
_EXPORTS = {
    "build_config": "resolve",
    "from_dict": "resolve",
    "load_toml": "resolve",
    "overrides_from_options": "resolve",
    "parse_loss_override": "resolve",
    "parse_option": "resolve",
    "resolve_config": "resolve",
    "resolve_preset": "resolve",
    "COMPILE_MODES": "schema",
    "PRESETS": "presets",
    "DataConfig": "schema",
    "EvalConfig": "schema",
    "RunConfig": "schema",
    "TrainConfig": "schema",
    "to_dict": "serialise",
    "to_table": "serialise",
    "to_toml": "serialise",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
