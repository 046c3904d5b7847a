"""The training loop shared by every model.

The model owns one optimisation step (:meth:`SegmentationModel.train_step`);
the trainer owns everything around it: batches, per-step seeding, the
progress bar, scalar logs, sample grids, checkpoints, resume and the
non-finite-loss policy. Losses stay on the device between log points, so the
loop synchronises with the host only every ``log_every`` steps.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .batches import derive_seed
from .checkpoint import latest_checkpoint, load_checkpoint, remove_checkpoint, save_checkpoint
from .config import TrainConfig
from .errors import NonFiniteLossError
from .io import atomic_path, write_text
from .model import SegmentationModel

log = logging.getLogger("pathogan_bench")


class Trainer:
    def __init__(self, model: SegmentationModel, batches: Any, config: TrainConfig, run_dir: Path,
                 total_steps: int, seed: int, console: Console | None = None, rank: int = 0):
        self.model, self.batches, self.config = model, batches, config
        self.run_dir, self.total_steps, self.seed = Path(run_dir), total_steps, seed
        self.console = console or Console(stderr=True)
        self.rank = rank
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self.train_seconds = 0.0
        self._tb = None

    # -- checkpoints -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.model.optimizers().items()},
            "schedulers": {k: s.state_dict() for k, s in self.model.schedulers().items()},
            "extra": self.model.extra_state(),
            "rng": {"torch": torch.get_rng_state()},
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
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

    def save(self) -> Path | None:
        if self.rank != 0:
            return None
        path = save_checkpoint(self.ckpt_dir / f"step-{self.step:08d}", self.state())
        kept = sorted(self.ckpt_dir.glob("step-*.json"))
        for old in kept[: max(0, len(kept) - self.config.keep_checkpoints)]:
            remove_checkpoint(old)
        return path

    def resume(self) -> bool:
        """Load the latest complete checkpoint of the run directory, if any."""
        latest = latest_checkpoint(self.ckpt_dir)
        if latest is None:
            return False
        self.load_state(load_checkpoint(latest, device=next(self.model.parameters(), torch.empty(0)).device))
        self._forget_log_rows_after(self.step)
        log.info("resumed from %s at step %d", latest.name, self.step)
        return True

    def _forget_log_rows_after(self, step: int) -> None:
        """Drop the losses.csv rows of steps the resumed run will train again."""
        path = self.run_dir / "losses.csv"
        if self.rank != 0 or not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
        if len(kept) < len(lines):
            write_text(path, "".join(kept))

    # -- the loop ----------------------------------------------------------
    def fit(self) -> None:
        cfg = self.config
        stop = min(self.total_steps, cfg.stop_at) if cfg.stop_at else self.total_steps
        if self.step >= stop:
            return
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        bad: dict[str, torch.Tensor] = {}
        streak = worst = None
        window_start, window_t0 = self.step, time.perf_counter()
        last_losses = ""
        log_file = self.run_dir / "losses.csv"
        progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
            console=self.console, disable=self.rank != 0, transient=False,
        )
        with progress:
            task = progress.add_task("train", total=self.total_steps, completed=self.step, rate="", losses="")
            while self.step < stop:
                torch.manual_seed(derive_seed(self.seed, 4, self.step))
                batch = self.batches.batch(self.step)
                losses = self.model.train_step(batch, self.step)
                if not sums:
                    sums = {k: torch.zeros((), device=v.device) for k, v in losses.items()}
                    bad = {k: torch.zeros((), device=v.device, dtype=torch.long) for k, v in losses.items()}
                    device = next(iter(losses.values())).device
                    streak = torch.zeros((), device=device, dtype=torch.long)
                    worst = torch.zeros((), device=device, dtype=torch.long)
                nonfinite = []
                for key, value in losses.items():
                    finite = torch.isfinite(value)
                    sums[key] += torch.where(finite, value.float(), 0.0)
                    bad[key] += (~finite).long()
                    nonfinite.append(~finite)
                any_bad = torch.stack(nonfinite).any()
                streak = torch.where(any_bad, streak + 1, 0)
                worst = torch.maximum(worst, streak)
                self.step += 1
                progress.update(task, completed=self.step)

                at_end = self.step == stop
                if self.step % cfg.log_every == 0 or at_end:
                    now = time.perf_counter()
                    n = self.step - window_start
                    values = torch.stack([sums[k] for k in sums] + [bad[k].float() for k in bad] + [worst.float()]).cpu()
                    keys = list(sums)
                    means = {k: float(values[i]) / max(1, n - int(values[len(keys) + i])) for i, k in enumerate(keys)}
                    counts = {k: int(values[len(keys) + i]) for i, k in enumerate(keys)}
                    rate = n / max(now - window_t0, 1e-9)
                    self.train_seconds += now - window_t0
                    self._log_row(log_file, means, counts, rate)
                    if self.rank == 0:
                        log.info("step %d/%d, %.2f step/s: %s", self.step, self.total_steps, rate,
                                 "  ".join(f"{k} {v:.4g}" for k, v in means.items()))
                    last_losses = "  ".join(f"{k} {v:.3g}" for k, v in means.items() if "/" in k and k.split("/")[1] in ("total", "gan", "loss"))
                    progress.update(task, rate=f"{rate:.1f} step/s", losses=last_losses)
                    for key, count in counts.items():
                        if count:
                            log.warning("steps %d-%d: %s was non-finite in %d step(s); those updates were skipped",
                                        window_start + 1, self.step, key, count)
                    if int(values[-1]) >= cfg.max_nonfinite:
                        culprits = ", ".join(k for k, c in counts.items() if c) or "unknown"
                        raise NonFiniteLossError(
                            f"{int(values[-1])} consecutive steps with non-finite losses ({culprits}) by step {self.step}; "
                            f"the last good checkpoint is kept in {self.ckpt_dir}")
                    for key in sums:
                        sums[key].zero_()
                        bad[key].zero_()
                    worst.zero_()
                    window_start, window_t0 = self.step, time.perf_counter()
                if cfg.checkpoint_every and (self.step % cfg.checkpoint_every == 0) and not at_end:
                    self.save()
                if cfg.sample_every and self.step % cfg.sample_every == 0 and self.rank == 0:
                    self.write_samples(batch)
        self.save()
        if self._tb:
            self._tb.close()

    def write_samples(self, batch: dict[str, torch.Tensor]) -> Path | None:
        from .samples import save_sample_grid

        self.model.eval()
        try:
            panels = self.model.preview(batch)
        finally:
            self.model.train()
        if not panels:
            return None
        modalities = tuple(getattr(getattr(self.model, "ctx", None), "modalities", ()) or ())
        return save_sample_grid(self.run_dir / "figures" / f"samples-step-{self.step:08d}.png", panels,
                                title=f"step {self.step}", channel_names=modalities)

    def _log_row(self, path: Path, means: dict[str, float], counts: dict[str, int], rate: float) -> None:
        if self.rank != 0:
            return
        row = {"step": self.step, "steps_per_s": round(rate, 4), **means,
               **{f"nonfinite/{k}": c for k, c in counts.items()}}
        new = not path.exists()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow({k: (v if not isinstance(v, float) or math.isfinite(v) else "nan") for k, v in row.items()})
        with path.open("a", encoding="utf-8") as fh:  # an append of whole lines; the CSV is never rewritten
            fh.write(buf.getvalue())
        tb = self._tensorboard()
        if tb is not None:
            for key, value in means.items():
                tb.add_scalar(key, value, self.step)

    def _tensorboard(self) -> Any:
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:
                self._tb = False
            else:
                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._tb or None
