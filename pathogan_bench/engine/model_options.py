"""What the engine reads of a registered model before building it: its class (checked against the model contract)
and the options it is built with (the preset's for this model, then the run's), checked without building it."""

from __future__ import annotations

from typing import Any, cast

from ..contracts.kinds import KINDS
from ..contracts.model import SegmentationModel
from ..errors import ContractError
from ..registry import Entry


def model_class(entry: Entry) -> type[SegmentationModel]:
    """The registered model's class; a factory that is not a :class:`SegmentationModel` subclass stating a valid
    supervision kind is a :class:`ContractError` naming its plugin."""
    problems = KINDS["model"].factory_problems(entry.spec.factory)
    if problems:
        raise ContractError(
            f"model '{entry.name}' from plugin '{entry.plugin}' ({entry.source}) does not meet the model contract: "
            f"{'; '.join(problems)} (see pathogan_bench.contracts.model)"
        )
    return cast(type[SegmentationModel], entry.spec.factory)


def model_options(
    model: type[SegmentationModel],
    preset: str,
    options: dict[str, Any],
    preset_defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The options a model is built with: what the preset adds for it, then the run's ``[model_options]``.

    ``preset_defaults`` are the options a preset sets for every model (the network ``width``): a model that
    does not take one of them is built without it, while the same option set by the user is refused.
    """
    added = dict(model.preset_options.get(preset, {}))
    known = model.option_names()
    if known is not None:
        defaults = preset_defaults or {}
        options = {k: v for k, v in options.items() if k in known or k not in defaults or defaults[k] != v}
    return {**added, **options}
