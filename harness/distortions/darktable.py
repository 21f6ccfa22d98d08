"""Render Pfister's style filters with darktable itself, to check the tensor versions against it.

Writes an XMP sidecar with one history item — the module and parameters of Pfister et al.'s
``darktable_xmp/*.xmp`` and ``edit_image.py`` (encoded the same way: little-endian float32 hex) —
and runs ``darktable-cli`` (Debian's ``darktable`` 4.2 package). Nothing here is needed at
training time; ``python -m harness.distortions.darktable`` prints the PSNR of the fast and
reference backends against darktable for every style filter and level (docs/distortions.md).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from harness.distortions.catalogue import TEMPERATURE_GAINS, TINT_GAINS, get
from harness.distortions.style import SHADHI_RADIUS, SHADHI_REFERENCE_WIDTH

#: (modversion, iop_order) of each module, as in Pfister's sidecars.
MODULES = {
    "colisa": (1, 46),
    "exposure": (5, 21),
    "shadhi": (5, 49),
    "temperature": (3, 3),
    "vibrance": (2, 57),
}
#: Pfister's ``blendop_params`` (blending off, opacity 100 %).
_BLEND = (
    "00000000180000000000c842"
    + "0" * 32
    + "01"
    + "0" * 78
    + "0000803f0000803f0000000000000000" * 16
    + "0" * 48
)
_XMP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/"
   darktable:xmp_version="3" darktable:raw_params="0" darktable:auto_presets_applied="1"
   darktable:history_end="1" darktable:iop_order_version="5">
   <darktable:masks_history><rdf:Seq/></darktable:masks_history>
   <darktable:history><rdf:Seq>
    <rdf:li darktable:num="0" darktable:operation="{op}" darktable:enabled="1"
     darktable:modversion="{version}" darktable:params="{params}" darktable:multi_name=""
     darktable:multi_priority="0" darktable:iop_order="{order}.0000000000000"
     darktable:blendop_version="9" darktable:blendop_params="{blend}"/>
   </rdf:Seq></darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _f32(value: float) -> str:
    return struct.pack("<f", value).hex()


def module_params(name: str, level: int, width: int) -> tuple[str, str]:
    """``(operation, params hex)`` of Pfister filter ``name`` at ``level`` on a ``width``-px image.

    shadhi's fields: order, radius, shadows, whitepoint, highlights, reserved, compress,
    shadows/highlights colour correction, flags (127), low approximation, algorithm (gaussian).
    The radius is scaled to the image as the tensor version does (100 px per 1000 px of width).
    """
    value = get(name).params[level]
    if name in ("contrast", "brightness", "saturation"):
        i = ("contrast", "brightness", "saturation").index(name)
        return "colisa", "".join(_f32(value if k == i else 0.0) for k in range(3))
    if name == "exposure":
        return "exposure", "00000000" + _f32(0.0) + _f32(value) + _f32(50.0) + _f32(-4.0)
    if name == "vibrance":
        return "vibrance", _f32(value)
    if name in ("temperature", "tint"):
        red, blue = (TEMPERATURE_GAINS if name == "temperature" else TINT_GAINS)[value]
        return "temperature", _f32(red) + _f32(1.0) + _f32(blue) + "0000807f"
    shadows, highlights = (value, 100.0) if name == "shadows" else (50.0, value)
    radius = SHADHI_RADIUS * width / SHADHI_REFERENCE_WIDTH
    fields = [radius, shadows, 0.0, highlights, 0.0, 50.0, 100.0, 50.0]
    return "shadhi", (
        "00000000" + "".join(_f32(v) for v in fields) + "7f000000" + _f32(1e-6) + "00000000"
    )


def sidecar(name: str, level: int, width: int) -> str:
    """The XMP text that makes darktable apply Pfister filter ``name`` at ``level``."""
    op, params = module_params(name, level, width)
    version, order = MODULES[op]
    return _XMP.format(op=op, version=version, params=params, order=order, blend=_BLEND)


def available() -> bool:
    """Whether ``darktable-cli`` is on the PATH."""
    return shutil.which("darktable-cli") is not None


def render(image: np.ndarray, name: str, level: int) -> np.ndarray:
    """darktable's rendering of ``image`` (``(H, W, 3)`` uint8) under filter ``name`` at ``level``,
    as ``(H, W, 3)`` uint8 (8-bit PNG export)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, xmp, dst = Path(tmp, "in.png"), Path(tmp, "edit.xmp"), Path(tmp, "out.png")
        Image.fromarray(image).save(src)
        xmp.write_text(sidecar(name, level, image.shape[1]))
        cmd = [
            "darktable-cli",
            str(src),
            str(xmp),
            str(dst),
            "--core",
            "--library",
            ":memory:",
            "--configdir",
            str(Path(tmp, "config")),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if not dst.exists():
            raise RuntimeError(
                f"darktable-cli produced no output for {name} level {level}: "
                f"{(result.stdout + result.stderr).strip().splitlines()[-1:]}"
            )
        return np.asarray(Image.open(dst).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def main() -> None:  # pragma: no cover - needs darktable-cli
    import skimage.data
    import torch

    from harness.distortions import apply, catalogue

    photos = {n: getattr(skimage.data, n)() for n in ("astronaut", "coffee", "chelsea")}
    photos = {
        n: np.asarray(Image.fromarray(p).convert("RGB").resize((224, 224), Image.BILINEAR))
        for n, p in photos.items()
    }
    print("| filter | level | parameter | fast PSNR (dB) | reference PSNR (dB) |")
    print("|---|---|---|---|---|")
    for d in catalogue("pfister2021"):
        if d.aspect != "style":
            continue
        for level in d.levels:
            fast, ref = [], []
            for image in photos.values():
                target = render(image, d.name, level) / 255.0
                x = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255.0
                for backend, acc in (("fast", fast), ("reference", ref)):
                    y = apply(x, d.name, level, backend=backend)[0].permute(1, 2, 0).numpy()
                    acc.append(psnr(y, target))
            print(f"| {d.name} | {level} | {d.params[level]} | {min(fast):.1f} | {min(ref):.1f} |")


if __name__ == "__main__":  # pragma: no cover
    main()
