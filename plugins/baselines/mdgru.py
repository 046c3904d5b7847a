"""``mdgru``: multi-dimensional gated recurrent units (Andermatt et al. 2016), in 2D.

An MD-GRU layer runs a convolutional GRU along each image axis in both
directions (four scans) and sums their outputs. In each scan the state is a
whole line of pixels orthogonal to the scan axis, and both the input and the
recurrent transforms are convolutions along that line (kernel ``kernel``).

Speed: the input-side convolutions of all positions and all four scans are
one grouped 2D convolution computed before the scan; the four scans run
together, one grouped 1D convolution per step over the whole batch, by
flipping and transposing the input so that every scan runs left to right
(square images). The network: MD-GRU layers with [16, 32, 64] channels,
each followed by a 1 x 1 convolution with [25, 45] channels and tanh, then a
1 x 1 convolution to the output; dropout on each MD-GRU layer's input;
sigmoid cross-entropy against the whole-tumour mask; Adam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.model import ModelContext, SegmentationModel, guarded_step, linear_decay_schedule, make_adam

ALL_DIRECTIONS = ("w+", "w-", "h+", "h-")


class MDGRULayer(nn.Module):
    """Four directional convolutional GRU scans over a (B,C,H,W) image, summed."""

    def __init__(self, in_channels: int, channels: int, kernel: int = 7, directions: tuple[str, ...] = ALL_DIRECTIONS):
        super().__init__()
        self.channels, self.kernel, self.directions = channels, kernel, tuple(directions)
        g = len(self.directions)
        self.input_conv = nn.Conv2d(g * in_channels, g * 3 * channels, (kernel, 1), padding=(kernel // 2, 0), groups=g)
        self.state_conv = nn.Conv1d(g * channels, g * 3 * channels, kernel, padding=kernel // 2, groups=g, bias=False)
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def _to_scan(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """Arrange x so this direction scans along the last axis, left to right: (B,C,line,scan)."""
        if direction[0] == "h":
            x = x.transpose(2, 3)
        return x.flip(-1) if direction[1] == "-" else x

    def _from_scan(self, y: torch.Tensor, direction: str) -> torch.Tensor:
        if direction[1] == "-":
            y = y.flip(-1)
        return y.transpose(2, 3) if direction[0] == "h" else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if h != w and any(d[0] == "h" for d in self.directions):
            raise ValueError(f"MD-GRU scans need square images, got {h} x {w}")
        g, c = len(self.directions), self.channels
        stacked = torch.cat([self._to_scan(x, d) for d in self.directions], dim=1)
        pre = self.input_conv(stacked).view(b, g, 3, c, stacked.shape[2], stacked.shape[3])
        state = x.new_zeros(b, g * c, stacked.shape[2])
        outputs = []
        for t in range(stacked.shape[3]):
            rec = self.state_conv(state).view(b, g, 3, c, -1)
            p = pre[..., t]
            reset = torch.sigmoid(p[:, :, 0] + rec[:, :, 0])
            update = torch.sigmoid(p[:, :, 1] + rec[:, :, 1])
            candidate = torch.tanh(p[:, :, 2] + reset * rec[:, :, 2])
            new = (1 - update) * state.view(b, g, c, -1) + update * candidate
            state = new.reshape(b, g * c, -1)
            outputs.append(new)
        out = torch.stack(outputs, dim=-1)  # (B, g, C, line, scan)
        return sum(self._from_scan(out[:, i], d) for i, d in enumerate(self.directions)) + self.bias


class MDGRUNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, gru_channels: list[int], fc_channels: list[int],
                 kernel: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for gc, fc in zip(gru_channels, fc_channels + [None]):
            layers += [nn.Dropout(dropout), MDGRULayer(cin, gc, kernel)]
            if fc is not None:
                layers += [nn.Conv2d(gc, fc, 1), nn.Tanh()]
                cin = fc
            else:
                cin = gc
        layers.append(nn.Conv2d(cin, out_channels, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class MDGRUConfig:
    width: float = 1.0
    gru_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    fc_channels: list[int] = field(default_factory=lambda: [25, 45])
    kernel: int = 7
    dropout: float = 0.5
    lr: float = 1e-3
    decay_start: float = 0.5


class MDGRUModel(SegmentationModel):
    """Multi-dimensional gated recurrent units, trained on pixel labels (fully supervised)."""

    name: ClassVar[str] = "mdgru"
    supervision = "full"

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__()
        self.config = cfg = MDGRUConfig(**options)
        scale = lambda n: max(2, int(round(n * cfg.width)))  # noqa: E731
        self.net = MDGRUNet(ctx.in_channels, 1, [scale(c) for c in cfg.gru_channels], [scale(c) for c in cfg.fc_channels],
                            cfg.kernel, cfg.dropout).to(ctx.device)
        self.ctx = ctx
        self.opt = make_adam(self.net.parameters(), cfg.lr, (0.9, 0.999))
        self.sched = linear_decay_schedule(self.opt, ctx.total_steps, cfg.decay_start)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp):
            logits = self.net(batch["image"])
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["mask"])
        loss.backward()
        guarded_step(self.opt, loss)
        self.sched.step()
        return {"S/ce": loss.detach()}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        self.eval()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.ctx.amp):
            return torch.sigmoid(self.net(images)[:, 0].float())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"net": self.sched}
