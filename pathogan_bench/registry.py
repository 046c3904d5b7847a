"""Components created by name: the registry that plugins fill.

    >>> from pathogan_bench.registry import create
    >>> metric = create("metric", "dice")

Every kind has its own namespace. Plugins are discovered through the
``pathogan_bench`` entry-point group (see :mod:`pathogan_bench.hookspecs`).
A plugin that fails to import (``sys.exit`` included), whose hooks do not
match the specifications, whose hook raises, or that registers a name another
plugin already registered, is recorded as broken: the others still load, and
only asking for one of its components (or a name two plugins claim) fails.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pluggy

from . import hookspecs
from .errors import DuplicateComponentError, UnknownComponentError
from .spec import Spec, as_spec

ENTRY_POINT_GROUP = hookspecs.PROJECT

#: kind name -> hook that registers it
KINDS: dict[str, str] = {
    "model": "register_models",
    "generator": "register_generators",
    "discriminator": "register_discriminators",
    "loss-term": "register_loss_terms",
    "loss-set": "register_loss_sets",
    "dataset": "register_datasets",
    "metric": "register_metrics",
    "threshold-policy": "register_threshold_policies",
    "postprocess": "register_postprocess_steps",
    "logger": "register_loggers",
}


@dataclass(frozen=True)
class Entry:
    """A registered component: its spec and where it came from."""

    kind: str
    spec: Spec
    plugin: str  # plugin name (entry-point name or module name)
    source: str  # "distribution==version" or module path

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class BrokenPlugin:
    plugin: str
    source: str
    error: str


class Registry:
    """All components of all kinds, built from a pluggy plugin manager."""

    def __init__(self, pm: pluggy.PluginManager, broken: Iterable[BrokenPlugin] = ()):
        self.pm = pm
        self.broken: list[BrokenPlugin] = list(broken)
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        #: (kind, name) claimed by two plugins -> the error asking for it raises
        self._conflicts: dict[tuple[str, str], str] = {}
        self._commands: list[tuple[Any, str, str]] | None = None
        self._collect()

    def _impls(self, hook_name: str) -> Iterable[tuple[Any, str, str]]:
        """(hook function, plugin name, source) of every plugin implementing ``hook_name``."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            yield (
                impl.function,
                plugin_name,
                _SOURCES.get(id(impl.plugin)) or cast(str, getattr(impl.plugin, "__name__", plugin_name)),
            )

    def _call(self, function: Any, hook_name: str, plugin: str, source: str) -> list[Any]:
        try:
            result = function() or []
            return list(result)
        except Exception as exc:  # a broken hook must not hide the other plugins
            self.broken.append(BrokenPlugin(plugin, source, f"{hook_name}: {type(exc).__name__}: {exc}"))
            return []

    def _collect(self) -> None:
        for kind, hook_name in KINDS.items():
            for function, plugin_name, source in self._impls(hook_name):
                for item in self._call(function, hook_name, plugin_name, source):
                    spec = as_spec(item)
                    if spec is None:
                        self.broken.append(
                            BrokenPlugin(
                                plugin_name,
                                source,
                                f"{hook_name}: returned {type(item).__name__}, not a Spec or a class with a name",
                            )
                        )
                        continue
                    self._add(Entry(kind, spec, plugin_name, source))

    def _add(self, entry: Entry) -> None:
        table = self._entries[entry.kind]
        key = (entry.kind, entry.name)
        if key in self._conflicts:
            return
        if entry.name in table:
            other = table.pop(entry.name)
            message = (
                f"{entry.kind} '{entry.name}' is registered twice: by plugin "
                f"'{other.plugin}' ({other.source}) and by plugin '{entry.plugin}' ({entry.source}); "
                "uninstall one of them"
            )
            self._conflicts[key] = message
            self.broken.append(BrokenPlugin(entry.plugin, entry.source, message))
            return
        table[entry.name] = entry

    def commands(self) -> list[tuple[Any, str, str]]:
        """(click command, plugin, source) of every command plugins add, built once."""
        if self._commands is None:
            self._commands = []
            for function, plugin_name, source in self._impls("register_commands"):
                for command in self._call(function, "register_commands", plugin_name, source):
                    self._commands.append((command, plugin_name, source))
        return self._commands

    @classmethod
    def from_plugins(cls, *plugins: Any) -> Registry:
        """A registry of just these plugin objects (no entry points): for tests and embedding."""
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for plugin in plugins:
            pm.register(plugin)
        return cls(pm)

    def names(self, kind: str) -> list[str]:
        return sorted(self._table(kind))

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [kind] if kind else list(KINDS)
        return [self._table(k)[n] for k in kinds for n in sorted(self._table(k))]

    def get(self, kind: str, name: str) -> Entry:
        table = self._table(kind)
        if (kind, name) in self._conflicts:
            raise DuplicateComponentError(self._conflicts[(kind, name)])
        if name not in table:
            raise UnknownComponentError(_unknown_message(kind, name, list(table), self.broken))
        return table[name]

    def create(self, kind: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Create the component ``name`` of ``kind`` with the given arguments."""
        return self.get(kind, name).spec.factory(*args, **kwargs)

    def _table(self, kind: str) -> dict[str, Entry]:
        if kind not in self._entries:
            raise UnknownComponentError(_unknown_message("kind", kind, list(KINDS), []))
        return self._entries[kind]


def _unknown_message(kind: str, name: str, known: list[str], broken: list[BrokenPlugin]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    close += [k for k in known if name and name.lower() in k.lower() and k not in close][:3]
    msg = f"unknown {kind} '{name}'"
    if close:
        msg += "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
    elif known:
        msg += "; registered: " + ", ".join(sorted(known))
    if broken:
        msg += " (broken plugins: " + ", ".join(b.plugin for b in broken) + ")"
    return msg


def make_plugin_manager(
    extra_plugins: Iterable[Any] = (), plugin_dirs: Iterable[Path] = ()
) -> tuple[pluggy.PluginManager, list[BrokenPlugin]]:
    """A plugin manager with every plugin of the entry-point group loaded, then every ``*.py`` file of
    ``plugin_dirs`` (a file whose name starts with ``_`` is skipped).

    Entry points and files are loaded one by one so that a plugin that raises
    on import is recorded (and shown by ``pathogan-bench list``) instead of
    stopping the others.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    broken: list[BrokenPlugin] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        source = f"{ep.dist.name}=={ep.dist.version}" if ep.dist else ep.value
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end the command
            broken.append(BrokenPlugin(ep.name, source, f"import {ep.value}: {type(exc).__name__}: {exc}"))
            continue
        try:
            pm.register(plugin, name=ep.name)
        except (pluggy.PluginValidationError, ValueError) as exc:  # hooks that do not match the specifications
            if pm.get_plugin(ep.name) is not None:
                pm.unregister(name=ep.name)  # drop the hooks registered before the bad one
            broken.append(BrokenPlugin(ep.name, source, f"{type(exc).__name__}: {exc}"))
            continue
        _SOURCES[id(plugin)] = source
    for folder in plugin_dirs:
        _load_folder(pm, Path(folder), broken)
    for plugin in extra_plugins:
        pm.register(plugin)
    return pm, broken


def _load_folder(pm: pluggy.PluginManager, folder: Path, broken: list[BrokenPlugin]) -> None:
    """Register each ``*.py`` file of ``folder`` as a plugin named after the file, isolated like an entry point."""
    if not folder.is_dir():
        broken.append(BrokenPlugin(str(folder), str(folder), f"{PLUGINS_DIR_ENV} / --plugins-dir: not a folder"))
        return
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name, source = path.stem, str(path.resolve())
        if pm.get_plugin(name) is not None:
            broken.append(BrokenPlugin(name, source, f"a plugin named '{name}' is already loaded; rename the file"))
            continue
        module_name = f"pathogan_bench_plugin_files.{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # a broken file must not stop the others
            sys.modules.pop(module_name, None)
            broken.append(BrokenPlugin(name, source, f"import {path}: {type(exc).__name__}: {exc}"))
            continue
        try:
            pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
            broken.append(BrokenPlugin(name, source, f"{type(exc).__name__}: {exc}"))
            continue
        _SOURCES[id(module)] = source


#: id(plugin object) -> "distribution==version" of the entry point it came from
_SOURCES: dict[int, str] = {}


_REGISTRY: Registry | None = None

#: folders of plugin files (``os.pathsep``-separated), as ``--plugins-dir`` gives them
PLUGINS_DIR_ENV = "PATHOGAN_BENCH_PLUGINS_DIR"
#: the folders set by :func:`use_plugin_dirs`; None: read ``$PATHOGAN_BENCH_PLUGINS_DIR``
_PLUGIN_DIRS: tuple[Path, ...] | None = None


def use_plugin_dirs(dirs: Iterable[str | Path]) -> None:
    """Load plugin files from these folders (instead of ``$PATHOGAN_BENCH_PLUGINS_DIR``) when the registry is built."""
    global _PLUGIN_DIRS, _REGISTRY
    chosen = tuple(Path(d).expanduser() for d in dirs)
    if chosen != _PLUGIN_DIRS:
        _PLUGIN_DIRS, _REGISTRY = chosen, None


def plugin_dirs() -> tuple[Path, ...]:
    if _PLUGIN_DIRS is not None:
        return _PLUGIN_DIRS
    return tuple(Path(d).expanduser() for d in os.environ.get(PLUGINS_DIR_ENV, "").split(os.pathsep) if d)


def get_registry() -> Registry:
    """The process-wide registry, built on first use: entry points, then the plugin folders."""
    global _REGISTRY
    if _REGISTRY is None:
        pm, broken = make_plugin_manager(plugin_dirs=plugin_dirs())
        _REGISTRY = Registry(pm, broken)
    return _REGISTRY


def create(kind: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """Create a registered component by kind and name."""
    return get_registry().create(kind, name, *args, **kwargs)
