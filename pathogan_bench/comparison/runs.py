"""The runs of a comparison, and each one's record read from its folder once: its facts, summary and score
tables, which every table and figure of the comparison then reads."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from ..config import load_toml
from ..contracts.metric import MetricFacts
from ..errors import UserError
from ..evaluation import create_metric, evaluate_run
from ..evaluation.scores import POLICY_PATIENTS_FILE
from ..record.facts import RunFacts
from ..record.summary import Summary


@dataclasses.dataclass
class ComparedRun:
    model: str
    seed: int
    label_fraction: float
    run_dir: Path
    supervision: str
    #: cross-validation fold (1-based); 0 = no cross-validation
    fold: int = 0

    @property
    def label(self) -> str:
        """The run's row label: its model, with the fraction of labelled training patients when below 1."""
        return self.model + (f" ({self.label_fraction:.0%} labels)" if self.label_fraction < 1 else "")


@dataclasses.dataclass
class LoadedRun:
    """One finished run of a comparison, read from its folder once."""

    run: ComparedRun
    facts: RunFacts
    summary: Summary
    #: metrics_slices.csv, metrics_patients.csv, metrics_volumes.csv and metrics_policy_patients.csv (empty when
    #: the run has none)
    slices: pd.DataFrame
    patients: pd.DataFrame
    volumes: pd.DataFrame
    policy_patients: pd.DataFrame
    #: scored again when loaded: its scores were written by a version that kept fewer per-patient scores
    rescored: bool = False

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def tumour_volumes(self) -> pd.DataFrame:
        """3D scores of the patients with tumour (tumour-free ones are scored by their false positives)."""
        return self.volumes[self.volumes["ref_vox"] > 0] if len(self.volumes) else self.volumes

    def tagged(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=self.run.label, fold=self.run.fold, seed=self.run.seed)

    def test_dice(self) -> pd.Series:
        return self.slices.loc[self.slices["split"] == "test", "dice"] if len(self.slices) else pd.Series([])


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"patient": str}) if path.is_file() else pd.DataFrame()


def load_run(run: ComparedRun, registry: Any) -> LoadedRun:
    """The run's record; a finished run without a summary or per-slice table is scored first (with ``registry``),
    and the facts of metrics a summary of an older version does not hold come from ``registry``."""
    d = run.run_dir
    facts = RunFacts.load(d)  # fails with the path when it is not a run
    rescored = (d / "predictions.npz").is_file() and not (d / POLICY_PATIENTS_FILE).is_file()
    if rescored or not (d / "summary.json").is_file() or not (d / "metrics_slices.csv").is_file():
        summary = evaluate_run(d, registry)
    else:
        try:
            summary = Summary.load(d / "summary.json", registry_facts(registry))
        except (ValueError, TypeError) as exc:
            raise UserError(f"{d / 'summary.json'}: cannot read: {exc}") from None
    return LoadedRun(
        run,
        facts,
        summary,
        _read_csv(d / "metrics_slices.csv"),
        _read_csv(d / "metrics_patients.csv"),
        _read_csv(d / "metrics_volumes.csv"),
        _read_csv(d / POLICY_PATIENTS_FILE),
        rescored,
    )


def compared_run(run_dir: Path) -> ComparedRun:
    """A finished run named on the command line, as a comparison's run: its model (with its loss set when that is
    not the default), seed, label fraction and fold, from its own facts and config."""
    facts = RunFacts.load(run_dir)  # fails with the path when it is not a run
    config = run_dir / "config.toml"
    fold = int(load_toml(config).get("data", {}).get("fold", 0)) if config.is_file() else 0
    model = facts.model + (f" ({facts.loss_set})" if facts.loss_set not in ("", "-", "full") else "")
    if facts.pseudo_labels:  # trained on another model's masks: a row of its own
        model += f" (refined {facts.pseudo_labels.get('model', '?')})"
    if facts.selection:  # trained to the best validation: another row than the same model's fixed budget
        model += f" (best {facts.selection['criterion']})"
    return ComparedRun(model, facts.seed, facts.label_fraction, run_dir, facts.supervision, fold)


#: the settings of a run's config.toml that make it another variant of its model, not another fold or seed of it:
#: every model option, every entry of these sections, and these keys
VARIANT_SECTIONS = ("loss", "loss_sets")
VARIANT_KEYS = {
    "": ("preset", "without"),
    "train": ("steps", "epochs", "batch_size", "level_matched"),
    "data": ("image_size", "n_healthy", "n_pathological", "augment", "modalities", "slice_range"),
}


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        flat.update(_flat(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return flat


def variant_settings(run_dir: Path) -> dict[str, Any]:
    """What the run was trained with that another run of its model may differ in: every model option (by its bare
    name), loss weight and loss set (``loss.NAME``), and the schedule and data sizes; a setting its config.toml does
    not hold is absent (the model's default)."""
    path = run_dir / "config.toml"
    table = load_toml(path) if path.is_file() else {}
    found = _flat(table.get("model_options", {}))
    for section in VARIANT_SECTIONS:
        found.update(_flat(table.get(section, {}), f"{section}."))
    for section, keys in VARIANT_KEYS.items():
        values = table.get(section, {}) if section else table
        found.update({key: values[key] for key in keys if key in values})
    return found


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, list) else str(value)


def mark_variants(runs: list[ComparedRun]) -> list[ComparedRun]:
    """The runs, with those of one model that were trained with different settings told apart in their model
    name: ``pathogan (discriminator_field=reference)``. A setting is named on the runs whose value differs from
    the one most of the model's runs have (the first run's on a tie): an ablation's variants are rows next to the
    plain model's, named by what they change."""
    shown = {r.run_dir: {k: _shown(v) for k, v in variant_settings(r.run_dir).items()} for r in runs}
    marked = []
    for run in runs:
        kin = [shown[r.run_dir] for r in runs if r.model == run.model]
        own = []
        for key in sorted({k for found in kin for k in found}):
            usual = Counter(found.get(key, "default") for found in kin).most_common(1)[0][0]
            if (value := shown[run.run_dir].get(key, "default")) != usual:
                own.append(f"{key}={value}")
        marked.append(dataclasses.replace(run, model=f"{run.model} ({', '.join(own)})") if own else run)
    return marked


def compared_runs(run_dirs: list[Path]) -> list[ComparedRun]:
    """Finished runs named on the command line, as a comparison's runs (:func:`compared_run`, then
    :func:`mark_variants`)."""
    return mark_variants([compared_run(d) for d in run_dirs])


def is_study(runs: list[ComparedRun]) -> bool:
    """Whether the runs are a study (some model trained more than once: folds or seeds), not runs side by side."""
    return len({r.label for r in runs}) < len(runs)


def load_runs(runs: list[ComparedRun], registry: Any) -> list[LoadedRun]:
    """Every run's record, read once; runs scored again because an older version wrote their scores are said (on
    stderr)."""
    loaded = [load_run(r, registry) for r in runs]
    again = [r.run_dir.name for r in loaded if r.rescored]
    if again:
        Console(stderr=True).print(
            f"note: {len(again)} run(s) scored again for the per-patient scores this version keeps "
            f"({', '.join(again[:3])}{' ...' if len(again) > 3 else ''})",
            soft_wrap=True,
            highlight=False,
        )
    return loaded


def registry_facts(registry: Any) -> Callable[[str], MetricFacts | None]:
    """The facts of a registered metric by name (for summaries written before they held them); None for a metric
    of a plugin that is not installed here."""

    def facts_of(name: str) -> MetricFacts | None:
        try:
            return MetricFacts.of(create_metric(registry, name))
        except UserError:
            return None

    return facts_of


def seed_summary(runs: list[LoadedRun]) -> pd.DataFrame:
    """Mean test Dice per run, then mean and spread over seeds per (model, label fraction)."""
    rows = []
    for loaded in runs:
        r, patients = loaded.run, loaded.patients
        rows.append(
            {
                "model": r.model,
                "supervision": r.supervision,
                "label_fraction": r.label_fraction,
                "seed": r.seed,
                "dice": float(loaded.test_dice().mean()),
                "dice_pp": float(patients[patients["split"] == "test"]["dice_pp"].mean())
                if len(patients)
                else math.nan,
            }
        )
    per_run = pd.DataFrame(rows)
    grouped = per_run.groupby(["model", "supervision", "label_fraction"], sort=False)
    out = grouped.agg(
        seeds=("seed", "count"),
        dice_mean=("dice", "mean"),
        dice_std=("dice", "std"),
        dice_pp_mean=("dice_pp", "mean"),
        dice_pp_std=("dice_pp", "std"),
    ).reset_index()
    return out.fillna({"dice_std": 0.0, "dice_pp_std": 0.0})
