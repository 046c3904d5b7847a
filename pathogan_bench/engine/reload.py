"""A finished (or stopped) run's model, rebuilt from its config and latest checkpoint."""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig, resolve_config
from ..contracts.model import SegmentationModel
from ..errors import UserError
from ..record.facts import RunFacts
from ..registry import Registry
from .build import build_model
from .checkpoint import load_latest
from .plan import plan_run
from .rundir import existing_run_dir


def load_trained_model(
    run_dir: Path, device: str = "auto", registry: Registry | None = None
) -> tuple[SegmentationModel, RunConfig, RunFacts]:
    """Rebuild a run's model on ``device`` ("auto", "cpu", "cuda") from its config.toml and latest checkpoint, with
    its components from ``registry`` (default: the installed plugins)."""
    run_dir = existing_run_dir(run_dir)
    config = resolve_config(run_dir / "config.toml", device=device)
    info = RunFacts.load(run_dir)
    plan = plan_run(config, registry)
    found = load_latest(run_dir / "checkpoints", device=plan.device)
    if found is None:
        raise UserError(f"{run_dir / 'checkpoints'}: no complete checkpoint; train the run first")
    ckpt, state = found
    try:
        modalities = tuple(info.modalities)
        model, _ = build_model(plan, len(modalities), int(info.image_size), modalities, int(info.steps or 1))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{ckpt}: does not match the run's config.toml and run.json ({type(exc).__name__}: {exc})"
        ) from None
    except RuntimeError as exc:  # load_state_dict: missing, unexpected or mis-shaped tensors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{ckpt}: does not match the run's config.toml ({first})") from None
    model.load_extra_state(state.get("extra", {}))
    model.eval()
    return model, config, info
