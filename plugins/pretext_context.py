"""Context prediction (Doersch, Gupta & Efros, ICCV 2015): from a pair of patches of one image,
the centre patch of a 3x3 grid and one of its neighbours, predict where the neighbour lies (8
classes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from harness import hookimpl
from harness.crops import crop_patches
from harness.data.images import centre_square
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput

#: Grid cells in row-major order (cell k at row k // 3, column k % 3); 4 is the centre.
CENTRE = 4
#: The neighbours in label order 0..7: Doersch et al.'s layout (their code's ``pos2lbl``)
#: 1 2 3 / 4 . 5 / 6 7 8, minus one.
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
#: Patches are normalised to this RMS ("scale by 50 so that the variance is roughly the same as
#: the usual AlexNet inputs", 50 grey levels of 255) around mid-grey, the middle of the [0, 1]
#: range the harness's other inputs use.
PATCH_RMS = 50 / 255
PATCH_MEAN = 0.5


class ContextSettings(PretextSettings):
    """Defaults: the authors' code (github.com/cdoersch/deepcontext, ``train.py``): 96-pixel
    patches, a 48-pixel gap, jitter of up to 7 pixels, colour dropping, a third of the patches
    downsampled to as few as 100 pixels; plain SGD without momentum or weight decay at a fixed
    rate of 1e-5 on a loss *summed* over the ~2,500 pairs of a 512-patch batch, i.e. ~2.5e-2 on
    our mean loss; a batch of 56 images gives 504 patches. They trained 1.7M iterations; the
    default 30 epochs is a budget, not theirs.

    Attributes:
        image_size: the short side is resized to this and the centre square kept (448 lies in the
            335-581 pixel short sides of their 150K-450K-pixel resizing of a 4:3 image); the grid's
            position in it is random.
        patch_size, gap, jitter: the grid geometry (pixels).
        color_dropping: keep one random channel per patch, replace the others with noise.
        downsample_prob, downsample_min: the share of patches downsampled, and the smallest side
            they are downsampled to (10 = "as little as 100 total pixels").
        hidden: width of the two fully connected layers after the concatenation (fc7, fc8).
    """

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(56, ge=1)
    image_size: int = Field(448, ge=16)
    lr: float = Field(0.025, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    patch_size: int = Field(96, ge=4)
    gap: int = Field(48, ge=0)
    jitter: int = Field(7, ge=0, validate_default=True)
    color_dropping: bool = True
    downsample_prob: float = Field(0.33, ge=0, le=1)
    downsample_min: int = Field(10, ge=1, validate_default=True)
    hidden: int = Field(4096, ge=1)

    @field_validator("jitter")
    @classmethod
    def _grid_fits(cls, jitter: int, info: ValidationInfo) -> int:
        """Checked on ``jitter``, the last of the grid's settings to be validated."""
        size, patch, gap = (info.data.get(k) for k in ("image_size", "patch_size", "gap"))
        if None in (size, patch, gap):
            return jitter  # an earlier field already failed
        need = 3 * patch + 2 * gap + 2 * jitter
        if size < need:
            raise ValueError(f"image_size {size} cannot hold the 3x3 grid: it needs "
                             f"3 * patch_size + 2 * gap + 2 * jitter = {need} pixels")
        if 2 * jitter > gap:
            raise ValueError(f"jitter {jitter} may close the gap {gap} between patches; "
                             f"keep 2 * jitter <= gap")
        return jitter

    @field_validator("downsample_min")
    @classmethod
    def _downsample_fits(cls, side: int, info: ValidationInfo) -> int:
        patch = info.data.get("patch_size")
        if patch is not None and side > patch:
            raise ValueError(f"downsample_min {side} exceeds patch_size {patch}")
        return side


def grid_corners(batch: int, size: int, patch: int, gap: int, jitter: int,
                 generator: torch.Generator, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper-left corners of a 3x3 grid of patches per image: the grid starts at a random offset in
    the image, and every patch moves by up to ``jitter`` pixels in each direction (§3).

    Returns:
        top, left: (batch, 9) in row-major cell order.
    """
    span = 3 * patch + 2 * gap
    cell = torch.arange(3, device=device) * (patch + gap)  # (3,)

    def axis(repeat: str) -> torch.Tensor:
        origin = torch.randint(jitter, size - span - jitter + 1, (batch, 1), generator=generator,
                               device=device)  # (batch, 1)
        steps = cell.repeat_interleave(3) if repeat == "rows" else cell.repeat(3)  # (9,)
        shake = torch.randint(-jitter, jitter + 1, (batch, 9), generator=generator, device=device)
        return origin + steps + shake  # (batch, 9)

    return axis("rows"), axis("columns")


def downsample(patches: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
    """Bilinear downsampling of each patch to ``sides[i]`` pixels and back up to its size, batched.

    Equals ``interpolate(interpolate(p, sides[i]), P)`` (bilinear, no antialiasing) per patch: the
    low-resolution image is sampled into the top-left corner of a P x P buffer, then read back.

    Args:
        patches: (N, C, P, P).
        sides: (N,) integer sides in [1, P].
    """
    p = patches.shape[-1]
    k = torch.arange(p, device=patches.device, dtype=patches.dtype)  # (P,)
    r = sides.to(patches.dtype)[:, None]  # (N, 1)
    low = ((k + 0.5) / r).clamp(max=1) * 2 - 1  # (N, P) low-res pixel centres, align_corners=False
    small = F.grid_sample(patches, _grid(low), mode="bilinear", align_corners=False)
    source = ((k + 0.5) * r / p - 0.5).clamp(min=0)  # (N, P) low-res coordinate of output pixels
    source = torch.minimum(source, r - 1) / max(p - 1, 1) * 2 - 1  # (N, P), align_corners=True
    return F.grid_sample(small, _grid(source), mode="bilinear", align_corners=True)


def _grid(coords: torch.Tensor) -> torch.Tensor:
    """(N, P) coordinates along both axes -> (N, P, P, 2) (x, y) sampling grid."""
    n, p = coords.shape
    return torch.stack([coords[:, None, :].expand(n, p, p), coords[:, :, None].expand(n, p, p)],
                       dim=-1)


def prepare_patches(patches: torch.Tensor, settings: ContextSettings,
                    generator: torch.Generator) -> torch.Tensor:
    """The authors' ``prep_image``: downsample some patches, drop all but one colour channel
    (against chromatic aberration, §3), remove the mean, normalise the RMS.

    Args:
        patches: (N, 3, P, P) in [0, 1].
    Returns:
        (N, 3, P, P) with mean ``PATCH_MEAN`` and RMS ``PATCH_RMS`` around it per patch.
    """
    n, c, p, _ = patches.shape
    device = patches.device
    chosen = torch.rand(n, generator=generator, device=device) < settings.downsample_prob
    if chosen.any():
        # "randomly downsample to as little as 100 total pixels": side sqrt(U(m^2, (P-1)^2)).
        u = torch.rand(n, generator=generator, device=device)
        sides = (u * ((p - 1) ** 2 - settings.downsample_min ** 2)
                 + settings.downsample_min ** 2).sqrt().floor().clamp(1, p)  # (N,)
        patches = patches.clone()
        patches[chosen] = downsample(patches[chosen], sides[chosen])
    centred = patches - patches.mean(dim=(2, 3), keepdim=True)  # (N, 3, P, P)
    if settings.color_dropping:
        keep = torch.randint(0, c, (n,), generator=generator, device=device)  # (N,)
        noise = (torch.rand(patches.shape, generator=generator, device=device) - 0.5) / 255
        kept = torch.arange(c, device=device)[None, :] == keep[:, None]  # (N, 3)
        centred = torch.where(kept[:, :, None, None], centred, noise)
    rms = centred.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-8)  # (N, 1, 1, 1)
    return centred / rms * PATCH_RMS + PATCH_MEAN


def centre_pairs(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's inputs: the centre cell's features followed by a neighbour's, for each of
    the 8 neighbours, and the neighbour's position as the label.

    Args:
        features: (B, 9, C) per grid cell, row-major.
    Returns:
        (8B, 2C) concatenated pairs and (8B,) labels in 0..7 (layout :data:`NEIGHBOURS`).
    """
    b = len(features)
    neighbours = torch.tensor(NEIGHBOURS, device=features.device)
    centre = features[:, CENTRE : CENTRE + 1].expand(-1, len(NEIGHBOURS), -1)  # (B, 8, C)
    pairs = torch.cat([centre, features[:, neighbours]], dim=2)  # (B, 8, 2C)
    labels = torch.arange(len(NEIGHBOURS), device=features.device).repeat(b)  # (8B,)
    return pairs.flatten(0, 1), labels  # (8B, 2C), (8B,)


class ContextPrediction(PretextTask):
    """Implements [Doersch et al. 2015]: the shared trunk (the backbone, pooled) embeds every
    patch, the centre's and a neighbour's features are concatenated, and a small classifier (fc7
    with batch norm, fc8, a linear layer to 8 classes, as the authors' ``gen_net``) predicts the
    neighbour's position; all 8 neighbours of every grid are used (8 pairs per image); 8-way
    cross-entropy (§3)."""

    def __init__(self, backbone, settings: ContextSettings) -> None:
        super().__init__(backbone, settings)
        c, h = backbone.num_features, settings.hidden
        self.classifier = nn.Sequential(
            nn.Linear(2 * c, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True), nn.Linear(h, len(NEIGHBOURS)))

    def sample_transform(self):
        return centre_square(self.settings.image_size)

    def patches(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The 3x3 grid of every image: (B, 3, S, S) -> (B, 9, 3, P, P), before ``prep_image``."""
        s = self.settings
        top, left = grid_corners(len(images), images.shape[-1], s.patch_size, s.gap, s.jitter,
                                 generator, images.device)
        return crop_patches(images, top, left, s.patch_size)

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        images = images_of(batch)
        b = len(images)
        grid = self.patches(images, ctx.generator).flatten(0, 1)  # (9B, 3, P, P)
        grid = prepare_patches(grid, self.settings, ctx.generator)
        features = self.backbone(grid).view(b, 9, -1)  # (B, 9, C)
        pairs, labels = centre_pairs(features)
        logits = self.classifier(pairs)  # (8B, 8)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        return StepOutput(loss, {"acc": acc}, n=len(labels))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        return Optimization(torch.optim.SGD(self.parameters(), lr=s.lr, momentum=s.momentum,
                                            weight_decay=s.weight_decay))

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {"position_accuracy": val_logs["acc"], "chance": 1 / len(NEIGHBOURS),
                "loss": val_logs["loss"]}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="context",
        summary="Predict the relative position (8 classes) of a neighbour patch to a centre patch",
        references=("Doersch, Gupta & Efros, Unsupervised Visual Representation Learning by "
                    "Context Prediction, ICCV 2015, §3 and github.com/cdoersch/deepcontext",),
        version="1", defaults=ContextSettings, factory=ContextPrediction,
        profiles={"quick": {"epochs": 4, "batch_size": 32, "image_size": 104, "patch_size": 24,
                            "gap": 12, "jitter": 2, "downsample_min": 3, "hidden": 256,
                            "lr": 0.05, "momentum": 0.9, "max_images": 480}})]
