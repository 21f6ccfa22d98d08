"""Procedural photo-like scenes: sky, sun, clouds, ridges, ground, background objects, a subject.

A :class:`Scene` is sampled from (seed, index) alone and laid out for a well-composed photo: the
horizon on a third, the subject's centre on a rule-of-thirds point, an analogous or softly
complementary palette. :func:`draw` renders it through a :class:`~.canvas.Camera` (the framing
degradations move the camera, not the scene) with an optionally degraded palette.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from harness.synthetic.canvas import (
    FLOAT,
    Camera,
    Canvas,
    ellipse_alpha,
    Noise,
    hsv,
    planes,
    wave,
)
from harness.synthetic.subjects import draw_subject, draw_tree, subject_extent

KINDS = ("meadow", "desert", "sea", "snow", "city")
SKIES = ("day", "golden", "dusk", "overcast")
SUBJECTS = {
    "meadow": ("tree", "house", "figure", "balloon", "conifer"),
    "desert": ("rock", "figure", "balloon"),
    "sea": ("sailboat", "lighthouse", "balloon"),
    "snow": ("conifer", "house", "figure"),
    "city": ("tower", "figure", "balloon"),
}
HSV = tuple[float, float, float]


@dataclass(frozen=True)
class Palette:
    """Scene colours as (hue in degrees, saturation, value) triples."""

    sky_top: HSV
    sky_horizon: HSV
    sun: HSV
    light: HSV
    cloud: HSV
    far: HSV
    near: HSV
    ground_a: HSV
    ground_b: HSV
    subject: HSV
    subject_2: HSV
    subject_3: HSV


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw one scene; sampled by :func:`sample_scene`."""

    kind: str
    sky: str
    palette: Palette
    horizon: float
    sun: tuple[float, float, float] | None  # (u, v, radius) or None when overcast
    clouds: float  # cloud cover in [0, 1]
    ridges: tuple[tuple[float, float], ...]  # (height above horizon, roughness), far to near
    treeline: float  # height of a distant tree line, 0 for none
    buildings: tuple[tuple[float, float, float], ...]  # skyline: (u0, u1, height)
    props: tuple[tuple[str, float, float, float], ...]  # background objects (type, u, base, size)
    subject: tuple[str, float, float, float]  # (type, centre u, centre v, size)
    tone: tuple[float, float, float]  # target mean luma, luma std, mean chroma
    vignette: float
    texture_key: int


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _sample_palette(rng: np.random.Generator, kind: str, sky: str) -> Palette:
    if sky == "day":
        top = (_u(rng, 204, 222), _u(rng, 0.5, 0.72), _u(rng, 0.72, 0.86))
        horizon = (top[0] - _u(rng, 5, 20), _u(rng, 0.15, 0.3), _u(rng, 0.92, 0.98))
        sun, light, cloud = (50, 0.12, 1.0), (45, 0.06, 1.0), (210, 0.03, 0.98)
    elif sky == "golden":
        top = (_u(rng, 205, 225), _u(rng, 0.3, 0.48), _u(rng, 0.66, 0.8))
        horizon = (_u(rng, 28, 45), _u(rng, 0.4, 0.6), _u(rng, 0.95, 1.0))
        sun, light, cloud = (42, 0.3, 1.0), (36, 0.25, 1.0), (30, 0.16, 0.98)
    elif sky == "dusk":
        top = (_u(rng, 240, 270), _u(rng, 0.3, 0.48), _u(rng, 0.45, 0.6))
        horizon = (_u(rng, 12, 32), _u(rng, 0.5, 0.68), _u(rng, 0.92, 0.98))
        sun, light, cloud = (28, 0.45, 1.0), (22, 0.35, 0.95), (335, 0.22, 0.85)
    else:  # overcast
        top = (_u(rng, 200, 220), _u(rng, 0.05, 0.12), _u(rng, 0.66, 0.76))
        horizon = (top[0] - 8, _u(rng, 0.03, 0.08), _u(rng, 0.84, 0.9))
        sun, light, cloud = (50, 0.05, 0.95), (210, 0.04, 0.92), (210, 0.03, 0.9)

    if kind == "meadow":
        ga = (_u(rng, 75, 120), _u(rng, 0.45, 0.62), _u(rng, 0.42, 0.58))
        gb = (ga[0] + rng.choice([-1, 1]) * _u(rng, 18, 35), _u(rng, 0.4, 0.6), _u(rng, 0.5, 0.65))
    elif kind == "desert":
        ga = (_u(rng, 28, 42), _u(rng, 0.35, 0.5), _u(rng, 0.74, 0.86))
        gb = (ga[0] - _u(rng, 4, 10), _u(rng, 0.45, 0.58), _u(rng, 0.6, 0.7))
    elif kind == "sea":
        ga = (_u(rng, 195, 215), _u(rng, 0.5, 0.7), _u(rng, 0.3, 0.42))
        gb = (ga[0] - 10, _u(rng, 0.08, 0.15), _u(rng, 0.85, 0.95))
    elif kind == "snow":
        ga = (_u(rng, 200, 215), _u(rng, 0.04, 0.1), _u(rng, 0.9, 0.97))
        gb = (ga[0] + 8, _u(rng, 0.1, 0.18), _u(rng, 0.78, 0.86))
    else:  # city
        ga = (_u(rng, 20, 40), _u(rng, 0.06, 0.14), _u(rng, 0.45, 0.55))
        gb = (ga[0], _u(rng, 0.04, 0.1), _u(rng, 0.6, 0.68))

    far = (0.5 * (horizon[0] + top[0]) if sky != "day" else top[0], _u(rng, 0.12, 0.28),
           _u(rng, 0.58, 0.74))
    near = (ga[0] if kind in ("meadow", "desert") else top[0] - 10, _u(rng, 0.25, 0.45),
            _u(rng, 0.3, 0.45))
    if kind == "sea":
        near = (_u(rng, 80, 130), _u(rng, 0.3, 0.45), _u(rng, 0.3, 0.42))  # a green island
    # Subject colour: either analogous to the ground, or a soft complement of the sky/ground.
    if rng.random() < 0.5:
        sh = ga[0] + rng.choice([-1, 1]) * _u(rng, 15, 40)
    else:
        sh = (ga[0] if kind in ("meadow", "desert") else top[0]) + 180 + _u(rng, -20, 20)
    subject = (sh, _u(rng, 0.55, 0.8), _u(rng, 0.7, 0.9))
    subject_2 = (sh + rng.choice([-1, 1]) * _u(rng, 20, 40), _u(rng, 0.5, 0.75),
                 _u(rng, 0.45, 0.7))
    subject_3 = (_u(rng, 20, 35), _u(rng, 0.35, 0.55), _u(rng, 0.25, 0.4))  # wood / earth
    return Palette(top, horizon, sun, light, cloud, far, near, ga, gb, subject, subject_2,
                   subject_3)


def sample_scene(seed: int, index: int, aspect: float) -> Scene:
    """The well-composed scene number ``index`` of ``seed`` for a frame of width/height ``aspect``.

    Only the layout's frame-relative placement (thirds) depends on ``aspect``; content depends on
    (seed, index) alone.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 0]))
    kind = KINDS[int(rng.integers(len(KINDS)))]
    sky = SKIES[int(rng.choice(4, p=[0.4, 0.25, 0.15, 0.2]))]
    palette = _sample_palette(rng, kind, sky)
    a = aspect

    horizon = (1 / 3 if rng.random() < 0.5 else 2 / 3) + _u(rng, -0.03, 0.03)
    stype = SUBJECTS[kind][int(rng.integers(len(SUBJECTS[kind])))]
    if stype in ("tree", "conifer"):  # foliage: greens analogous to the ground, or autumn
        hue = palette.ground_a[0] + _u(rng, -25, 25) if rng.random() < 0.6 else _u(rng, 18, 45)
        palette = dataclasses.replace(palette, subject=(hue, _u(rng, 0.45, 0.7), _u(rng, 0.45,
                                                                                    0.65)))
    left = rng.random() < 0.5
    cu = a / 3 if left else 2 * a / 3
    size = _u(rng, 0.3, 0.5)
    if stype == "balloon":
        cv, size = 1 / 3, size * 0.7
    elif stype == "figure":
        cv, size = 2 / 3, size * 0.75
    else:
        cv = 2 / 3 if horizon < 0.5 or rng.random() < 0.5 else 1 / 3
        if cv - horizon < -0.05:  # a grounded subject must stand below the horizon
            cv = 2 / 3
    # The sun sits away from the subject, on the other side of the frame.
    sun = None
    if sky != "overcast":
        su = (a * _u(rng, 0.62, 0.92)) if left else (a * _u(rng, 0.08, 0.38))
        sv = horizon - (_u(rng, 0.02, 0.12) if sky in ("golden", "dusk")
                        else _u(rng, 0.15, 0.4))
        sun = (su, max(sv, 0.06), _u(rng, 0.03, 0.06))
    clouds = _u(rng, 0.55, 0.9) if sky == "overcast" else _u(rng, 0.0, 0.6)

    ridges: list[tuple[float, float]] = []
    treeline = 0.0
    buildings: list[tuple[float, float, float]] = []
    if kind in ("meadow", "desert", "snow") or (kind == "sea" and rng.random() < 0.5):
        n = int(rng.integers(1, 3)) if kind != "sea" else 1
        for i in range(n):
            tall = 0.2 if kind == "snow" else (0.06 if kind == "sea" else 0.12)
            ridges.append((_u(rng, 0.4, 1.0) * tall * (1.0 - 0.35 * i),
                           0.9 if kind == "snow" else _u(rng, 0.3, 0.6)))
    if kind == "meadow" and rng.random() < 0.6:
        treeline = _u(rng, 0.02, 0.05)
    if kind == "city":
        u = -a - 1.0
        while u < 2 * a + 1.0:
            width = _u(rng, 0.06, 0.2)
            buildings.append((u, u + width, _u(rng, 0.06, 0.3)))
            u += width + (_u(rng, 0.0, 0.04) if rng.random() < 0.3 else 0.0)

    props: list[tuple[str, float, float, float]] = []
    if kind in ("meadow", "snow", "desert"):
        for _ in range(int(rng.integers(0, 5))):
            pu = _u(rng, -0.3, a + 0.3)
            if abs(pu - cu) < 0.15:
                continue
            base = horizon + _u(rng, 0.01, 0.12)
            ptype = {"meadow": "tree", "snow": "conifer", "desert": "rock"}[kind]
            props.append((ptype, pu, base, (base - horizon) * _u(rng, 1.2, 2.2) + 0.03))

    tone = (_u(rng, 0.42, 0.52), _u(rng, 0.17, 0.22), _u(rng, 0.16, 0.24))
    return Scene(kind, sky, palette, horizon, sun, clouds, tuple(ridges), treeline,
                 tuple(buildings), tuple(props), (stype, cu, cv, size), tone,
                 _u(rng, 0.0, 0.25), int(rng.integers(2**31)))


# ---------------------------------------------------------------------------------------------
# Drawing


def degrade_palette(palette: Palette, dull: float, clash: float, clash_hue: float) -> Palette:
    """Dull (desaturate, muddy) and/or clash (swing the subject and ground hues apart)."""

    def fix(name: str, c: HSV) -> HSV:
        h, s, v = c
        if clash > 0 and name in ("subject", "subject_2"):
            h, s = h + clash * clash_hue, s + clash * (1.0 - s) * 0.8
        elif clash > 0 and name in ("ground_a", "ground_b", "near"):
            h = h - clash * clash_hue * 0.6
        s = s * (1.0 - 0.75 * dull)
        v = v * (1.0 - 0.25 * dull) + 0.08 * dull
        return (h, s, v)

    return Palette(**{f.name: fix(f.name, getattr(palette, f.name))
                      for f in dataclasses.fields(palette)})


def draw(scene: Scene, height: int, width: int, camera: Camera = Camera(),
         palette: Palette | None = None) -> np.ndarray:
    """Render ``scene`` into a planar (3, height, width) float32 image, roughly in [0, 1]."""
    pal = palette or scene.palette
    cv = Canvas(height, width, camera)
    col = {f.name: hsv(*getattr(pal, f.name)) for f in dataclasses.fields(pal)}
    light = col["light"]
    for name in ("far", "near", "ground_a", "ground_b", "subject", "subject_2", "subject_3"):
        col[name] = col[name] * light
    key = scene.texture_key * 8
    clouds = Noise(key, 0.05, 0.025, 4, 0.55)
    ground = Noise(key + 1, 0.03, 0.012, 3, 0.6)
    profile = Noise(key + 2, 0.03, 0.03, 5, 0.5)
    hz = scene.horizon
    scale = cv.scale

    # Sky: a vertical gradient from the horizon colour up to the zenith colour.
    t = np.clip((hz - cv.v) / (hz + 0.3), 0.0, 1.0).astype(FLOAT)
    t = 1.0 - (1.0 - t) * (1.0 - t)
    cv.image[:] = (planes(col["sky_horizon"]) + planes(col["sky_top"] - col["sky_horizon"])
                   * t[None, :, None])

    if scene.sun is not None:
        su, sv, sr = scene.sun
        reg = cv.region(su - 0.7, su + 0.7, sv - 0.7, min(sv + 0.7, hz))
        if reg is not None:
            rs, cs, vv, uu = reg
            d2 = (uu - FLOAT(su)) ** 2 + ((vv - FLOAT(sv)) * FLOAT(1.3)) ** 2
            glow = np.clip(1.0 - d2 * FLOAT(1 / 0.49), 0.0, 1.0)
            glow = glow * glow * FLOAT(0.35 if scene.sky != "day" else 0.2)
            cv.image[:, rs, cs] += planes(col["sun"]) * glow
            cv.paint(rs, cs, ellipse_alpha(vv, uu, su, sv, sr, sr, scale), col["sun"])

    if scene.clouds > 0.02:
        rs = cv.rows(-10.0, hz)
        if rs.stop > rs.start:
            n = clouds.sample(cv.v[rs], cv.u)
            thr = FLOAT(0.25 - 0.4 * scene.clouds)
            fade = np.clip((FLOAT(hz) - cv.v[rs].astype(FLOAT)) * FLOAT(6.0), 0.0, 1.0)
            dens = n - thr
            dens *= FLOAT(3.0)
            np.clip(dens, 0.0, 0.9, out=dens)
            dens *= fade[:, None]
            cloud = col["cloud"]

            def fill(c, out, n=n, cloud=cloud):
                np.multiply(n, FLOAT(0.5) * cloud[c], out=out)
                out += FLOAT(0.9) * cloud[c]

            cv.blend_rows(rs, dens, fill)

    # Ridges, far (hazy, pale) to near; snow-capped when the scene is a snowy one.
    for i, (tall, rough) in enumerate(scene.ridges):
        p = profile.sample_1d(cv.u, row=1 + 2 * i)
        base = FLOAT(hz) - FLOAT(tall) * (0.55 + FLOAT(1.4 * rough) * p)
        rs = cv.rows(float(base.min()), hz)
        if rs.stop <= rs.start:
            continue
        vv = cv.v[rs, None].astype(FLOAT)
        alpha = np.clip((vv - base[None, :]) * FLOAT(scale) + 0.5, 0.0, 1.0)
        mix = 0.55 * (1.0 - i / max(len(scene.ridges), 1))
        c = col["far"] + (col["near"] - col["far"]) * FLOAT(1.0 - mix)
        c = c + (col["sky_horizon"] - c) * FLOAT(mix * 0.6)
        depth = np.clip((vv - base[None, :]) * FLOAT(1.0 / max(tall, 1e-3)), 0.0, 1.0)
        shade = FLOAT(1.1) - FLOAT(0.25) * depth
        cap = (np.clip(FLOAT(0.55) - depth * FLOAT(2.5), 0.0, 1.0) if scene.kind == "snow"
               else None)

        def fill(ch, out, c=c, shade=shade, cap=cap):
            np.multiply(shade, c[ch], out=out)
            if cap is not None:  # snow caps: out += cap * (snow - out)
                out += cap * (col["ground_a"][ch] - out)

        cv.blend_rows(rs, alpha, fill)

    if scene.treeline > 0:
        bumps = profile.sample_1d(cv.u * 4.0, row=0)
        top = FLOAT(hz) - FLOAT(scene.treeline) * (0.6 + 1.2 * bumps)
        rs = cv.rows(float(top.min()), hz)
        vv = cv.v[rs, None].astype(FLOAT)
        alpha = np.clip((vv - top[None, :]) * FLOAT(scale) + 0.5, 0.0, 1.0)
        c = col["near"] * FLOAT(0.7)
        cv.paint(rs, slice(None), alpha, c + (col["sky_horizon"] - c) * FLOAT(0.25))

    if scene.buildings:
        top = np.full(width, hz, dtype=FLOAT)
        shade = np.ones(width, dtype=FLOAT)
        for k, (u0, u1, tall) in enumerate(scene.buildings):
            cs = slice(int(np.searchsorted(cv.u, u0)), int(np.searchsorted(cv.u, u1)))
            top[cs] = hz - tall
            shade[cs] = 0.8 + 0.08 * (k % 4)
        rs = cv.rows(float(top.min()), hz)
        vv = cv.v[rs, None].astype(FLOAT)
        alpha = np.clip((vv - top[None, :]) * FLOAT(scale) + 0.5, 0.0, 1.0)
        windows = (wave(vv * FLOAT(45.0)) > 0.6) & (wave(cv.u[None, :].astype(FLOAT) * 60.0) > 0.5)
        base_c = col["far"] + (col["subject_3"] - col["far"]) * FLOAT(0.3)
        colour = planes(base_c) * (shade[None, :] * (1.0 + FLOAT(0.3) * windows))
        cv.paint(rs, slice(None), alpha, colour)

    _draw_ground(cv, scene, col, ground)

    for ptype, pu, base, size in scene.props:
        haze = float(np.clip(1.2 - 12 * (base - hz), 0.0, 0.6))
        draw_tree(cv, ptype, pu, base, size, col, haze)

    stype, su_, sv_, size = scene.subject
    light_u = 1.0 if (scene.sun is None or scene.sun[0] > su_) else -1.0
    draw_subject(cv, stype, su_, sv_, size, col, light_u, hz, texture=ground)

    if scene.vignette > 0:
        yy = ((np.arange(height, dtype=FLOAT) + 0.5) / height - 0.5) * 2.0
        xx = ((np.arange(width, dtype=FLOAT) + 0.5) / width - 0.5) * 2.0
        r2 = yy[:, None] ** 2 * FLOAT(0.5) + xx[None, :] ** 2 * FLOAT(0.5)
        r2 *= r2
        r2 *= -FLOAT(scene.vignette)
        r2 += FLOAT(1.0)
        cv.image *= r2
    return cv.image


def _draw_ground(cv: Canvas, scene: Scene, col: dict, field: Noise) -> None:
    """Ground below the horizon: perspective bands, blotchy texture, haze near the horizon.

    Written channel by channel straight into the canvas rows (fresh image-sized temporaries
    cost page faults); only the few anti-aliased horizon rows are blended.
    """
    hz = scene.horizon
    rs = cv.rows(hz, 10.0)
    if rs.stop <= rs.start:
        return
    edge = min(3, rs.stop - rs.start)
    old = cv.image[:, rs.start:rs.start + edge].copy()
    v = cv.v[rs].astype(FLOAT)
    z = np.maximum(v - FLOAT(hz), 0.0)  # 0 at the horizon, growing towards the viewer
    haze = FLOAT(0.7) / (FLOAT(1.0) + z * FLOAT(25.0))  # (h,) share of the horizon colour
    near = np.clip(z * FLOAT(6.0), 0.0, 1.0)
    dst = cv.image[:, rs]
    if scene.kind == "sea":
        mirrored = np.clip(z * FLOAT(1.0 / (hz + 0.3)), 0.0, 1.0)
        mirrored = 1.0 - (1.0 - mirrored) ** 2
        refl = (col["sky_horizon"][:, None] + (col["sky_top"] - col["sky_horizon"])[:, None]
                * mirrored[None, :]) * FLOAT(0.75)  # (3, h)
        base = refl + (col["ground_a"][:, None] - refl) * (near * FLOAT(0.6))[None, :]
        shade = field.sample(cv.v[rs] * 3.0, cv.u * 0.15)  # ripples
        glint = None
        if scene.sun is not None:
            width = FLOAT(0.02) + z * FLOAT(0.5)
            du = np.abs(cv.u[None, :].astype(FLOAT) - FLOAT(scene.sun[0])) / width[:, None]
            glint = np.clip(1.0 - du, 0.0, 1.0)
            glint *= np.clip(shade * FLOAT(4.0), 0.0, 1.0)
        shade *= (FLOAT(0.15) + FLOAT(0.25) * near)[:, None]
        shade += FLOAT(1.0)
        for c in range(3):
            np.multiply(shade, base[c][:, None], out=dst[c])
            if glint is not None:
                dst[c] += glint * (FLOAT(0.6) * col["sun"][c])
    else:
        depth = FLOAT(1.0) / (z + FLOAT(0.02))
        band = wave(depth * FLOAT(0.08 if scene.kind != "city" else 0.05))
        base = col["ground_a"][:, None] + (col["ground_b"] - col["ground_a"])[:, None] * band
        amp = FLOAT(0.12 if scene.kind != "snow" else 0.05) + FLOAT(0.25) * near
        shade = field.sample(cv.v[rs], cv.u)
        shade *= amp[:, None]
        shade += FLOAT(1.0)
        if scene.kind in ("meadow", "desert"):
            grain = _grain(cv, rs, scene)
            grain *= (near * FLOAT(0.3))[:, None]
            shade += grain
        for c in range(3):
            np.multiply(shade, base[c][:, None], out=dst[c])
    keep = FLOAT(1.0) - haze
    for c in range(3):  # haze: dst += haze * (0.9 * horizon colour - dst)
        dst[c] *= keep[:, None]
        dst[c] += (haze * FLOAT(0.9) * col["sky_horizon"][c])[:, None]
    alpha = np.clip(z[:edge] * FLOAT(cv.scale) + 0.5, 0.0, 1.0)[None, :, None]
    top = cv.image[:, rs.start:rs.start + edge]
    top[...] = old + alpha * (top - old)


def _grain(cv: Canvas, rs: slice, scene: Scene) -> np.ndarray:
    """Fine zero-mean texture: vertical grass blades (meadow) or horizontal sand ripples."""
    rng = np.random.default_rng(np.random.SeedSequence([scene.texture_key, 1]))
    g = rng.random((rs.stop - rs.start + 2, cv.width + 2), dtype=FLOAT)
    if scene.kind == "meadow":
        out = g[:-2, 1:-1] + g[1:-1, 1:-1] + g[2:, 1:-1]
    else:
        out = g[1:-1, :-2] + g[1:-1, 1:-1] + g[1:-1, 2:]
    return out * FLOAT(1 / 3) - FLOAT(0.5)


__all__ = ["Scene", "Palette", "sample_scene", "draw", "degrade_palette", "subject_extent",
           "KINDS", "SKIES", "Camera"]
