"""Drawing primitives for the procedural renderer: a camera-mapped canvas, value noise, shapes.

Everything here is vectorised NumPy on float32 and uses only +, -, *, /, sqrt, min/max and
indexing on image-sized arrays -- operations that IEEE 754 rounds the same on every machine -- so
a render is bit-identical across CPUs (no BLAS, no SIMD transcendental functions, no threads).

World coordinates: ``v`` runs down and ``u`` right, in units of the image height; the well-framed
camera sees ``v`` in [0, 1] and ``u`` in [0, aspect]. A :class:`Camera` pans and stretches that
view (the framing degradations); shapes are drawn in world coordinates, so a panned camera shows
the same scene from somewhere else.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

FLOAT = np.float32


def hsv(hue: float, sat: float, val: float) -> np.ndarray:
    """Colour from hue in degrees, saturation and value in [0, 1] -> (3,) float32 RGB."""
    r, g, b = colorsys.hsv_to_rgb((hue % 360.0) / 360.0, min(max(sat, 0.0), 1.0),
                                  min(max(val, 0.0), 1.0))
    return np.array([r, g, b], dtype=FLOAT)


def planes(colour: np.ndarray) -> np.ndarray:
    """A (3,) colour as (3, 1, 1), to broadcast over planar (3, H, W) images."""
    return np.asarray(colour, dtype=FLOAT).reshape(3, 1, 1)


def smoothstep(t: np.ndarray) -> np.ndarray:
    """3t^2 - 2t^3 for t in [0, 1] (a polynomial, so identical on every machine)."""
    return t * t * (3.0 - 2.0 * t)


def wave(t: np.ndarray) -> np.ndarray:
    """Smooth periodic function with period 1 and range [0, 1] (no sin, for bit-exactness)."""
    tri = np.abs((t - np.floor(t)) * 2.0 - 1.0)  # triangle wave, 1 at integers
    return smoothstep(tri)


@dataclass(frozen=True)
class Camera:
    """How the frame is placed on the world: a pan (world units) and a horizontal stretch."""

    pan_u: float = 0.0
    pan_v: float = 0.0
    stretch: float = 1.0


class Canvas:
    """A planar float32 (3, H, W) image plus the world coordinates of its pixel rows and columns.

    Planar, because per-channel arithmetic on contiguous planes is several times faster in NumPy
    than broadcasting a colour over an interleaved last axis of length 3.
    """

    def __init__(self, height: int, width: int, camera: Camera) -> None:
        self.height, self.width = height, width
        self.aspect = width / height
        self.scale = float(height)  # pixels per world unit (vertically)
        self.v = ((np.arange(height) + 0.5) / height + camera.pan_v).astype(np.float64)
        half = self.aspect / 2.0
        self.u = (((np.arange(width) + 0.5) / height - half) / camera.stretch + half
                  + camera.pan_u).astype(np.float64)
        self.image = np.empty((3, height, width), dtype=FLOAT)  # the sky fills it
        self.stretch = camera.stretch

    def rows(self, v0: float, v1: float) -> slice:
        """Pixel rows whose centres may fall within world v in [v0, v1] (one pixel of margin)."""
        a = int(np.searchsorted(self.v, v0 - 1.5 / self.scale))
        b = int(np.searchsorted(self.v, v1 + 1.5 / self.scale))
        return slice(a, b)

    def cols(self, u0: float, u1: float) -> slice:
        """Pixel columns whose centres may fall within world u in [u0, u1]."""
        margin = 1.5 / (self.scale * self.stretch)
        a = int(np.searchsorted(self.u, u0 - margin))
        b = int(np.searchsorted(self.u, u1 + margin))
        return slice(a, b)

    def region(self, u0: float, u1: float, v0: float, v1: float):
        """(rows, cols, vv (h, 1), uu (1, w)) for a world box, or None when it is off-canvas."""
        rs, cs = self.rows(v0, v1), self.cols(u0, u1)
        if rs.start >= rs.stop or cs.start >= cs.stop:
            return None
        vv = self.v[rs, None].astype(FLOAT)
        uu = self.u[None, cs].astype(FLOAT)
        return rs, cs, vv, uu

    def blend_rows(self, rs: slice, alpha: np.ndarray, fill) -> None:
        """Blend per-channel fields over full-width rows ``rs`` with coverage ``alpha`` (h, W).

        ``fill(c, out)`` writes channel c's colour field into the (h, W) buffer ``out``; one
        buffer is reused for all channels.
        """
        buf = np.empty(alpha.shape, dtype=FLOAT)
        for c in range(3):
            target = self.image[c, rs]
            fill(c, buf)
            buf -= target
            buf *= alpha
            target += buf

    def paint(self, rs: slice, cs: slice, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Alpha-blend ``colour`` ((3,) or (3, h, w)) over the region with coverage ``alpha``."""
        target = self.image[:, rs, cs]
        if colour.ndim == 1:
            for c in range(3):
                plane = target[c]
                plane += alpha * (colour[c] - plane)
        else:
            target += alpha * (colour - target)


# ---------------------------------------------------------------------------------------------
# Value noise: random lattices, interpolated separably (rows, then columns) at world coordinates.


def _interp_axis(grid: np.ndarray, coords: np.ndarray, axis: int, smooth: bool) -> np.ndarray:
    """Interpolate ``grid`` along ``axis`` at fractional lattice ``coords`` (1D, float64)."""
    n = grid.shape[axis]
    c = np.clip(coords, 0.0, n - 1.000001)
    i0 = c.astype(np.int64)
    t = (c - i0).astype(FLOAT)
    if smooth:
        t = smoothstep(t)
    shape = [1] * grid.ndim
    shape[axis] = -1
    a = np.take(grid, i0, axis=axis)
    b = np.take(grid, i0 + 1, axis=axis)
    b -= a  # in place: fresh large temporaries cost page faults
    b *= t.reshape(shape)
    b += a
    return b


_M1, _M2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)


def _hash32(x: np.ndarray) -> np.ndarray:
    """A 32-bit integer mixing function (Wellons' "lowbias32"); wraps, so exact everywhere."""
    x = x ^ (x >> np.uint32(16))
    x = x * _M1
    x = x ^ (x >> np.uint32(15))
    x = x * _M2
    return x ^ (x >> np.uint32(16))


def _lattice(key: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Pseudo-random values in [-0.5, 0.5) at integer lattice points rows x cols (1D int64)."""
    r = (rows.astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    c = (cols.astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    hr = _hash32(r + np.uint32(key & 0xFFFFFFFF))
    x = _hash32(hr[:, None] ^ _hash32(c * np.uint32(0x9E3779B1))[None, :])
    return (x >> np.uint32(8)).astype(FLOAT) * FLOAT(2.0**-24) - FLOAT(0.5)


@dataclass(frozen=True)
class Noise:
    """Fractal value noise over the whole (unbounded) world plane.

    Lattice values come from hashing integer lattice coordinates, so only the lattice points a
    frame can see are ever computed, and a panned camera sees the same texture shifted. Octave k
    has cells 2**k times larger; coarse octaves are upsampled onto the finest lattice first, so
    one interpolation to pixels yields all octaves.
    """

    key: int
    cell_u: float
    cell_v: float
    octaves: int = 4
    persistence: float = 0.5

    def _fine(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        rows, cols = np.arange(r0, r1 + 1), np.arange(c0, c1 + 1)
        total = _lattice(self.key, rows, cols)
        amp = norm = 1.0
        for k in range(1, self.octaves):
            step = 2**k
            cr = np.arange(r0 // step, r1 // step + 2)
            cc = np.arange(c0 // step, c1 // step + 2)
            coarse = _lattice(self.key + 7919 * k, cr, cc)
            up = _interp_axis(coarse, rows / step - cr[0], 0, True)
            up = _interp_axis(up, cols / step - cc[0], 1, True)
            amp /= self.persistence
            norm += amp
            total = total + up * FLOAT(amp)
        return total * FLOAT(1.6 / norm)

    def sample(self, vv: np.ndarray, uu: np.ndarray) -> np.ndarray:
        """Noise at world rows ``vv`` and columns ``uu`` (1D) -> (len(vv), len(uu)) float32.

        Roughly zero-mean with standard deviation ~0.3.
        """
        r = np.asarray(vv, np.float64).ravel() / self.cell_v
        c = np.asarray(uu, np.float64).ravel() / self.cell_u
        r0, c0 = int(np.floor(r.min())), int(np.floor(c.min()))
        fine = self._fine(r0, int(np.floor(r.max())) + 1, c0, int(np.floor(c.max())) + 1)
        out = _interp_axis(fine, r - r0, 0, True)
        return _interp_axis(out, c - c0, 1, True)

    def sample_1d(self, uu: np.ndarray, row: int = 0) -> np.ndarray:
        """A 1D profile along u (the lattice row ``row``) -> (len(uu),) float32."""
        return self.sample(np.array([row * self.cell_v]), uu)[0]


# ---------------------------------------------------------------------------------------------
# Anti-aliased coverage of simple shapes, evaluated on a region's (vv, uu) grids.


def ellipse_alpha(vv, uu, cu, cv, ru, rv, scale) -> np.ndarray:
    """Coverage in [0, 1] of an axis-aligned ellipse, with a one-pixel anti-aliased edge."""
    du = (uu - FLOAT(cu)) * FLOAT(1.0 / ru)
    dv = (vv - FLOAT(cv)) * FLOAT(1.0 / rv)
    f = du * du + dv * dv
    grad = np.sqrt(du * du * FLOAT(1.0 / (ru * ru)) + dv * dv * FLOAT(1.0 / (rv * rv)))
    sd = (f - 1.0) / (2.0 * grad + FLOAT(1e-6))  # signed distance in world units, <0 inside
    return np.clip(0.5 - sd * FLOAT(scale), 0.0, 1.0)


def polygon_alpha(vv, uu, points, scale) -> np.ndarray:
    """Coverage of a convex polygon given as [(u, v), ...] in either winding order."""
    pts = [(float(p[0]), float(p[1])) for p in points]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1]))
    sign = 1.0 if area > 0 else -1.0
    dist = None
    for (u0, v0), (u1, v1) in zip(pts, pts[1:] + pts[:1]):
        eu, ev = u1 - u0, v1 - v0
        length = (eu * eu + ev * ev) ** 0.5 or 1.0
        nu, nv = sign * ev / length, -sign * eu / length  # outward normal
        d = (uu - FLOAT(u0)) * FLOAT(nu) + (vv - FLOAT(v0)) * FLOAT(nv)
        dist = d if dist is None else np.maximum(dist, d)
    return np.clip(0.5 - dist * FLOAT(scale), 0.0, 1.0)


def rect_alpha(vv, uu, u0, u1, v0, v1, scale) -> np.ndarray:
    """Coverage of an axis-aligned rectangle (separable, so cheap)."""
    s = FLOAT(scale)
    cv = np.clip(np.minimum(vv - FLOAT(v0), FLOAT(v1) - vv) * s + 0.5, 0.0, 1.0)
    cu = np.clip(np.minimum(uu - FLOAT(u0), FLOAT(u1) - uu) * s + 0.5, 0.0, 1.0)
    return cv * cu


def shaded(colour: np.ndarray, vv, uu, cu, cv, size, light_u, light_v,
           strength: float = 0.35) -> np.ndarray:
    """``colour`` lit by a linear gradient across a shape towards the light -> (3, h, w)."""
    g = ((uu - FLOAT(cu)) * FLOAT(light_u) + (vv - FLOAT(cv)) * FLOAT(light_v)) * FLOAT(
        strength / size)
    lit = np.clip(1.0 + g, 0.4, 1.6)
    return planes(colour) * lit
