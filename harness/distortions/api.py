"""``apply``: one entry point for every distortion of the catalogue, on any device.

``apply(images, name, levels, generator=None, backend="fast")`` checks its inputs, then runs the
batched tensor op of :mod:`~harness.distortions.technical`, :mod:`~.style`,
:mod:`~.composition` or :mod:`~.sheng` (``backend="fast"``), or the original per-image
implementation (``backend="reference"``, :mod:`~.reference`). Level 0 is the identity everywhere.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import torch

from harness.distortions import composition, sheng, style, technical
from harness.distortions._batching import chunked
from harness.distortions.catalogue import (
    TEMPERATURE_GAINS,
    TINT_GAINS,
    Distortion,
    DistortionError,
    get,
)
from harness.distortions.reference import apply_reference, motion_angles
from harness.distortions.resample import resize

BACKENDS = ("fast", "reference")
#: Fast ops that are not chunked on the CPU: those that draw random numbers themselves (so their
#: draws do not depend on the device; motion blur's angles and mixup's partners are drawn up
#: front).
UNCHUNKED = frozenset(
    {
        "gaussian_noise",
        "impulse_noise",
        "sheng_gaussian_noise",
        "sheng_patch_shuffle",
    }
)

#: A fast op: (images of the non-identity samples, their levels, their parameters, generator).
FastOp = Callable[[torch.Tensor, list[int], list, torch.Generator | None], torch.Tensor]


def _canvas(images: torch.Tensor) -> torch.Tensor:
    """``apply``'s stand-in for Pfister's 336-px canvas: the input upscaled 1.5x (bilinear)."""
    return resize(images, *composition.canvas_size(*images.shape[-2:]))


def _crop(name: str) -> FastOp:
    return lambda x, lv, p, g: composition.crop(_canvas(x), tuple(x.shape[-2:]), name, lv)


def _colisa(which: str) -> FastOp:
    def op(x, lv, p, g):
        values = {
            "contrast": [0.0] * len(p),
            "brightness": [0.0] * len(p),
            "saturation": [0.0] * len(p),
        }
        values[which] = p
        return style.colisa(x, **values)

    return op


def _gains(table: dict) -> FastOp:
    return lambda x, lv, p, g: style.white_balance(
        x, [table[v][0] for v in p], [table[v][1] for v in p]
    )


def _blur(x, lv, p, g):
    return sheng.gaussian_blur(x, [sheng.blur_sigma_px(v, *x.shape[-2:]) for v in p])


FAST: dict[str, FastOp] = {
    "jpeg_compression": lambda x, lv, p, g: technical.jpeg(x, p),
    "defocus_blur": lambda x, lv, p, g: technical.defocus_blur(x, p),
    "motion_blur": lambda x, lv, p, g: technical.motion_blur(
        x, [(r, s) for r, s, _ in p], torch.tensor([a for _, _, a in p])
    ),
    "pixelate": lambda x, lv, p, g: technical.pixelate(x, p),
    "gaussian_noise": lambda x, lv, p, g: technical.gaussian_noise(x, p, g),
    "impulse_noise": lambda x, lv, p, g: technical.impulse_noise(x, p, g),
    "brightness": _colisa("brightness"),
    "contrast": _colisa("contrast"),
    "saturation": _colisa("saturation"),
    "exposure": lambda x, lv, p, g: style.exposure(x, p),
    "shadows": lambda x, lv, p, g: style.shadhi(x, p, [100.0] * len(p)),
    "highlights": lambda x, lv, p, g: style.shadhi(x, [50.0] * len(p), p),
    "temperature": _gains(TEMPERATURE_GAINS),
    "tint": _gains(TINT_GAINS),
    "vibrance": lambda x, lv, p, g: style.vibrance(x, p),
    "rotate": lambda x, lv, p, g: composition.rotate(_canvas(x), tuple(x.shape[-2:]), p),
    **{name: _crop(name) for name in composition.CROPS},
    "ratio": lambda x, lv, p, g: composition.ratio(x, lv),
    "sheng_jpeg": lambda x, lv, p, g: technical.jpeg(x, p),
    "sheng_gaussian_noise": lambda x, lv, p, g: sheng.gaussian_noise(x, p, g),
    "sheng_rotation": lambda x, lv, p, g: sheng.rotation(x, p),
    "sheng_downsampling": lambda x, lv, p, g: sheng.downsampling(x, p),
    "sheng_quantization": lambda x, lv, p, g: sheng.quantization(x, p),
    "sheng_pixelation": lambda x, lv, p, g: sheng.pixelation(x, p),
    "sheng_exposure": lambda x, lv, p, g: sheng.exposure(x, p),
    "sheng_gaussian_blur": _blur,
    "sheng_patch_shuffle": lambda x, lv, p, g: sheng.patch_shuffle(x, p, g),
}


def check_images(images, d: Distortion) -> None:
    """One-line :class:`DistortionError` unless ``images`` is float ``(B, 3, H, W)`` in [0, 1]."""
    problem = None
    if not isinstance(images, torch.Tensor):
        problem = f"got {type(images).__name__}"
    elif not images.is_floating_point():
        problem = f"got dtype {images.dtype}"
    elif images.dim() != 4 or images.shape[1] != 3:
        problem = f"got shape {tuple(images.shape)}"
    elif images.numel():
        lo, hi = (float(v) for v in torch.aminmax(images))  # one pass; NaN propagates
        if not (lo >= 0.0 and hi <= 1.0):
            nan = math.isnan(lo) or math.isnan(hi)
            problem = "got NaN values" if nan else f"got values in [{lo:.4g}, {hi:.4g}]"
    if problem:
        raise DistortionError(
            f"{d.name}: images must be a float tensor (B, 3, H, W) with values "
            f"in [0, 1], {problem}; allowed levels: {d.describe_levels()}"
        )


def check_levels(levels, d: Distortion, batch: int) -> list[int]:
    """``levels`` (int, sequence or ``(B,)`` tensor) as B valid ints, or a one-line error."""
    if isinstance(levels, torch.Tensor):
        if levels.dim() > 1 or levels.is_floating_point() or levels.is_complex():
            raise DistortionError(
                f"{d.name}: levels must be an int or a 1-D integer tensor of "
                f"length {batch}; allowed levels: {d.describe_levels()}"
            )
        levels = levels.tolist() if levels.dim() == 1 else int(levels)
    if _as_int(levels) is not None:
        levels = [levels] * batch
    elif hasattr(levels, "__len__") and not isinstance(levels, (str, bytes, dict)):
        levels = list(levels)
        if len(levels) != batch:
            raise DistortionError(
                f"{d.name}: got {len(levels)} levels for {batch} images; "
                f"allowed levels: {d.describe_levels()}"
            )
    else:
        raise DistortionError(
            f"{d.name}: levels must be an int or one int per image, got "
            f"{type(levels).__name__}; allowed levels: {d.describe_levels()}"
        )
    allowed = set(d.allowed_levels)
    checked = [_as_int(level) for level in levels]
    for level, value in zip(levels, checked):
        if value is None or value not in allowed:
            raise DistortionError(
                f"{d.name}: level {level!r} is out of range; allowed levels: {d.describe_levels()}"
            )
    return checked


def _as_int(value) -> int | None:
    """``value`` as an int if it is an integer scalar (int, NumPy, 0-d int tensor); else None."""
    if isinstance(value, bool) or (isinstance(value, torch.Tensor) and value.is_floating_point()):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def fork(generator: torch.Generator | None) -> torch.Generator | None:
    """A child generator seeded by one draw of ``generator`` (on the same device).

    Every :func:`apply` call consumes exactly one number from the caller's generator, whichever
    backend runs and however many numbers the distortion needs, so a sequence of calls draws the
    same motion-blur angles, mixup partners and seeds with either backend.
    """
    if generator is None:
        return None
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=generator.device).manual_seed(seed)


def apply(
    images: torch.Tensor,
    name: str,
    levels: int | Sequence[int] | torch.Tensor,
    generator: torch.Generator | None = None,
    backend: str = "fast",
) -> torch.Tensor:
    """Apply distortion ``name`` at ``levels`` to a batch.

    Args:
        images: ``(B, 3, H, W)`` float in [0, 1], any device.
        name: a catalogue name (:func:`harness.distortions.catalogue`).
        levels: one level for the batch, or one per sample (sequence or ``(B,)`` tensor); 0 is
            the identity.
        generator: the only source of randomness (noise, motion-blur angles, patch shuffle,
            mixup partners); ``None`` uses torch's global RNG.
        backend: ``"fast"`` (batched tensor ops) or ``"reference"`` (the original per-image
            implementations).

    Returns:
        A new ``(B, 3, H, W)`` tensor, same device and dtype, values in [0, 1].
    """
    d = get(name)
    if backend not in BACKENDS:
        raise DistortionError(f"{name}: unknown backend {backend!r}; choose one of {BACKENDS}")
    check_images(images, d)
    levels = check_levels(levels, d, images.shape[0])
    generator = fork(generator)
    if not any(levels):
        return images.clone()
    if backend == "reference":
        return apply_reference(images, d, levels, generator)
    work = images if images.dtype in (torch.float32, torch.float64) else images.float()
    if d.name == "sheng_mixup":  # the other image comes from the whole batch
        partners = work.index_select(
            0, sheng.mixup_partners(work.shape[0], generator).to(work.device)
        )
        alphas = [0.0 if k == 0 else d.params[k] for k in levels]
        return sheng.mixup(work, alphas, partners).to(images.dtype)
    params = [None if k == 0 else d.params[k] for k in levels]
    if d.name == "motion_blur":  # one angle per sample of the whole batch, as the reference draws
        params = [p and (*p, a) for p, a in zip(params, motion_angles(work.shape[0], generator))]
    rows = [i for i, k in enumerate(levels) if k != 0]
    sub = (
        work
        if len(rows) == len(levels)
        else work.index_select(0, torch.tensor(rows, device=work.device))
    )
    sub_levels, sub_params = [levels[i] for i in rows], [params[i] for i in rows]
    if d.name in UNCHUNKED:
        result = FAST[d.name](sub, sub_levels, sub_params, generator)
    else:
        result = chunked(
            sub,
            lambda x, lv, p: FAST[d.name](x, lv, p, None),
            sub_levels,
            sub_params,
            keys=sub_levels,
        )
    if len(rows) == len(levels):
        return result.to(images.dtype)
    out = work.clone()
    out.index_copy_(0, torch.tensor(rows, device=work.device), result)
    return out.to(images.dtype)


def apply_sheng(
    images: torch.Tensor,
    classes: int | Sequence[int] | torch.Tensor,
    generator: torch.Generator | None = None,
    backend: str = "fast",
) -> torch.Tensor:
    """Apply one of Sheng et al.'s 22 classes per sample (class 0 = *None*).

    ``classes``: an int or one per sample. Samples are grouped by operation (one :func:`apply`
    call each); a mixup sample blends with the *input* image of another sample of the whole
    batch (:func:`harness.distortions.mixup_partners`). ``(B, 3, H, W) -> (B, 3, H, W)``.
    """
    batch = images.shape[0]
    if isinstance(classes, torch.Tensor):
        classes = classes.tolist() if classes.dim() else int(classes)
    classes = [classes] * batch if isinstance(classes, int) else list(classes)
    if len(classes) != batch:
        raise DistortionError(f"apply_sheng: got {len(classes)} classes for {batch} images")
    ops = [sheng.class_to_level(int(c)) for c in classes]
    out = images.clone()
    for name in dict.fromkeys(n for n, _ in ops if n != "none"):
        rows = [i for i, (n, _) in enumerate(ops) if n == name]
        index = torch.tensor(rows, device=images.device)
        if name == "sheng_mixup":  # partners come from the whole batch
            levels = [k if n == name else 0 for n, k in ops]
            result = apply(images, name, levels, generator, backend).index_select(0, index)
        else:
            result = apply(
                images.index_select(0, index), name, [ops[i][1] for i in rows], generator, backend
            )
        out.index_copy_(0, index, result)
    return out
