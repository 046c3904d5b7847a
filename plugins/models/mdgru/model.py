"""``mdgru``: multi-dimensional gated recurrent units (Andermatt et al. 2016), in 2D.

An MD-GRU layer runs a convolutional GRU along each image axis in both
directions (four scans) and averages their outputs. In a scan along the
width the state is a whole column of pixels; in a scan along the height, a
whole row. Input and state transforms are 1D convolutions along that line
(``kernel`` taps, 7 in the reference). Each scan step t:

    z, r = sigmoid(x_t * U_zr + b_zr + h_{t-1} * W_zr)
    c    = tanh(x_t * U_c + b_c + r . (h_{t-1} * W_c))
    h_t  = z . h_{t-1} + (1 - z) . c

with h_0 = 0, the reset gate applied after the state convolution and the
gate biases starting at 1, as in the reference code (zubata88/mdgru).

Inputs (the reference's default): every channel and, after them, its
high-pass copy x - G_sigma * x, a Gaussian blur subtracted (``highpass``).
The reference blurs each volume with sigma = 5 mm (``subtractGaussSigma``);
here each slice is blurred with ``highpass_sigma`` = 5 pixels of a 240-pixel
slice (1 mm in BraTS), scaled to the image size the model is built for. The
blur runs in float32 with half-sample symmetric padding (scipy's
``mode="reflect"``, the reference's) and a kernel cut at 4 sigma, on the
whole image: the background is filtered like the brain, as in the reference.

The network (the reference's default): MD-GRU layers with [16, 32, 64]
channels, each but the last followed by a 1 x 1 convolution with [25, 45]
channels and tanh, the last by a 1 x 1 convolution to ``classes`` logits;
dropout on the input of every MD-GRU layer; softmax cross-entropy against
the whole-tumour mask (optionally plus soft Dice); Adam.

Speed: the input-side convolutions of every position of all four scans are
one grouped convolution computed before the scan; the four scans then run
together, one grouped 1D convolution per step over the whole batch, because
each direction's input is flipped and/or transposed so that every scan runs
along the last axis from left to right. Images must be square when both
axes are scanned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import ModelContext, ReferenceSchedule, SegmentationModel, hookimpl
from pathogan_bench_plugins.shared.training import autocast, check_positive, evaluating, soft_dice_loss

#: scan directions: "w+" runs along the width from left to right, "h-" along the height from bottom to top
ALL_DIRECTIONS: tuple[str, ...] = ("w+", "w-", "h+", "h-")
#: the slice side ``highpass_sigma`` is given for: BraTS slices, 240 pixels of 1 mm
HIGHPASS_REFERENCE_SIDE = 240
#: the Gaussian kernel is cut at this many standard deviations (scipy's default ``truncate``)
GAUSSIAN_TRUNCATE = 4.0


def gaussian_kernel1d(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> torch.Tensor:
    """The normalised 1D Gaussian of standard deviation ``sigma`` pixels, radius int(truncate * sigma + 0.5), float32."""
    if not sigma > 0:
        raise ValueError(f"sigma = {sigma}: expected > 0")
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).float()


def symmetric_pad_index(n: int, radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices into an axis of length ``n`` that extend it by ``radius`` on each side by half-sample symmetry.

    The extension of scipy.ndimage's ``mode="reflect"`` (numpy's "symmetric":
    the edge value is repeated), repeated as often as ``radius`` needs.
    """
    i = torch.arange(-radius, n + radius, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def gaussian_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of ``x`` (B,C,H,W) convolved with the separable 1D ``kernel`` along both axes, padded symmetrically."""
    b, c, h, w = x.shape
    radius = kernel.numel() // 2
    y = x.reshape(b * c, 1, h, w)
    y = y.index_select(3, symmetric_pad_index(w, radius, x.device))
    y = F.conv2d(y, kernel.to(y.dtype).view(1, 1, 1, -1))
    y = y.index_select(2, symmetric_pad_index(h, radius, x.device))
    y = F.conv2d(y, kernel.to(y.dtype).view(1, 1, -1, 1))
    return y.view(b, c, h, w)


class HighPassInputs(nn.Module):
    """(B,C,H,W) -> (B,2C,H,W): the channels, then each channel minus its Gaussian blur (computed in float32)."""

    kernel: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, sigma: float, truncate: float = GAUSSIAN_TRUNCATE):
        super().__init__()
        self.sigma = float(sigma)
        # not persistent: derived from the options, so checkpoints keep the same tensors
        self.register_buffer("kernel", gaussian_kernel1d(self.sigma, truncate), persistent=False)

    def highpass(self, x: torch.Tensor) -> torch.Tensor:
        """x - G_sigma * x per channel, float32 (at least)."""
        with torch.autocast(x.device.type, enabled=False):
            xf = x.to(torch.promote_types(x.dtype, torch.float32))
            return xf - gaussian_blur(xf, self.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.highpass(x).to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, taps={self.kernel.numel()}"


def to_scan_order(x: torch.Tensor, direction: str) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,line,scan) such that the scan of ``direction`` runs along the last axis, forwards."""
    if direction[0] == "h":
        x = x.transpose(2, 3)
    return x.flip(-1) if direction[1] == "-" else x


def from_scan_order(y: torch.Tensor, direction: str) -> torch.Tensor:
    """The inverse of :func:`to_scan_order`."""
    if direction[1] == "-":
        y = y.flip(-1)
    return y.transpose(-2, -1) if direction[0] == "h" else y


class MDGRU(nn.Module):
    """One MD-GRU layer: convolutional GRU scans in the given directions, averaged. (B,C,H,W) -> (B,channels,H,W)."""

    def __init__(self, in_channels: int, channels: int, kernel: int = 7, directions: tuple[str, ...] = ALL_DIRECTIONS):
        super().__init__()
        unknown = set(directions) - set(ALL_DIRECTIONS)
        if unknown or not directions:
            raise ValueError(f"directions must be a non-empty subset of {ALL_DIRECTIONS}, got {directions}")
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.in_channels, self.channels, self.kernel = in_channels, channels, kernel
        self.directions = tuple(directions)
        d = len(self.directions)
        # per direction: 3 x channels outputs, ordered (update z, reset r, candidate c)
        self.input_conv = nn.Conv2d(d * in_channels, d * 3 * channels, (kernel, 1), padding=(kernel // 2, 0), groups=d)
        self.state_conv = nn.Conv1d(d * channels, d * 3 * channels, kernel, padding=kernel // 2, groups=d, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal weights per direction and per (gates, candidate) block; gate biases 1."""
        c = self.channels
        with torch.no_grad():
            for weight in (self.input_conv.weight, self.state_conv.weight):
                for block in weight.view(len(self.directions), 3 * c, *weight.shape[1:]):
                    nn.init.xavier_normal_(block[: 2 * c])
                    nn.init.xavier_normal_(block[2 * c :])
            assert self.input_conv.bias is not None  # built with a bias
            bias = self.input_conv.bias.view(len(self.directions), 3, c)
            bias[:, :2].fill_(1.0)
            bias[:, 2].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if h != w and {d[0] for d in self.directions} == {"h", "w"}:
            raise ValueError(f"scanning both axes needs square images, got {h} x {w}")
        d, c = len(self.directions), self.channels
        stacked = torch.cat([to_scan_order(x, k) for k in self.directions], dim=1)  # (B, d*Cin, L, S)
        line, steps = stacked.shape[2], stacked.shape[3]
        # input-side transforms of every position at once, laid out step-major for the scan
        # the recurrence runs in at least float32, also under bf16 autocast: errors would compound over the scan
        acc = torch.promote_types(x.dtype, torch.float32)
        pre = self.input_conv(stacked).to(acc).view(b, d, 3, c, line, steps).permute(5, 0, 1, 2, 3, 4).contiguous()
        # unbind, not pre[t]: the backward of indexing would allocate and fill a full-size gradient per step
        pre_steps = pre.unbind(0)
        state = x.new_zeros((b, d, c, line), dtype=acc)
        weight_dtype = self.state_conv.weight.dtype
        outputs = []
        for pre_t in pre_steps:
            rec = self.state_conv(state.view(b, d * c, line).to(weight_dtype)).to(acc).view(b, d, 3, c, line)
            gates = torch.sigmoid(pre_t[:, :, :2] + rec[:, :, :2])
            candidate = torch.tanh(pre_t[:, :, 2] + gates[:, :, 1] * rec[:, :, 2])
            state = torch.lerp(candidate, state, gates[:, :, 0])  # z . h + (1 - z) . c
            outputs.append(state)
        scans = torch.stack(outputs, dim=-1)  # (B, d, C, line, scan)
        total = cast(torch.Tensor, sum(from_scan_order(scans[:, i], k) for i, k in enumerate(self.directions)))
        return total / d


class MDGRUNet(nn.Module):
    """MD-GRU layers, each followed by a 1 x 1 convolution (tanh between layers), ending in class logits.

    With ``highpass_sigma`` (pixels), the high-pass copy of every input
    channel is appended to the input first (:class:`HighPassInputs`), so the
    first MD-GRU layer takes ``2 * in_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        classes: int,
        gru_channels: list[int],
        fc_channels: list[int],
        kernel: int = 7,
        dropout: float = 0.5,
        directions: tuple[str, ...] = ALL_DIRECTIONS,
        highpass_sigma: float | None = None,
    ):
        super().__init__()
        if len(fc_channels) != len(gru_channels) - 1:
            raise ValueError(
                f"need one fully connected layer between consecutive MD-GRU layers: "
                f"{len(gru_channels)} MD-GRU layers, {len(fc_channels)} fully connected"
            )
        self.inputs: nn.Module = nn.Identity() if highpass_sigma is None else HighPassInputs(highpass_sigma)
        layers: list[nn.Module] = []
        cin = in_channels if highpass_sigma is None else 2 * in_channels
        outputs = [*fc_channels, classes]
        for i, (gru, fc) in enumerate(zip(gru_channels, outputs)):
            layers += [nn.Dropout(dropout), MDGRU(cin, gru, kernel, directions), nn.Conv2d(gru, fc, 1)]
            if i < len(outputs) - 1:
                layers.append(nn.Tanh())
            cin = fc
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.inputs(x))


@dataclass
class MDGRUConfig:
    #: multiplier of every layer's channel count
    width: float = 1.0
    gru_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    fc_channels: list[int] = field(default_factory=lambda: [25, 45])
    #: taps of the input and state convolutions along the scanned line
    kernel: int = 7
    #: dropout rate on the input of every MD-GRU layer
    dropout: float = 0.5
    #: append the high-pass copy x - G_sigma * x of every input channel (the reference's default)
    highpass: bool = True
    #: sigma of that Gaussian in pixels of a 240-pixel slice (reference: 5 mm at 1 mm), scaled to the image size
    highpass_sigma: float = 5.0
    #: "ce" (softmax cross-entropy, the reference) or "dice_ce" (plus soft Dice of the tumour class)
    loss: str = "ce"
    lr: float = 1e-3
    beta1: float = 0.9
    #: fraction of the steps after which the learning rate decays linearly to zero (1 = constant)
    decay_start: float = 1.0

    def check(self) -> None:
        check_positive(self, "width", "lr", "kernel", "highpass_sigma")
        if not isinstance(self.highpass, bool):
            raise ValueError(f"highpass = {self.highpass!r}: expected true or false")
        if self.loss not in ("ce", "dice_ce"):
            raise ValueError(f"loss = {self.loss!r}: expected 'ce' or 'dice_ce'")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout = {self.dropout}: expected a rate in [0, 1)")
        if len(self.fc_channels) != len(self.gru_channels) - 1:
            raise ValueError(
                f"fc_channels = {self.fc_channels}: expected one entry fewer than gru_channels ({self.gru_channels})"
            )


class MDGRUModel(SegmentationModel):
    """Multi-dimensional gated recurrent units, trained on pixel labels (fully supervised)."""

    name = "mdgru"
    reference_schedule = ReferenceSchedule("the PathoGAN paper's 27,500 MDGRU iterations at batch 4", steps=27_500)
    supervision = "full"
    config_class = MDGRUConfig
    config: MDGRUConfig
    classes: ClassVar[int] = 2  # background, whole tumour

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config

        def scaled(n: int) -> int:
            return max(2, int(round(n * cfg.width)))

        sigma = self.highpass_pixels(cfg, ctx.image_size) if cfg.highpass else None
        self.net = MDGRUNet(
            ctx.in_channels,
            self.classes,
            [scaled(n) for n in cfg.gru_channels],
            [scaled(n) for n in cfg.fc_channels],
            cfg.kernel,
            cfg.dropout,
            highpass_sigma=sigma,
        )
        self.add_optimizer("net", self.net.parameters(), cfg.lr, (cfg.beta1, 0.999), cfg.decay_start)

    @staticmethod
    def highpass_pixels(config: MDGRUConfig, image_size: int) -> float:
        """The high-pass sigma in pixels of ``image_size``-pixel images."""
        return config.highpass_sigma * image_size / HIGHPASS_REFERENCE_SIDE

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """As nn.Module's, with a clear error for weights trained with the other ``highpass`` setting."""
        first = self.net.layers[1]
        saved = state_dict.get("net.layers.1.input_conv.weight")
        if isinstance(first, MDGRU) and saved is not None and saved.shape[1] != first.in_channels:
            raw = self.ctx.in_channels
            if saved.shape[1] == raw and self.config.highpass:
                raise RuntimeError(
                    f"the checkpoint's first MD-GRU layer takes {raw} input channels, this model "
                    f"{first.in_channels}: it was trained without high-pass inputs; load it with "
                    "model option highpass = false"
                )
            if saved.shape[1] == 2 * raw and not self.config.highpass:
                raise RuntimeError(
                    f"the checkpoint's first MD-GRU layer takes {2 * raw} input channels, this "
                    f"model {raw}: it was trained with high-pass inputs; load it with model option "
                    "highpass = true"
                )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        mask = batch["mask"]
        with autocast(self.ctx):
            logits = self.net(batch["image"])
        logits = logits.float()
        ce = F.cross_entropy(logits, mask[:, 0].long())
        losses = {"S/ce": ce}
        total = ce
        if self.config.loss == "dice_ce":
            dice = soft_dice_loss(logits.softmax(dim=1)[:, 1:], mask)
            losses["S/dice"] = dice
            total = ce + dice
        self.update("net", total)
        return {**{k: v.detach() for k, v in losses.items()}, "S/total": total.detach()}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """The softmax probability of the tumour class, (B,H,W)."""
        with evaluating(self), autocast(self.ctx):
            logits = self.net(images)
        return logits.float().softmax(dim=1)[:, 1]


@hookimpl
def register_models() -> list[type]:
    return [MDGRUModel]
