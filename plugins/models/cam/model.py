"""``cam``: class activation maps of a slice classifier trained on image-level labels (Grad-CAM and refinements).

Training, one step: a convolutional classifier learns healthy (0) vs
pathological (1) from the step's two batches (binary cross-entropy on one
logit); it never sees a pixel label (supervision "weak").

Segmentation: the class activation map of the pathological logit y at the
last convolutional block's features A (K maps of h x w), with g = dy/dA:

- ``gradcam`` (Selvaraju et al. 2017): ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of g_k;
- ``gradcam++`` (Chattopadhay et al. 2018): alpha_k = sum_ij w_kij ReLU(g_kij) with
  w = g^2 / (2 g^2 + sum_ij A_kij g^3), the closed form for an exponential output;
- ``layercam`` (Jiang et al. 2021): ReLU(sum_k ReLU(g_k) * A_k), pixel by pixel.

The map is upsampled bilinearly to the slice, divided by its maximum over
the slice and multiplied by the classifier's probability that the slice is
pathological, so a slice the classifier calls healthy gets a faint map and
the engine's threshold (``threshold``, default 0.5) marks the pixels whose
activation is above half the slice's peak on slices it calls pathological;
zero outside the brain. The run reports the classifier's slice AUROC
(:meth:`CAM.slice_scores`).

The classifier: ``levels`` blocks of two 3 x 3 convolutions with batch norm
and ReLU, 2 x 2 max pooling between blocks, features 64 x 2^level (at most
512) times ``width``, global average pooling and one linear logit (a VGG-style
network, as the classifiers Baumgartner et al. 2018 compare VA-GAN with).
Adam, learning rate 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import ModelContext, SegmentationModel, UserError, hookimpl
from pathogan_bench_plugins.shared.training import brain_mask, check_positive, evaluating

METHODS = ("gradcam", "gradcam++", "layercam")


@dataclass
class CAMConfig:
    #: "gradcam", "gradcam++" or "layercam"
    method: str = "gradcam"
    #: multiplier of every feature count
    width: float = 1.0
    #: convolutional blocks (the last one's features give the map: 2^(levels-1) times coarser than the slice)
    levels: int = 4
    lr: float = 1e-4
    #: probability above which a pixel is labelled pathological
    threshold: float = 0.5

    def check(self) -> None:
        check_positive(self, "width", "levels", "lr")
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}: expected one of {', '.join(METHODS)}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold = {self.threshold}: expected a number in (0, 1)")


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class SliceClassifier(nn.Module):
    """(B,C,H,W) -> (logit of "pathological" (B,), last block's features (B,K,h,w))."""

    def __init__(self, channels: int, levels: int, width: float):
        super().__init__()
        features = [max(2, round(min(64 * 2**level, 512) * width)) for level in range(levels)]
        blocks, previous = [], channels
        for f in features:
            blocks.append(conv_block(previous, f))
            previous = f
        self.blocks = nn.ModuleList(blocks)
        self.logit = nn.Linear(previous, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
        return self.logit(x.mean(dim=(2, 3)))[:, 0], x


def activation_map(features: torch.Tensor, grad: torch.Tensor, method: str) -> torch.Tensor:
    """The class activation map (B,h,w) of features A and gradients g = dy/dA (both (B,K,h,w))."""
    if method == "layercam":
        return F.relu((F.relu(grad) * features).sum(dim=1))
    if method == "gradcam":
        weights = grad.mean(dim=(2, 3), keepdim=True)
    else:  # gradcam++
        g2, g3 = grad**2, grad**3
        denominator = 2 * g2 + (features * g3).sum(dim=(2, 3), keepdim=True)
        alpha = g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        weights = (alpha * F.relu(grad)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * features).sum(dim=1))


class CAM(SegmentationModel):
    """Healthy-vs-pathological slice classifier; segments by its class activation map (weakly supervised)."""

    name = "cam"
    supervision = "weak"
    config_class = CAMConfig
    config: CAMConfig

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        cfg = self.config
        factor = 2 ** (cfg.levels - 1)
        if ctx.image_size % factor:
            raise UserError(
                f"model 'cam' with levels = {cfg.levels} needs an image side divisible by {factor}, "
                f"got {ctx.image_size}"
            )
        self.threshold = cfg.threshold
        self.classifier = SliceClassifier(ctx.in_channels, cfg.levels, cfg.width)
        self.add_optimizer("classifier", self.classifier.parameters(), cfg.lr, (0.9, 0.999))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x_a, x_b = batch["x_a"], batch["x_b"]
        logits, _ = self.classifier(torch.cat([x_a, x_b]))
        labels = torch.cat([torch.zeros(len(x_a), device=x_a.device), torch.ones(len(x_b), device=x_b.device)])
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
        self.update("classifier", loss)
        return {"classifier/bce": loss.detach()}

    def maps_and_probability(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The activation maps (B,H,W), upsampled and each divided by its maximum, and p(pathological) (B,)."""
        with evaluating(self), torch.enable_grad():
            logits, features = self.classifier(images.float())
            (grad,) = torch.autograd.grad(logits.sum(), features)
            cam = activation_map(features.detach(), grad, self.config.method)
        cam = F.interpolate(cam[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        cam = cam * brain_mask(images)
        peak = cam.flatten(1).max(dim=1).values.clamp(min=1e-12)
        return cam / peak[:, None, None], torch.sigmoid(logits.detach().float())

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        cam, probability = self.maps_and_probability(images)
        return (cam * probability[:, None, None]).clamp(0, 1)

    @torch.no_grad()
    def slice_scores(self, images: torch.Tensor) -> torch.Tensor:
        """p(pathological | slice) of the classifier."""
        with evaluating(self):
            return torch.sigmoid(self.classifier(images.float())[0].float())

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_b = batch["x_b"]
        return {"x_B (pathological)": x_b, f"{self.config.method} map": self.segment(x_b)[:, None]}


@hookimpl
def register_models() -> list[type]:
    return [CAM]
