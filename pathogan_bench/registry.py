"""Components created by name: the registry that plugins fill.

    >>> from pathogan_bench.registry import create
    >>> metric = create("metric", "dice")

Every kind has its own namespace. Plugins are discovered through the
``pathogan_bench`` entry-point group (see :mod:`pathogan_bench.contracts.hookspecs` and :mod:`pathogan_bench.contracts.kinds`).
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
import pkgutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pluggy

from .contracts import hookspecs
from .contracts.kinds import KINDS as PLUGIN_KINDS
from .contracts.spec import Spec, as_spec
from .errors import ContractError, DuplicateComponentError, UnknownComponentError

ENTRY_POINT_GROUP = hookspecs.PROJECT

#: kind name -> hook that registers it (the kinds and their contracts: pathogan_bench.contracts.kinds)
KINDS: dict[str, str] = {name: kind.hook for name, kind in PLUGIN_KINDS.items()}


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
                    problems = PLUGIN_KINDS[kind].factory_problems(spec.factory)
                    if problems:  # known before anything is created: the component is left out, its plugin named
                        message = f"{kind} '{spec.name}' does not meet the {kind} contract: {'; '.join(problems)}"
                        self.broken.append(BrokenPlugin(plugin_name, source, f"{hook_name}: {message}"))
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
        """Create the component ``name`` of ``kind`` with the given arguments, checked against its kind's contract
        (:class:`~pathogan_bench.errors.ContractError` naming the plugin when it falls short)."""
        entry = self.get(kind, name)
        contract = PLUGIN_KINDS[kind]
        self._refuse(entry, contract.factory_problems(entry.spec.factory))
        component = entry.spec.factory(*args, **kwargs)
        self._refuse(entry, contract.component_problems(component))
        return component

    def facts(self, entry: Entry) -> dict[str, str]:
        """What ``list`` shows beside a component, read from its factory or from a component made with the
        factory's defaults (a component that cannot be made that way shows none)."""
        contract = PLUGIN_KINDS[entry.kind]
        if contract.factory_facts is not None and not contract.factory_problems(entry.spec.factory):
            return contract.factory_facts(entry.spec.factory)
        if contract.component_facts is not None:
            try:
                return contract.component_facts(self.create(entry.kind, entry.name))
            except Exception:  # a factory with required arguments, or a broken one: `list` still lists it
                return {}
        return {}

    @staticmethod
    def _refuse(entry: Entry, problems: list[str]) -> None:
        if problems:
            raise ContractError(
                f"{entry.kind} '{entry.name}' from plugin '{entry.plugin}' ({entry.source}) does not meet the "
                f"{entry.kind} contract: {'; '.join(problems)} (see pathogan_bench.contracts)"
            )

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
    """A plugin manager with every plugin of the entry-point group loaded, then every plugin of ``plugin_dirs``
    (each ``*.py`` file and each folder with an ``__init__.py``; a name starting with ``_`` is skipped).

    A plugin module may name further plugin modules in a module-level list :data:`PLUGIN_MODULES_ATTR`
    (``plugin_modules``); each is registered as a plugin of its own, from the same source. The built-in
    plugins are one such module, ``pathogan_bench_plugins``, declared in this project's entry-point group.
    Plugins are loaded one by one so that a plugin that raises on import is recorded (and shown by
    ``pathogan-bench list``) instead of stopping the others.
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
        _register(pm, plugin, ep.name, source, broken)
    for folder in plugin_dirs:
        _load_folder(pm, Path(folder), broken)
    for plugin in extra_plugins:
        pm.register(plugin)
    return pm, broken


#: a plugin module's list of further plugin modules (dotted names), each registered as a plugin of its own
PLUGIN_MODULES_ATTR = "plugin_modules"


def plugin_modules_in(package: str) -> list[str]:
    """The dotted names of the modules and packages directly inside ``package`` (not those starting with ``_``),
    sorted: a plugin bundle's ``plugin_modules = plugin_modules_in(__name__ + ".models")`` picks up a new file or
    folder without any declaration."""
    module = importlib.import_module(package)
    return sorted(
        f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__) if not info.name.startswith("_")
    )


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, source: str, broken: list[BrokenPlugin]) -> None:
    """Register ``plugin`` under ``name``, then the modules its ``plugin_modules`` names; failures are recorded."""
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:  # hooks that do not match the specifications
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)  # drop the hooks registered before the bad one
        broken.append(BrokenPlugin(name, source, f"{type(exc).__name__}: {exc}"))
        return
    _SOURCES[id(plugin)] = source
    for module_name in getattr(plugin, PLUGIN_MODULES_ATTR, None) or ():
        member = module_name.rpartition(".")[2].replace("_", "-")
        if pm.get_plugin(member) is not None:
            broken.append(BrokenPlugin(member, source, f"a plugin named '{member}' is already loaded ({module_name})"))
            continue
        try:
            module = importlib.import_module(module_name)
        except (Exception, SystemExit) as exc:  # one broken member must not hide the others
            broken.append(BrokenPlugin(member, source, f"import {module_name}: {type(exc).__name__}: {exc}"))
            continue
        _register(pm, module, member, source, broken)


def _load_folder(pm: pluggy.PluginManager, folder: Path, broken: list[BrokenPlugin]) -> None:
    """Register each ``*.py`` file and each package folder of ``folder`` as a plugin named after it, isolated like an
    entry point."""
    if not folder.is_dir():
        broken.append(BrokenPlugin(str(folder), str(folder), f"{PLUGINS_DIR_ENV} / --plugins-dir: not a folder"))
        return
    candidates = sorted(
        [p for p in folder.glob("*.py")] + [p for p in folder.iterdir() if (p / "__init__.py").is_file()]
    )
    for path in candidates:
        if path.name.startswith("_"):
            continue
        name, source = path.stem, str(path.resolve())
        if pm.get_plugin(name) is not None:
            broken.append(BrokenPlugin(name, source, f"a plugin named '{name}' is already loaded; rename the file"))
            continue
        module_name = f"pathogan_bench_plugin_files.{name}"
        try:
            module = _import_file(module_name, path)
        except (Exception, SystemExit) as exc:  # a broken file must not stop the others
            sys.modules.pop(module_name, None)
            broken.append(BrokenPlugin(name, source, f"import {path}: {type(exc).__name__}: {exc}"))
            continue
        _register(pm, module, name, source, broken)


def _import_file(module_name: str, path: Path) -> Any:
    """Import the file or package folder ``path`` as ``module_name`` (a package's relative imports work)."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            module_name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


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
