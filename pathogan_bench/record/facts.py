"""``run.json`` as a typed record: what ran, on what, with which data, and how it went.

The engine fills a :class:`RunFacts` stage by stage (planned and prepared, trained, scored) and writes it whole
each time; every later reader loads it with :meth:`RunFacts.load`, where the one migration of older run folders
lives. The fields the run's summary keeps are marked ``summary=True``; summary.json holds them in their order
here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from .lock import held


def _kept(default: Any = None, factory: Any = None) -> Any:
    """A field the run's summary keeps."""
    if factory is not None:
        return field(default_factory=factory, metadata={"summary": True})
    return field(default=default, metadata={"summary": True})


@dataclass
class RunFacts:
    """One run's facts. None: not known (yet, or to the version that wrote the run)."""

    model: str = _kept("?")
    supervision: str = _kept("")
    #: the loss set's name, or "-" for a model that optimises none
    loss_set: str = _kept("-")
    dataset: str = _kept("")
    #: the data folder, or the generated synthetic data's folder
    data: str = _kept("")
    modalities: list[str] = _kept(factory=list)
    seed: int = _kept(0)
    device: str = _kept("")
    #: in-plane pixel size (mm) of the scored slices
    spacing: list[float] | None = _kept(None)
    skipped_cases: list[str] = _kept(factory=list)
    skip_reasons: dict[str, str] = _kept(factory=dict)
    unlabelled_cases: list[str] = _kept(factory=list)
    image_size: int = _kept(0)
    steps: int | None = _kept(None)
    steps_done: int | None = _kept(None)
    train_seconds: float | None = _kept(None)
    skipped_updates: dict[str, int] = _kept(factory=dict)
    #: per split: patients, healthy and pathological slices
    split_sizes: dict[str, dict[str, int]] = _kept(factory=dict)
    #: the model's own threshold on its calibrated map
    threshold: float | None = _kept(None)
    #: how that threshold was fitted after training, when the model's rule fits it ("" when the model keeps its own)
    threshold_rule: str | None = _kept(None)
    #: a refining run: the source run whose masks of the training slices were its pixel labels, and their counts
    pseudo_labels: dict[str, Any] | None = _kept(None)
    #: what the model said of its training (SegmentationModel.notes), e.g. a collapse it detected
    model_notes: list[str] | None = _kept(None)
    #: training, split and data seeds (the data seed only for generated data)
    seeds: dict[str, int | None] = _kept(factory=dict)
    split_protocol: str = _kept("")
    folds: int = _kept(0)
    label_fraction: float = _kept(1.0)
    test_data: str = _kept("")
    healthy_data: str = _kept("")
    training_data: str = _kept("")
    #: how well the axial level alone separates the weak training domains (pathogan_bench.data.levels)
    level_separation: dict[str, Any] | None = _kept(None)
    level_matched: bool = _kept(False)
    level_matching: dict[str, Any] | None = _kept(None)
    policies: list[str] = _kept(factory=list)
    postprocess: list[str] = _kept(factory=list)
    # -- kept in run.json only ------------------------------------------------------------------------------------
    model_options: dict[str, Any] = field(default_factory=dict)
    axis_codes: list[str] = field(default_factory=list)
    device_name: str = ""
    world_size: int = 1
    threads: int = 0
    parameters: int = 0
    slices: dict[str, int] = field(default_factory=dict)
    torch: str = ""
    pathogan_bench: str = ""
    #: the steps of the method's own schedule on this run's data, and what the run says when it trains far fewer
    reference_steps: int | None = None
    budget_note: str = ""
    #: how the weights the run segments with were chosen (pathogan_bench.engine.selection; None: the last ones)
    selection: dict[str, Any] | None = None
    #: a model that classifies slices: per evaluated split, the AUROC of its slice scores for pathological vs
    #: healthy slices and the two counts (pathogan_bench.engine.infer.slice_classification)
    slice_classification: dict[str, dict[str, Any]] | None = None
    #: the step training stopped at because validation brought no gain
    stopped_early_at: int | None = None
    #: with --compile: the mode, the compiled networks and those that fell back to eager (name: error)
    compiled: dict[str, Any] | None = None
    #: "training", "stopped", "interrupted", "failed" or "done"
    status: str = ""
    score_seconds: float | None = None
    interrupted_at: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What run.json holds: every known fact (the step it was interrupted at and the error only when set)."""
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if v is not None or k not in OMITTED_WHEN_UNSET}

    def summary_dict(self) -> dict[str, Any]:
        """The facts a run's summary keeps, in their order."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if f.metadata.get("summary") and (getattr(self, f.name) is not None or f.name not in OMITTED_WHEN_UNSET)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFacts:
        """The record of a run.json's (or summary.json's ``run``) contents, migrated from older versions; unknown
        keys are dropped."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in migrate(dict(data)).items() if k in known})

    @classmethod
    def load(cls, run_dir: str | Path) -> RunFacts:
        """The run's run.json; a missing or unreadable one is a :class:`UserError` naming it."""
        path = Path(run_dir) / "run.json"
        if not path.is_file():
            raise UserError(f"{path}: missing (not a run directory)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object")
        facts = cls.from_dict(data)
        if facts.status == "training" and not held(Path(run_dir)):
            facts.status = "interrupted"
            facts.error = facts.error or KILLED
        return facts

    def in_plane_spacing(self, where: str | Path = "run.json") -> tuple[float, float] | None:
        """The in-plane pixel size, checked (a :class:`UserError` naming ``where`` when malformed)."""
        if self.spacing is None:
            return None
        try:
            values = tuple(float(s) for s in self.spacing)
        except (TypeError, ValueError):
            raise UserError(f"{where}: spacing {self.spacing!r} is not a list of numbers") from None
        if len(values) != 2:
            raise UserError(f"{where}: spacing {self.spacing!r} needs 2 entries (in-plane)")
        return values[0], values[1]


#: facts run.json holds only once they are known
OMITTED_WHEN_UNSET = (
    "score_seconds",
    "interrupted_at",
    "error",
    "reference_steps",
    "selection",
    "stopped_early_at",
    "slice_classification",
    "threshold_rule",
    "model_notes",
    "pseudo_labels",
    "compiled",
)


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else value


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """run.json (or a summary's ``run``) as this version writes it, from what an older version wrote: the one
    place older run folders are read."""
    separation = data.get("level_separation")
    if isinstance(separation, dict) and separation.get("shared_bins") is None and separation.get("shared_range"):
        lo, hi = separation["shared_range"]
        bins = separation.get("bins", 10)
        data["level_separation"] = {**separation, "shared_bins": list(range(round(lo * bins), round(hi * bins)))}
    matching = data.get("level_matching")
    if isinstance(matching, dict):
        levels = matching.get("levels")
        if isinstance(levels, list) and len(levels) == 2 and all(isinstance(v, (int, float)) for v in levels):
            data["level_matching"] = {**matching, "levels": f"{levels[0]:.1f}-{levels[1]:.1f}"}
    return data


#: why a run recorded as training has no live process holding it
KILLED = "its training process ended without recording why (killed, or the machine stopped)"


def recorded_status(run_dir: str | Path) -> str:
    """The status a run's run.json records ("done", "failed", ...; "" when it has no readable one); "training"
    with no live process holding the run (see :mod:`.lock`) reads "interrupted"."""
    try:
        status = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return ""
    if status == "training" and not held(Path(run_dir)):
        return "interrupted"  # its process is gone: KILLED
    return status if isinstance(status, str) else ""
