"""The catalogue: one frozen record per distortion, with the parameter behind every level.

Two families:

- ``pfister2021`` — the 21 aesthetic distortions of Pfister et al. [0], Table 1, with the values
  of their code (``edit_image.py``, ``train_pre/utils.py``, ``train_pre/dataset.py``): 6 technical
  (imagenet-c constants [2], levels 1..5), 9 style (darktable modules, levels per Table 1),
  6 composition (Pillow crops / rotations / stretches, levels -5..5).
- ``sheng2020`` — the 10 editing operations of Sheng et al. [1], Table 1 (21 parameterised edits;
  with *None* they are the 22 classes of :mod:`harness.distortions.sheng`). Level ``k`` is the
  k-th parameter of the table's row, so level 1 is the milder one (the triplet loss's θ₁).

Level 0 is the identity for every distortion; ``Distortion.levels`` lists only the non-zero ones.
Negative Pfister levels count outward from the reference: -1 is the mildest negative edit.

[0] Pfister, Kobs, Hotho. Self-Supervised Multi-Task Pretraining Improves Image Aesthetic
    Assessment. CVPR Workshops (NTIRE) 2021.
[1] Sheng, Dong, Chai, Wang, Huang, Hu. Revisiting Image Aesthetic Assessment via Self-Supervised
    Feature Learning. AAAI 2020.
[2] Hendrycks, Dietterich. Benchmarking Neural Network Robustness to Common Corruptions and
    Perturbations. ICLR 2019 (imagenet-c; the ``imagecorruptions`` package, same constants).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from harness.errors import UsageError

FAMILIES = ("pfister2021", "sheng2020")
ASPECTS = ("technical", "style", "composition")

PFISTER = "Pfister et al., CVPRW 2021, Table 1"
SHENG = "Sheng et al., AAAI 2020, Table 1"


class DistortionError(ValueError, UsageError):
    """A bad request to the distortion bank: unknown name, level out of range, bad images."""


@dataclass(frozen=True)
class Distortion:
    """One distortion of the catalogue.

    Attributes:
        name: unique across families, the ``name`` argument of :func:`harness.distortions.apply`.
        family: ``"pfister2021"`` or ``"sheng2020"``.
        aspect: ``"technical"``, ``"style"`` or ``"composition"`` (Sheng's attributes are mapped
            onto these; the attribute itself is kept in ``attribute``).
        levels: the valid non-zero levels in increasing order; 0 (identity) is always valid too.
        params: level -> the parameter value of that level (no entry for 0).
        parameter: what the values mean, e.g. ``"JPEG quality"``.
        implementation: how the fast backend computes it.
        oracle: what the ``reference`` backend calls.
        reference: citation of the source of the values.
        attribute: Sheng et al.'s attribute (``"much noise"``, ...); ``None`` for Pfister's.
    """

    name: str
    family: str
    aspect: str
    levels: tuple[int, ...]
    params: Mapping[int, Any] = field(hash=False)
    parameter: str
    implementation: str
    oracle: str
    reference: str
    attribute: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def allowed_levels(self) -> tuple[int, ...]:
        """Every valid level, 0 included, in increasing order."""
        return tuple(sorted((0, *self.levels)))

    def param(self, level: int) -> Any:
        """The parameter value of ``level`` (``None`` for the identity level 0)."""
        return None if level == 0 else self.params[level]

    def strength(self, level: int) -> float:
        """Signed intensity in [-1, 1]: ``level`` over the number of levels on its side.

        The regression target of Pfister et al.'s code (``IA.calc_loss``: ``change_steps``).
        """
        if level == 0:
            return 0.0
        side = [k for k in self.levels if (k > 0) == (level > 0)]
        return level / len(side)

    def describe_levels(self) -> str:
        """The allowed levels as one phrase for error messages."""
        return "0 (identity), " + ", ".join(str(k) for k in self.levels)


def _lv(values: list, negative: int = 0) -> dict[int, Any]:
    """Map a list of parameter values to levels: the first ``negative`` are -n..-1, rest 1..m."""
    neg, pos = values[:negative], values[negative:]
    out = {i - len(neg): v for i, v in enumerate(neg)}
    out.update({i + 1: v for i, v in enumerate(pos)})
    return out


_TECH_IMPL = "imagenet-c constants"
_COLISA = [-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0]

#: darktable ``temperature`` module coefficients (R, B; G = 1) for each Kelvin value: the float32
#: numbers encoded in Pfister's ``edit_image.py`` (``rangemapping``), decoded.
TEMPERATURE_GAINS = {
    2000: (0.2567247152328491, 31.670061111450195),
    3000: (0.4768344759941101, 3.1028201580047607),
    5000: (0.8294215798377991, 1.352281928062439),
    6000: (0.9501027464866638, 1.086534023284912),
    6500: (1.000166416168213, 1.0000537633895874),
    7000: (1.0439132452011108, 0.9332343339920044),
    8000: (1.1181668043136597, 0.835342288017273),
    10000: (1.2266486883163452, 0.7202125191688538),
    14000: (1.3557798862457275, 0.6152710914611816),
    18000: (1.4286518096923828, 0.5676750540733337),
}
#: The same for the tint values.
TINT_GAINS = {
    0.75: (3.3341517448425293, 1.7440094947814941),
    0.8: (2.3864033222198486, 1.5480237007141113),
    0.85: (1.8268951177597046, 1.3808363676071167),
    0.9: (1.4576221704483032, 1.236534595489502),
    0.95: (1.1956599950790405, 1.1107200384140015),
    1.0: (1.000166416168213, 1.0000537633895874),
    1.05: (0.8486917018890381, 0.9019556641578674),
    1.1: (0.7278724908828735, 0.8143993020057678),
    1.15: (0.6292582750320435, 0.7357724905014038),
    1.2: (0.5472423434257507, 0.6647751927375793),
    1.25: (0.4779597818851471, 0.6003484725952148),
}


def _pfister() -> list[Distortion]:
    t, s, c = "technical", "style", "composition"
    ic = "imagecorruptions.corrupt (imagenet-c)"
    records = [
        (
            t,
            "jpeg_compression",
            _lv([25, 18, 15, 10, 7]),
            "JPEG quality",
            "8-bit JPEG encode/decode: torchvision (libjpeg-turbo on CPU, nvjpeg on CUDA)",
            ic,
        ),
        (
            t,
            "defocus_blur",
            _lv([(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]),
            "(disk radius px, anti-alias sigma)",
            "imagenet-c disk kernel, batched FFT correlation, reflect-101 border",
            ic,
        ),
        (
            t,
            "motion_blur",
            _lv([(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]),
            "(radius px, sigma px); angle ~ U(-45°, 45°)",
            "imagenet-c shifted copies as one dense kernel per sample, batched FFT correlation",
            ic,
        ),
        (
            t,
            "pixelate",
            _lv([0.6, 0.5, 0.4, 0.3, 0.25]),
            "scale factor",
            "Pillow BOX down (avg_pool or weight matrices), nearest-exact up",
            "Pillow BOX resize down and up",
        ),
        (
            t,
            "gaussian_noise",
            _lv([0.08, 0.12, 0.18, 0.26, 0.38]),
            "noise sigma on [0, 1]",
            "x + sigma * randn, clip",
            ic,
        ),
        (
            t,
            "impulse_noise",
            _lv([0.03, 0.06, 0.09, 0.17, 0.27]),
            "salt-and-pepper amount",
            "per element: u < amount/2 -> 0, u < amount -> 1",
            "skimage random_noise s&p (as imagenet-c)",
        ),
        (
            s,
            "brightness",
            _lv(_COLISA, 5),
            "colisa brightness",
            "darktable colisa in Lab (D50): L <- 100 (L/100)^gamma",
            "NumPy darktable colisa",
        ),
        (
            s,
            "contrast",
            _lv(_COLISA, 5),
            "colisa contrast",
            "darktable colisa in Lab (D50): linear / sigmoid curve on L",
            "NumPy darktable colisa",
        ),
        (
            s,
            "saturation",
            _lv(_COLISA, 5),
            "colisa saturation",
            "darktable colisa in Lab (D50): a, b <- (1 + s) a, b",
            "NumPy darktable colisa",
        ),
        (
            s,
            "exposure",
            _lv([-3.0, -2.4, -1.8, -1.2, -0.6, 0.6, 1.2, 1.8, 2.4, 3.0], 5),
            "EV",
            "darktable exposure: encoded RGB x 2^EV, clip",
            "NumPy darktable exposure",
        ),
        (
            s,
            "shadows",
            _lv([-100, -60, -20, 20, 40, 60, 80, 100], 5),
            "shadhi shadows (highlights +100 as in Pfister's XMP)",
            "darktable shadhi (gaussian), IIR blur as matrices",
            "NumPy darktable shadhi (recursive IIR)",
        ),
        (
            s,
            "highlights",
            _lv([-100, -80, -60, -40, -20, 20, 60, 100], 3),
            "shadhi highlights (shadows +50 as in Pfister's XMP)",
            "darktable shadhi (gaussian), IIR blur as matrices",
            "NumPy darktable shadhi (recursive IIR)",
        ),
        (
            s,
            "temperature",
            _lv([2000, 3000, 5000, 6000, 7000, 8000, 10000, 14000, 18000], 4),
            "white balance K (R, B gains of Pfister's XMP)",
            "darktable temperature: encoded RGB x (R, 1, B), clip",
            "NumPy darktable temperature",
        ),
        (
            s,
            "tint",
            _lv([0.75, 0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2, 1.25], 5),
            "white balance tint (R, B gains of Pfister's XMP)",
            "darktable temperature: encoded RGB x (R, 1, B), clip",
            "NumPy darktable temperature",
        ),
        (
            s,
            "vibrance",
            _lv([0, 20, 40, 60, 80, 100], 2),
            "vibrance amount",
            "darktable vibrance in Lab (D50)",
            "NumPy darktable vibrance",
        ),
        (
            c,
            "rotate",
            _lv([-10, -8, -6, -4, -2, 2, 4, 6, 8, 10], 5),
            "degrees counter-clockwise",
            "bicubic grid_sample, crop for 10°, antialiased resize",
            "Pillow rotate(BICUBIC, expand) + crop + resize",
        ),
        (
            c,
            "hcrop",
            _lv([-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0], 5),
            "window shift, fraction of the distance to the border (horizontal)",
            "integer window of the 1.5x canvas (gather)",
            "Pillow crop",
        ),
        (
            c,
            "vcrop",
            _lv([-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0], 5),
            "window shift, fraction of the distance to the border (vertical, + is up)",
            "integer window of the 1.5x canvas (gather)",
            "Pillow crop",
        ),
        (
            c,
            "leftcornerscrop",
            _lv([-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0], 5),
            "diagonal window shift to the left (+ up, - down)",
            "integer window of the 1.5x canvas (gather)",
            "Pillow crop",
        ),
        (
            c,
            "rightcornerscrop",
            _lv([-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0], 5),
            "diagonal window shift to the right (+ up, - down)",
            "integer window of the 1.5x canvas (gather)",
            "Pillow crop",
        ),
        (
            c,
            "ratio",
            _lv([-2.0, -1.8, -1.6, -1.4, -1.2, 1.2, 1.4, 1.6, 1.8, 2.0], 5),
            "stretch factor (+ height, - width), centre-cropped back",
            "antialiased bilinear resize + centre crop",
            "Pillow resize + centre crop",
        ),
    ]
    return [
        Distortion(
            name=n,
            family="pfister2021",
            aspect=a,
            levels=tuple(sorted(p)),
            params=p,
            parameter=u,
            implementation=i,
            oracle=o,
            reference=PFISTER,
        )
        for a, n, p, u, i, o in records
    ]


def _sheng() -> list[Distortion]:
    t, s, c = "technical", "style", "composition"
    records = [
        (
            "much noise",
            t,
            "sheng_jpeg",
            [60, 10],
            "JPEG quality",
            "8-bit JPEG encode/decode (as jpeg_compression)",
            "Pillow JPEG",
        ),
        (
            "much noise",
            t,
            "sheng_gaussian_noise",
            [0.2, 0.8],
            "noise variance on [0, 1]",
            "x + sqrt(var) * randn, clip",
            "NumPy normal",
        ),
        (
            "camera shake",
            c,
            "sheng_rotation",
            [90, 180, 270],
            "degrees counter-clockwise",
            "torch.rot90 (square images)",
            "numpy.rot90",
        ),
        (
            "soft / grainy",
            t,
            "sheng_downsampling",
            [4, 6],
            "scale factor",
            "antialiased bilinear down to floor(size/f), bilinear up",
            "Pillow BILINEAR down, up",
        ),
        (
            "soft / grainy",
            t,
            "sheng_quantization",
            [64, 8],
            "levels per channel",
            "round(x (n-1)) / (n-1)",
            "NumPy",
        ),
        (
            "soft / grainy",
            t,
            "sheng_pixelation",
            [4, 8],
            "block size px",
            "block mean (avg_pool2d, partial blocks at the border), nearest up",
            "NumPy block mean",
        ),
        (
            "poor lighting",
            s,
            "sheng_exposure",
            [0.5, 3.0],
            "intensity scale factor",
            "x * f, clip",
            "NumPy",
        ),
        (
            "fuzzy",
            t,
            "sheng_gaussian_blur",
            [0.2, 0.8],
            "sigma in percent of the image's short side",
            "separable Gaussian conv2d (4 sigma), reflect border",
            "scipy.ndimage.gaussian_filter",
        ),
        (
            "distracting",
            c,
            "sheng_patch_shuffle",
            [0.1, 0.5],
            "probability that a 2x2 patch has its pixels shuffled (Kang et al. 2017)",
            "per-patch Bernoulli + per-patch random permutation (argsort of uniforms)",
            "NumPy",
        ),
        (
            "distracting",
            c,
            "sheng_mixup",
            [0.1, 0.4],
            "weight of the other image",
            "(1 - a) x + a x_other, x_other = another sample of the batch",
            "NumPy",
        ),
    ]
    return [
        Distortion(
            name=n,
            family="sheng2020",
            aspect=a,
            levels=tuple(range(1, len(v) + 1)),
            params=_lv(v),
            parameter=u,
            implementation=i,
            oracle=o,
            reference=SHENG,
            attribute=attr,
        )
        for attr, a, n, v, u, i, o in records
    ]


_CATALOGUE: tuple[Distortion, ...] = (*_pfister(), *_sheng())
_BY_NAME = {d.name: d for d in _CATALOGUE}


def catalogue(family: str | None = None) -> list[Distortion]:
    """Every distortion record, in catalogue order, optionally of one family.

    The order is Table 1's: technical, style, composition for Pfister; Table 1's rows for Sheng.
    A distortion's position in ``catalogue("pfister2021")`` is its ``distortion`` index in
    :class:`harness.distortions.VariantBatch`.
    """
    if family is None:
        return list(_CATALOGUE)
    if family not in FAMILIES:
        raise DistortionError(f"unknown distortion family {family!r}; choose one of {FAMILIES}")
    return [d for d in _CATALOGUE if d.family == family]


def get(name: str) -> Distortion:
    """The record called ``name``; a one-line error with a suggestion if there is none."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        close = [n for n in _BY_NAME if str(name) in n] or difflib.get_close_matches(
            str(name), _BY_NAME, n=1, cutoff=0.5
        )
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DistortionError(
            f"unknown distortion {name!r}; {hint}available: {', '.join(_BY_NAME)}"
        ) from None
