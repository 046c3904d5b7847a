"""The training loop shared by every model.

The model owns one optimisation step (:meth:`SegmentationModel.train_step`);
the trainer owns everything around it: batches, per-step seeding, the
progress bar, scalar logs, sample grids, checkpoints, resume, interrupts and
the non-finite-loss policy. Losses stay on the device between log points, so
the loop synchronises with the host only every ``log_every`` steps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from ..config import TrainConfig
from ..contracts.model import SegmentationModel
from ..errors import NonFiniteLossError, TrainingInterrupted
from ..utils.optim import skipped_updates
from ..utils.seeds import TRAIN_STEP_STREAM, derive_seed
from .checkpoint import clean_partial_files, latest_checkpoint, load_latest, remove_checkpoint, save_checkpoint
from .interrupts import StopRequests
from .loggers import RunLoggers
from .loss_log import LossLog, LossWindow
from .selection import Selection
from .training_bar import training_progress

log = logging.getLogger("pathogan_bench")


class Trainer:
    def __init__(
        self,
        model: SegmentationModel,
        batches: Any,
        config: TrainConfig,
        run_dir: Path,
        total_steps: int,
        seed: int,
        console: Console | None = None,
        rank: int = 0,
        display_affine: Any = None,
        loggers: RunLoggers | None = None,
        selection: Selection | None = None,
    ):
        self.model, self.batches, self.config = model, batches, config
        self.run_dir, self.total_steps, self.seed = Path(run_dir), total_steps, seed
        self.console = console or Console(stderr=True)
        self.rank = rank
        #: the NIfTI affine that orients the sample grids' slices for display (None: assumed)
        self.display_affine = display_affine
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self.train_seconds = 0.0
        #: optimizer updates skipped for non-finite losses or gradients, per optimizer, over the whole run
        self.skipped: dict[str, int] = {}
        self.loss_log = LossLog(self.run_dir, enabled=rank == 0, loggers=loggers)
        #: how the weights the run segments with are chosen (None: the last ones)
        self.selection = selection
        #: the step training stopped at because validation brought no gain (None: it did not stop early)
        self.stopped_early: int | None = None

    # -- checkpoints -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "skipped": dict(self.skipped),
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.model.optimizers().items()},
            "schedulers": {k: s.state_dict() for k, s in self.model.schedulers().items()},
            "extra": self.model.extra_state(),
            "rng": {"torch": torch.get_rng_state()},
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if self.selection is not None:
            state["selection"] = self.selection.state()
        if self.stopped_early is not None:
            state["stopped_early"] = self.stopped_early
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        for name, opt in self.model.optimizers().items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.model.schedulers().items():
            sched.load_state_dict(state["schedulers"][name])
        self.model.load_extra_state(state.get("extra", {}))
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(state["rng"]["cuda"]))
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.skipped = {str(k): int(v) for k, v in dict(state.get("skipped", {})).items()}
        if self.selection is not None and "selection" in state:
            self.selection.load_state(state["selection"])
        self.stopped_early = int(state["stopped_early"]) if "stopped_early" in state else None

    def save(self) -> Path | None:
        if self.rank != 0:
            return None
        path = save_checkpoint(self.ckpt_dir / f"step-{self.step:08d}", self.state())
        kept = sorted(self.ckpt_dir.glob("step-*.json"))
        for old in kept[: max(0, len(kept) - self.config.keep_checkpoints)]:
            remove_checkpoint(old)
        return path

    def resume(self) -> Path | None:
        """Load the latest complete checkpoint of the run directory; returns its path, or None if there is none."""
        if self.rank == 0:
            clean_partial_files(self.ckpt_dir)
        found = load_latest(self.ckpt_dir, device=next(self.model.parameters(), torch.empty(0)).device)
        if found is None:
            return None
        latest, state = found
        self.load_state(state)
        self.loss_log.forget_after(self.step)
        return latest  # the caller logs and shows where training resumes

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    # -- the loop ----------------------------------------------------------
    def fit(self) -> None:
        """Train to ``stop_at`` (or the end); on SIGINT/SIGTERM save a checkpoint and raise :class:`TrainingInterrupted`."""
        cfg = self.config
        stop = min(self.total_steps, cfg.stop_at) if cfg.stop_at else self.total_steps
        if self.step >= stop or self.stopped_early is not None:
            return
        self.model.train()
        window = LossWindow(self.step, skipped_updates(self.model.optimizers()))
        with (
            training_progress(self.console, self.total_steps, self.step, enabled=self.rank == 0) as bar,
            StopRequests() as requests,
        ):
            while self.step < stop:
                torch.manual_seed(derive_seed(self.seed, TRAIN_STEP_STREAM, self.step))
                batch = self.batches.batch(self.step)
                window.add(self.model.train_step(batch, self.step))
                self.step += 1
                bar.advance(self.step)
                if self._validate():
                    stop = self.step
                at_end = self.step == stop or requests.stop
                if self.step % cfg.log_every == 0 or at_end:
                    self._close_window(window, bar)
                    window = LossWindow(self.step, skipped_updates(self.model.optimizers()), window.streak)
                if requests.stop:
                    self.save()
                    raise TrainingInterrupted(requests.signal_name, self.step)
                if cfg.checkpoint_every and (self.step % cfg.checkpoint_every == 0) and not at_end:
                    self.save()
                if cfg.sample_every and self.step % cfg.sample_every == 0 and self.rank == 0:
                    self.write_samples(batch)
        self.save()
        self.loss_log.close()

    def _validate(self) -> bool:
        """Validate when due (rank 0); True when training should stop early."""
        selection = self.selection
        if selection is None or not selection.due(self.step):
            return False
        stop = selection.check(self.model, self.step)
        self.model.train()
        log.info(
            "validation at step %d: %s %.4f (best %.4f at step %d)",
            self.step,
            selection.criterion,
            selection.history[-1][1],
            selection.best_score,
            selection.best_step,
        )
        if stop:
            self.stopped_early = self.step
            log.info(
                "no gain in %d validations: training stops at step %d of %d",
                selection.patience,
                self.step,
                self.total_steps,
            )
        return stop

    @property
    def done(self) -> bool:
        """Whether training has nothing left to do: every step taken, or stopped early."""
        return self.step >= self.total_steps or self.stopped_early is not None

    def finish_selection(self) -> None:
        """Segment with the selected weights: the best validated ones (the last ones when nothing selects)."""
        if self.selection is not None:
            self.selection.restore_best(self.model)

    def _close_window(self, window: LossWindow, bar: Any) -> None:
        """Log one window's mean losses, count its skipped updates and apply the non-finite policy."""
        cfg = self.config
        summary = window.close(self.step, skipped_updates(self.model.optimizers()))
        self.train_seconds += summary.seconds
        for name, count in summary.skipped.items():
            self.skipped[name] = self.skipped.get(name, 0) + count
        self.loss_log.write(self.step, summary)
        if self.rank == 0:
            log.info(
                "step %d/%d, %.2f step/s: %s",
                self.step,
                self.total_steps,
                summary.rate,
                "  ".join(f"{k} {v:.4g}" for k, v in summary.means.items()),
            )
        bar.show(summary)
        for key, count in summary.nonfinite.items():
            if count:
                log.warning(
                    "steps %d-%d: %s was non-finite in %d step(s); those updates were skipped",
                    window.start + 1,
                    self.step,
                    key,
                    count,
                )
        for name, count in summary.skipped.items():
            if count and self.rank == 0:
                log.warning(
                    "steps %d-%d: %d %s update(s) skipped (non-finite loss or gradients)",
                    window.start + 1,
                    self.step,
                    count,
                    name,
                )
        if summary.worst_streak >= cfg.max_nonfinite:
            culprits = ", ".join(k for k, c in summary.nonfinite.items() if c) or "unknown"
            where = (
                f"the last good checkpoint is kept in {self.ckpt_dir}"
                if latest_checkpoint(self.ckpt_dir)
                else "no checkpoint was written yet"
            )
            raise NonFiniteLossError(
                f"{summary.worst_streak} consecutive steps with non-finite losses ({culprits}) by step {self.step}; "
                f"{where}"
            )

    def write_samples(self, batch: dict[str, torch.Tensor]) -> Path | None:
        from ..figures.samples import save_sample_grid

        self.model.eval()
        try:
            panels = self.model.preview(batch)
        finally:
            self.model.train()
        if not panels:
            return None
        modalities = tuple(self.model.ctx.modalities)
        return save_sample_grid(
            self.run_dir / "figures" / f"samples-step-{self.step:08d}.png",
            panels,
            title=f"step {self.step}",
            channel_names=modalities,
            affine=self.display_affine,
        )
