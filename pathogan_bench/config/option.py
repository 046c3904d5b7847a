"""How a config value is declared as a command-line option: the metadata the schema's fields carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """How a config value is set on the command line (``run`` and ``compare --models``): the option's flag(s), its
    help, and how the text is read (``kind``: "" as the field's type, "path", "file", "list", "slices", "choice",
    "flag"; ``registry``: the registry kind its names complete from)."""

    flag: str
    help: str
    kind: str = ""
    choices: tuple[str, ...] = ()
    example: str = ""
    registry: str = ""
    #: for ``run`` only (``compare`` has its own meaning for the flag, or none)
    run_only: bool = False


def option(default: Any = None, factory: Any = None, **cli: Any) -> Any:
    """A config field that a command-line option sets (:class:`Option`)."""
    metadata = {"option": Option(**cli)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def parameter_name(flag: str) -> str:
    """The parameter name click gives an option: ``--test-data`` -> ``test_data``, ``--amp/--no-amp`` -> ``amp``."""
    return flag.split("/")[0].lstrip("-").replace("-", "_")
