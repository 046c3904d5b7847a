"""From defaults, a preset, a TOML file and command-line options to one checked :class:`RunConfig`.

Resolution order, later wins: the dataclass defaults < the preset
(``quick`` or ``paper``) < a TOML config file (``--config``) < command-line
options. The device is resolved here, once: a resolved config names the
device actually used, and it is written into the run directory as
``config.toml``, so ``pathogan-bench run --config RUN_DIR/config.toml``
repeats the run.
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, cast, get_type_hints

from ..errors import UserError
from ..utils.device import resolve_device
from .checks import check_config
from .option import parameter_name
from .presets import PRESETS
from .schema import EvalConfig, RunConfig, command_line_options

#: keys renamed since earlier versions: (table, old) -> new; old run directories still load
RENAMED_KEYS = {("data", "split"): "split_fractions"}


def resolve_preset(name: str, device: str) -> str:
    if name == "auto":
        return "quick" if device == "cpu" else "paper"
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}'; choose one of: auto, {', '.join(PRESETS)}")
    return name


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a config file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None


def build_config(
    file_values: Mapping[str, Any] | None = None, cli_values: Mapping[str, Any] | None = None, source: str = "config"
) -> RunConfig:
    """Merge defaults < preset < file < command line into a checked :class:`RunConfig` with its device resolved."""
    file_values = _renamed(dict(file_values or {}))
    cli_values = dict(cli_values or {})
    user = _merge(file_values, cli_values)
    device = resolve_device(str(user.get("device", "auto")))
    preset = resolve_preset(str(user.get("preset", "auto")), device)
    merged = _merge(_merge(PRESETS[preset], file_values), cli_values)
    merged["preset"] = preset
    merged["device"] = device
    config = from_dict(RunConfig, merged, source)
    check_config(config, source)
    return config


def resolve_config(config_file: Path | None = None, **options: Any) -> RunConfig:
    """The run config from an optional TOML file and the command line's option values (None = not given)."""
    file_values = load_toml(config_file) if config_file else {}
    return build_config(
        file_values, overrides_from_options(**options), source=str(config_file) if config_file else "command line"
    )


def _renamed(values: dict[str, Any]) -> dict[str, Any]:
    for (table, old), new in RENAMED_KEYS.items():
        section = values.get(table)
        if isinstance(section, dict) and old in section and new not in section:
            values[table] = {**{k: v for k, v in section.items() if k != old}, new: section[old]}
    return values


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("loss", "loss_sets"):
            out[key] = _merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def from_dict(cls: type, values: Mapping[str, Any], source: str = "config") -> Any:
    """Build a (nested) config dataclass, rejecting unknown keys and wrong types."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(
            f"{source}: unknown key(s) {', '.join(unknown)} in {cls.__name__}; known: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise UserError(f"{source}: [{name}] must be a table")
            kwargs[name] = from_dict(cast(type, hint), value, source)
        else:
            kwargs[name] = _coerce(value, hint, f"{source}: {name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = getattr(hint, "__origin__", hint)
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (int, float, str, bool):
        if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
            raise UserError(f"{where}: expected {origin.__name__}, got {value!r}")
        return value
    if origin is list and not isinstance(value, list):
        raise UserError(f"{where}: expected a list, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise UserError(f"{where}: expected a table, got {value!r}")
    return value


# -- command-line values -----------------------------------------------------------------------------------------------
def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (numbers, lists, booleans)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--model-option {text}: expected KEY=VALUE, e.g. --model-option width=0.25")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = {"true": True, "false": False}.get(raw.lower(), raw)
    if isinstance(value, str):
        try:
            value = float(value)  # nan, inf: numbers that are not Python literals
        except ValueError:
            pass
    return key.strip(), value


def parse_loss_override(text: str) -> tuple[str, float]:
    """``NAME=WEIGHT`` from the command line."""
    name, sep, weight = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"--loss {text}: expected NAME=WEIGHT, e.g. --loss relevancy=0.2")
    try:
        return name.strip(), float(weight)
    except ValueError:
        raise UserError(f"--loss {text}: weight '{weight}' is not a number") from None


def overrides_from_options(**options: Any) -> dict[str, Any]:
    """The config values the user gave on the command line (an option's None = not given)."""
    values: dict[str, Any] = {}

    def put(table: str, key: str, value: Any) -> None:
        (values.setdefault(table, {}) if table else values)[key] = value

    for table, key, option in command_line_options():
        value = options.get(parameter_name(option.flag))
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if option.kind == "flag" and "/" not in option.flag and not value:
            continue  # a plain flag sets its value only when given
        put(table, key, str(value) if isinstance(value, Path) else (list(value) if isinstance(value, tuple) else value))
    if options.get("loss"):
        values["loss"] = dict(parse_loss_override(t) for t in options["loss"])
    if options.get("without"):
        values["without"] = list(options["without"])
    if options.get("model_option"):
        values["model_options"] = dict(parse_option(t) for t in options["model_option"])
    if options.get("loggers") in (["none"], ("none",)):
        put("train", "loggers", [])
    if options.get("compile_mode"):
        put("train", "compile", True)
    return values


def load_eval_table(path: Path) -> EvalConfig:
    """The ``[eval]`` table of a run's config.toml over the schema's defaults (all defaults when the run has no
    config.toml); keys this version does not know are left out, a malformed file is a :class:`UserError`."""
    if not path.is_file():
        return EvalConfig()
    table = load_toml(path).get("eval", {})
    known = {f.name for f in fields(EvalConfig)}
    values = {k: v for k, v in table.items() if k in known}
    return cast(EvalConfig, from_dict(EvalConfig, values, str(path)))
