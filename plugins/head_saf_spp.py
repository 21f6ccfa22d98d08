"""The SAF/SPP head of the semantic-aesthetic fusing paper: multi-task training of an auto-encoder
with a semantic-aesthetic fusing (SAF) activation loss at its bottleneck and a split multi-way
regressor on spatial-pyramid-pooled features, for images of any aspect ratio.

[1] The auto-encoder / semantic-aesthetic fusing paper
    (shared/papers/autoencoder_semantic_aesthetic_fusing.txt): "Semantic-Aesthetic Fusing
    Module", "Prediction Module", Tables 3-5. Its text lost the formulas; every open choice is a
    setting, documented in docs/saf.md.
[2] K. He et al., "Spatial Pyramid Pooling in Deep Convolutional Networks", TPAMI 2015.
[3] H. Talebi, P. Milanfar, "NIMA: Neural Image Assessment", TIP 2018, Eq. 1 (EMD loss).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from harness import hookimpl
from harness.aspect import ShortEdgeCanvas, pixel_extent, split_alpha
from harness.decoders import ChannelFit, ChannelFitMode, MirroredDecoder, bottleneck_channels
from harness.errors import UsageError
from harness.head import Head, HeadSettings
from harness.losses import emd_loss, js_divergence, kl_divergence, l1_distance, masked_reconstruction
from harness.spp import SPP_LEVELS, feature_extent, group_average_pool, spatial_pyramid_pool
from harness.training import Optimization, StepContext
from harness.types import HeadSpec, Prediction, StepOutput

log = logging.getLogger(__name__)

#: Activation losses of [1] Table 4: (target, pred) -> (B,).
ACTIVATION_LOSSES = {"l1": l1_distance, "kl": kl_divergence, "js": js_divergence}
#: Pretexts whose checkpoint holds this head's ``bottleneck`` and ``decoder``.
CONTINUES = ("autoencoder_semantic",)


class SafSppSettings(HeadSettings):
    """Defaults: [1] "Implementation Details" ("resized to 256 on the short edge ... the aspect
    ratio of the original image during this process is not changed ... random horizontal flip is
    used for data augmentation"; "SGD ... momentum is set to 0.9"), "Semantic-Aesthetic Fusing
    Module" (L1 activation loss, "a relatively weak constraint"), Fig. 6 (SPP with 1, 4 and 16
    bins). The learning rate, loss weights, epochs and batch size are lost from the text: our
    choices (docs/saf.md).

    Attributes:
        image_size: the short edge (256 in [1]); images are padded onto a square canvas of
            ``image_size * max_aspect`` (rounded up to 32) with a validity mask, never cropped
            or warped.
        max_aspect: the most elongated aspect ratio kept at full short edge.
        bottleneck_channels, channel_fit: c and how backbone channels become c (as the
            ``autoencoder_semantic`` pretext's; they must match it when continuing from it).
            M = the dataset's score bins (10); c must be a multiple of M.
        activation_loss: False is [1] Table 3's "w/o Act" ablation (no SAF constraint).
        activation: ``l1`` (default, [1]'s weak constraint), ``kl`` or ``js`` ([1] Table 4).
        split: False is [1] Table 3's "w/o Split": one joint regressor on all groups.
        spp_levels: bins per side of each pyramid level (1, 2, 4: 21 bins per channel).
        spp_pool: ``max`` ([2]) or ``avg`` in each bin.
        regressor_hidden: 0: each regressor is one fully connected layer; > 0: FC-ReLU-FC with
            this many hidden units (per group when split).
        dropout: before the regressor's layers.
        reconstruction: ``mse`` or ``l1`` over the image's pixels.
        rec_weight, act_weight, emd_weight: weights of the total loss (0 disables a term; with
            rec_weight 0 the decoder is not run).
        continue_decoder: load the pretext's bottleneck and decoder when it is
            ``autoencoder_semantic`` (else they start fresh).
        lr, momentum, weight_decay: SGD's, for all parameters.
    """

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    image_size: int = Field(256, ge=16)
    max_aspect: float = Field(2.0, ge=1.0)
    patience: int | None = Field(5, ge=1)
    bottleneck_channels: int | None = Field(None, ge=1)
    channel_fit: ChannelFitMode = "conv"
    activation_loss: bool = True
    activation: Literal["l1", "kl", "js"] = "l1"
    split: bool = True
    spp_levels: tuple[int, ...] = SPP_LEVELS
    spp_pool: Literal["max", "avg"] = "max"
    regressor_hidden: int = Field(0, ge=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    reconstruction: Literal["mse", "l1"] = "mse"
    rec_weight: float = Field(1.0, ge=0)
    act_weight: float = Field(1.0, ge=0)
    emd_weight: float = Field(1.0, ge=0)
    continue_decoder: bool = True
    lr: float = Field(1e-3, gt=0)
    lr_regressor: float | None = Field(None, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)


class GroupedLinear(nn.Module):
    """M independent linear layers applied at once: (B, M, I) -> (B, M, O), group m by W_m."""

    def __init__(self, groups: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialisation, per group
        self.weight = nn.Parameter(torch.empty(groups, in_features, out_features).uniform_(
            -bound, bound))
        self.bias = nn.Parameter(torch.empty(groups, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bmi,mio->bmo", x, self.weight) + self.bias  # (B, M, O)


def split_regressor(groups: int, in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    """[1]'s separated multi-way regressor: group m's pooled features -> logit m, no weights shared
    across groups: (B, M, I) -> (B, M, 1)."""
    if not hidden:
        return nn.Sequential(nn.Dropout(dropout), GroupedLinear(groups, in_features, 1))
    return nn.Sequential(nn.Dropout(dropout), GroupedLinear(groups, in_features, hidden), nn.ReLU(),
                         nn.Dropout(dropout), GroupedLinear(groups, hidden, 1))


def joint_regressor(groups: int, in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    """The conventional multi-way regressor ("w/o Split"): all features -> M logits: (B, I) -> (B, M)."""
    if not hidden:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, groups))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, groups))


class SafSpp(Head):
    """Implements [1]: the backbone's last block, fitted to c = M * P channels, is the bottleneck
    F. SAF: group average pooling of F's M groups -> softmax -> activation loss against the
    ground-truth distribution (L1 / KL / JS). Prediction: masked SPP ([2]) of each group ->
    a separate regressor per group -> logit of that score bin -> softmax -> EMD loss ([3] Eq. 1).
    Reconstruction: the mirrored decoder on F. Total: ``w_rec L_rec + w_act L_act + w_emd L_emd``.
    """

    requires = frozenset({"distribution"})

    def __init__(self, backbone, settings: SafSppSettings, labels) -> None:
        super().__init__(backbone, settings, labels)
        self.groups = labels.n_bins  # M: one group per score bin
        c = bottleneck_channels(backbone.num_features, self.groups, settings.bottleneck_channels,
                                settings.channel_fit, "head.bottleneck_channels")
        self.channels = c
        self.register_buffer("bins", torch.tensor(labels.bins, dtype=torch.float32))
        self.bottleneck = ChannelFit(backbone.num_features, c, settings.channel_fit)
        self.decoder = MirroredDecoder(backbone.feature_info, c)
        bins_per_channel = sum(n * n for n in settings.spp_levels)
        if settings.split:
            self.regressor = split_regressor(self.groups, c // self.groups * bins_per_channel,
                                             settings.regressor_hidden, settings.dropout)
        else:
            self.regressor = joint_regressor(self.groups, c * bins_per_channel,
                                             settings.regressor_hidden, settings.dropout)
        self.decoder_source = "fresh"

    # -- continuing a pretext ---------------------------------------------------------------
    def load_pretext(self, checkpoint: dict[str, Any]) -> None:
        """Continue the ``autoencoder_semantic`` pretext's bottleneck and decoder (its backbone is
        already loaded); after any other pretext they start fresh."""
        name = checkpoint.get("pretext_name")
        if name not in CONTINUES or not self.settings.continue_decoder:
            log.info("head 'saf_spp': bottleneck and decoder start fresh (pretext %r)", name)
            return
        parts = ("bottleneck.", "decoder.")
        state = {k: v for k, v in checkpoint["pretext"].items() if k.startswith(parts)}
        own = {k: v for k, v in self.state_dict().items() if k.startswith(parts)}
        wrong = sorted(set(own) ^ set(state)) or sorted(
            k for k in own if own[k].shape != state[k].shape)
        if wrong:
            pretext = checkpoint.get("config", {}).get("pretext", {})
            raise UsageError(
                f"head 'saf_spp' cannot continue the {name} checkpoint: its bottleneck/decoder "
                f"differ at {wrong[0]}; set head.bottleneck_channels="
                f"{pretext.get('bottleneck_channels')} and head.channel_fit="
                f"{pretext.get('channel_fit')} as the pretext's, or head.continue_decoder=false")
        self.load_state_dict(state, strict=False)
        self.decoder_source = f"pretext {name}"

    # -- data --------------------------------------------------------------------------------
    def sample_transform(self, train: bool):
        """Short edge to ``image_size`` on a padded canvas with alpha; flip only when training."""
        return ShortEdgeCanvas(self.settings.image_size, self.settings.max_aspect, flip=train)

    # -- the model ---------------------------------------------------------------------------
    def encode(self, images: torch.Tensor):
        """(B, 4, H, W) canvases (or plain (B, 3, H, W) images) -> RGB (B, 3, H, W), alpha
        (B, 1, H, W), bottleneck F (B, c, h, w) and its valid extent (B, 2)."""
        rgb, alpha = split_alpha(images)
        features = self.backbone.forward_features(rgb, [-1])[0]  # (B, C0, h, w)
        z = self.bottleneck(features)  # (B, c, h, w)
        extent = feature_extent(pixel_extent(alpha), rgb.shape[-2:], z.shape[-2:])  # (B, 2)
        return rgb, alpha, z, extent

    def logits(self, z: torch.Tensor, extent: torch.Tensor) -> torch.Tensor:
        """Prediction module: masked SPP of F, then the (split) regressor: -> (B, M) logits."""
        s = self.settings
        pooled = spatial_pyramid_pool(z, extent, s.spp_levels, s.spp_pool)  # (B, c, K)
        b = len(pooled)
        if s.split:
            grouped = pooled.reshape(b, self.groups, -1)  # (B, M, P * K): group m = its P maps
            return self.regressor(grouped).squeeze(2)  # (B, M)
        return self.regressor(pooled.reshape(b, -1))  # (B, M)

    def activation(self, z: torch.Tensor, extent: torch.Tensor) -> torch.Tensor:
        """SAF: softmax over the M group averages of F: (B, c, h, w) -> (B, M)."""
        return torch.softmax(group_average_pool(z.float(), extent, self.groups), dim=1)

    def training_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        s = self.settings
        rgb, alpha, z, extent = self.encode(batch["image"])
        target = batch["dist"].float()  # (B, M)
        probs = torch.softmax(self.logits(z, extent).float(), dim=1)  # (B, M)
        emd = emd_loss(target, probs).mean()
        loss = s.emd_weight * emd
        logs: dict[str, Any] = {"emd": emd.detach()}
        if s.activation_loss:
            act = ACTIVATION_LOSSES[s.activation](target, self.activation(z, extent)).mean()
            loss = loss + s.act_weight * act
            logs["act"] = act.detach()
        if s.rec_weight > 0:
            recon = self.decoder(z, rgb.shape[-2:]).float()  # (B, 3, H, W)
            rec = masked_reconstruction(recon, rgb.float(), alpha.float(), s.reconstruction).mean()
            loss = loss + s.rec_weight * rec
            logs["rec"] = rec.detach()
        return StepOutput(loss, logs, n=len(target))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        _, _, z, extent = self.encode(images)
        probs = torch.softmax(self.logits(z, extent).float(), dim=1)  # (B, M)
        return Prediction(mean=probs @ self.bins, dist=probs)

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        regressor = list(self.regressor.parameters())
        ids = {id(p) for p in regressor}
        rest = [p for p in self.parameters() if id(p) not in ids]
        optimizer = torch.optim.SGD(
            [{"params": rest, "lr": s.lr},
             {"params": regressor, "lr": s.lr if s.lr_regressor is None else s.lr_regressor}],
            lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        return Optimization(optimizer)

    def finalize(self, val_logs: dict[str, float]) -> dict[str, Any]:
        return {"saf": {"decoder": self.decoder_source, "channels": self.channels,
                        "groups": self.groups, "split": self.settings.split,
                        "activation": self.settings.activation if self.settings.activation_loss
                        else None}}


@hookimpl
def harness_heads():
    return [HeadSpec(
        name="saf_spp",
        summary="Auto-encoder + semantic-aesthetic fusing (group pooling, L1/KL/JS activation "
                "loss) + masked SPP + split multi-way regressor, EMD; any aspect ratio",
        references=("Auto-encoder semantic-aesthetic fusing paper "
                    "(shared/papers/autoencoder_semantic_aesthetic_fusing.txt), SAF and "
                    "Prediction modules, Tables 3-5",
                    "He et al., Spatial Pyramid Pooling in Deep Convolutional Networks, TPAMI "
                    "2015, §2.3",
                    "Talebi & Milanfar, NIMA: Neural Image Assessment, TIP 2018, Eq. 1"),
        version="1", defaults=SafSppSettings, factory=SafSpp,
        profiles={"quick": {"epochs": 5, "batch_size": 32, "image_size": 64, "max_aspect": 1.5,
                            "lr": 0.01, "patience": 3}})]
