"""One typed configuration per run: the schema, the presets and how a config is resolved."""

from .resolve import (build_config, from_dict, load_toml, overrides_from_options, parse_loss_override, parse_option,
                      resolve_config, resolve_preset)
from .schema import PRESETS, DataConfig, EvalConfig, RunConfig, TrainConfig, to_dict, to_toml

__all__ = [
    "PRESETS", "DataConfig", "EvalConfig", "RunConfig", "TrainConfig", "build_config", "from_dict", "load_toml",
    "overrides_from_options", "parse_loss_override", "parse_option", "resolve_config", "resolve_preset", "to_dict",
    "to_toml",
]
