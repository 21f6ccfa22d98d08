"""The main subject and small background objects, built from ellipses, rectangles and polygons.

A subject of type ``stype`` is given by its centre (cu, cv) and total height ``h`` in world
units; grounded subjects stand on ``cv + h / 2``. Each drawer only touches its bounding box.
"""

from __future__ import annotations

import numpy as np

from harness.synthetic.canvas import (
    FLOAT,
    Canvas,
    ellipse_alpha,
    hsv,
    planes,
    polygon_alpha,
    rect_alpha,
    shaded,
    wave,
)

GROUNDED = ("tree", "conifer", "house", "figure", "rock", "sailboat", "lighthouse", "tower")


def subject_extent(stype: str, cu: float, cv: float, h: float) -> tuple[float, float, float,
                                                                         float]:
    """World bounding box (u0, u1, v0, v1) of a subject."""
    half_w = {"house": 0.56, "sailboat": 0.46, "rock": 0.6, "lighthouse": 0.42, "balloon": 0.33,
              "figure": 0.13, "tower": 0.15}.get(stype, 0.4) * h
    return cu - half_w, cu + half_w, cv - h / 2, cv + h / 2


def _box(cv: Canvas, u0, u1, v0, v1):
    return cv.region(u0, u1, v0, v1)


def _ellipse(cv, cu, cvv, ru, rv, colour, light_u=0.0, strength=0.35, texture=None):
    reg = _box(cv, cu - ru, cu + ru, cvv - rv, cvv + rv)
    if reg is None:
        return
    rs, cs, vv, uu = reg
    alpha = ellipse_alpha(vv, uu, cu, cvv, ru, rv, cv.scale)
    c = shaded(colour, vv, uu, cu, cvv, max(ru, rv), light_u * 0.8, -0.6, strength)
    if texture is not None:
        c = c * (1.0 + texture.sample(cv.v[rs] * 1.6, cv.u[cs] * 4.0) * FLOAT(0.5))
    cv.paint(rs, cs, alpha, c)


def _rect(cv, u0, u1, v0, v1, colour, light_u=0.0, strength=0.25):
    reg = _box(cv, u0, u1, v0, v1)
    if reg is None:
        return
    rs, cs, vv, uu = reg
    alpha = rect_alpha(vv, uu, u0, u1, v0, v1, cv.scale)
    c = shaded(colour, vv, uu, (u0 + u1) / 2, (v0 + v1) / 2, max(u1 - u0, v1 - v0), light_u * 0.8,
               -0.3, strength)
    cv.paint(rs, cs, alpha, c)


def _poly(cv, points, colour, light_u=0.0, strength=0.3):
    us = [p[0] for p in points]
    vs = [p[1] for p in points]
    reg = _box(cv, min(us), max(us), min(vs), max(vs))
    if reg is None:
        return None
    rs, cs, vv, uu = reg
    alpha = polygon_alpha(vv, uu, points, cv.scale)
    c = shaded(colour, vv, uu, sum(us) / len(us), sum(vs) / len(vs),
               max(max(us) - min(us), max(vs) - min(vs)), light_u * 0.8, -0.5, strength)
    cv.paint(rs, cs, alpha, c)
    return rs, cs, vv, uu, alpha


def _shadow(cv, cu, base, h, light_u):
    reg = _box(cv, cu - 0.9 * h, cu + 0.9 * h, base - 0.06 * h, base + 0.06 * h)
    if reg is None:
        return
    rs, cs, vv, uu = reg
    alpha = ellipse_alpha(vv, uu, cu - light_u * 0.3 * h, base, 0.5 * h, 0.05 * h, cv.scale * 0.25)
    cv.paint(rs, cs, alpha * FLOAT(0.35), np.zeros(3, FLOAT))


def _foliage_tree(cv, cu, base, h, leaves, trunk, light_u, texture):
    top = base - h
    _rect(cv, cu - 0.045 * h, cu + 0.045 * h, base - 0.55 * h, base, trunk, light_u)
    for du, dv, r in ((-0.17, 0.45, 0.21), (0.17, 0.45, 0.21), (0.0, 0.3, 0.29)):
        _ellipse(cv, cu + du * h, top + dv * h, r * h * 1.05, r * h * 0.95, leaves, light_u,
                 0.45, texture)


def _conifer(cv, cu, base, h, leaves, trunk, light_u):
    top = base - h
    _rect(cv, cu - 0.04 * h, cu + 0.04 * h, base - 0.15 * h, base, trunk, light_u)
    for i in range(3):
        apex = top + i * 0.2 * h
        bottom = apex + 0.45 * h
        half = (0.2 + 0.07 * i) * h
        _poly(cv, [(cu, apex), (cu + half, bottom), (cu - half, bottom)],
              leaves * FLOAT(1.0 - 0.08 * i), light_u, 0.35)


def draw_tree(cv: Canvas, ptype: str, cu: float, base: float, h: float, col: dict,
              haze: float) -> None:
    """A small background tree, conifer or rock, faded towards the horizon colour by ``haze``."""
    fade = lambda c: c + (col["sky_horizon"] - c) * FLOAT(haze)  # noqa: E731
    if ptype == "tree":
        _foliage_tree(cv, cu, base, h, fade(col["near"] * FLOAT(0.85)),
                      fade(col["subject_3"]), 0.0, None)
    elif ptype == "conifer":
        _conifer(cv, cu, base, h, fade(col["near"] * FLOAT(0.75)), fade(col["subject_3"]), 0.0)
    else:  # a boulder sitting on the ground, with its contact shadow
        _shadow(cv, cu, base, 0.9 * h, 0.0)
        _ellipse(cv, cu, base - 0.18 * h, 0.5 * h, 0.22 * h,
                 fade((col["subject_3"] + col["ground_b"]) * FLOAT(0.5)), 0.0, 0.4)


def draw_subject(cv: Canvas, stype: str, cu: float, cvv: float, h: float, col: dict,
                 light_u: float, horizon: float, texture=None) -> None:
    """Draw the main subject of type ``stype`` centred on (cu, cvv) with height ``h``."""
    base, top = cvv + h / 2, cvv - h / 2
    if stype in GROUNDED and stype != "sailboat":
        _shadow(cv, cu, base, h, light_u)
    main, second, wood = col["subject"], col["subject_2"], col["subject_3"]
    if stype == "tree":
        _foliage_tree(cv, cu, base, h, main, wood, light_u, texture)
    elif stype == "conifer":
        _conifer(cv, cu, base, h, main, wood, light_u)
    elif stype == "house":
        _rect(cv, cu - 0.45 * h, cu + 0.45 * h, base - 0.55 * h, base, main, light_u)
        _poly(cv, [(cu - 0.56 * h, base - 0.53 * h), (cu + 0.56 * h, base - 0.53 * h),
                   (cu, top)], second, light_u)
        _rect(cv, cu - 0.08 * h, cu + 0.08 * h, base - 0.3 * h, base, wood, light_u)
        glass = col["sky_top"] * FLOAT(0.55)
        for side in (-1, 1):
            _rect(cv, cu + side * 0.28 * h - 0.08 * h, cu + side * 0.28 * h + 0.08 * h,
                  base - 0.42 * h, base - 0.26 * h, glass, light_u, 0.5)
    elif stype == "figure":
        dark = wood * FLOAT(0.6)
        for side in (-1, 1):
            lo, hi = sorted((cu + side * 0.015 * h, cu + side * 0.07 * h))
            _rect(cv, lo, hi, base - 0.45 * h, base, dark, light_u)
        _ellipse(cv, cu, base - 0.62 * h, 0.13 * h, 0.22 * h, main, light_u, 0.5)
        _ellipse(cv, cu, top + 0.09 * h, 0.075 * h, 0.09 * h, hsv(25, 0.35, 0.82) * col["light"],
                 light_u, 0.5)
    elif stype == "balloon":
        ecv = cvv - 0.1 * h
        _poly(cv, [(cu - 0.2 * h, ecv + 0.25 * h), (cu + 0.2 * h, ecv + 0.25 * h),
                   (cu + 0.06 * h, ecv + 0.45 * h), (cu - 0.06 * h, ecv + 0.45 * h)], second,
              light_u)
        reg = cv.region(cu - 0.33 * h, cu + 0.33 * h, ecv - 0.38 * h, ecv + 0.38 * h)
        if reg is not None:
            rs, cs, vv, uu = reg
            alpha = ellipse_alpha(vv, uu, cu, ecv, 0.32 * h, 0.38 * h, cv.scale)
            stripes = np.clip((wave((uu - FLOAT(cu)) * FLOAT(2.5 / (0.32 * h)) + 0.25) - 0.5)
                              * 6.0 + 0.5, 0.0, 1.0)
            c = planes(main) + planes(second - main) * stripes
            c = c * np.clip(1.0 + ((uu - FLOAT(cu)) * FLOAT(light_u * 0.8) - (vv - FLOAT(ecv))
                                   * FLOAT(0.6)) * FLOAT(0.5 / (0.35 * h)), 0.4, 1.6)
            cv.paint(rs, cs, alpha, c)
        _rect(cv, cu - 0.06 * h, cu + 0.06 * h, ecv + 0.47 * h, ecv + 0.58 * h, wood, light_u)
    elif stype == "rock":
        stone = (wood + col["ground_b"]) * FLOAT(0.5) + main * FLOAT(0.15)
        _ellipse(cv, cu + 0.25 * h, base - 0.2 * h, 0.32 * h, 0.2 * h, stone * FLOAT(0.85),
                 light_u, 0.5, texture)
        _ellipse(cv, cu - 0.05 * h, base - 0.42 * h, 0.5 * h, 0.42 * h, stone, light_u, 0.5,
                 texture)
    elif stype == "sailboat":
        _poly(cv, [(cu - 0.42 * h, base - 0.12 * h), (cu + 0.46 * h, base - 0.12 * h),
                   (cu + 0.3 * h, base), (cu - 0.3 * h, base)], second, light_u)
        _rect(cv, cu - 0.012 * h, cu + 0.012 * h, top, base - 0.12 * h, wood, light_u)
        sail = hsv(40, 0.06, 0.96) * col["light"]
        _poly(cv, [(cu - 0.025 * h, top + 0.03 * h), (cu - 0.025 * h, base - 0.15 * h),
                   (cu - 0.4 * h, base - 0.15 * h)], sail, light_u, 0.4)
        _poly(cv, [(cu + 0.025 * h, top + 0.12 * h), (cu + 0.025 * h, base - 0.15 * h),
                   (cu + 0.32 * h, base - 0.15 * h)], main, light_u, 0.4)
    elif stype == "lighthouse":
        _ellipse(cv, cu, base - 0.02 * h, 0.42 * h, 0.1 * h, wood, light_u, 0.5, texture)
        pts = [(cu - 0.11 * h, base - 0.06 * h), (cu + 0.11 * h, base - 0.06 * h),
               (cu + 0.07 * h, top + 0.2 * h), (cu - 0.07 * h, top + 0.2 * h)]
        reg = cv.region(cu - 0.11 * h, cu + 0.11 * h, top + 0.2 * h, base - 0.06 * h)
        if reg is not None:
            rs, cs, vv, uu = reg
            alpha = polygon_alpha(vv, uu, pts, cv.scale)
            bands = np.clip((wave((vv - FLOAT(top)) * FLOAT(3.0 / h)) - 0.5) * 8.0 + 0.5, 0, 1)
            white = hsv(40, 0.05, 0.95) * col["light"]
            lit = shaded(np.ones(3, FLOAT), vv, uu, cu, cvv, 0.15 * h, light_u, 0.0, 0.25)[0]
            cv.paint(rs, cs, alpha, (planes(white) + planes(main - white) * bands) * lit)
        _rect(cv, cu - 0.06 * h, cu + 0.06 * h, top + 0.08 * h, top + 0.2 * h, col["sun"],
              light_u)
        _poly(cv, [(cu - 0.09 * h, top + 0.09 * h), (cu + 0.09 * h, top + 0.09 * h), (cu, top)],
              second, light_u)
    elif stype == "tower":
        _rect(cv, cu - 0.14 * h, cu + 0.14 * h, top + 0.06 * h, base, main, light_u, 0.4)
        reg = cv.region(cu - 0.11 * h, cu + 0.11 * h, top + 0.1 * h, base - 0.04 * h)
        if reg is not None:
            rs, cs, vv, uu = reg
            win = (wave((vv - FLOAT(top)) * FLOAT(14.0 / h)) > 0.55) & (
                wave((uu - FLOAT(cu)) * FLOAT(4.0 / (0.22 * h)) + 0.5) > 0.45)
            alpha = rect_alpha(vv, uu, cu - 0.11 * h, cu + 0.11 * h, top + 0.1 * h,
                               base - 0.04 * h, cv.scale) * win
            cv.paint(rs, cs, alpha * FLOAT(0.8), col["sky_top"] * FLOAT(0.5))
        _poly(cv, [(cu - 0.06 * h, top + 0.065 * h), (cu + 0.06 * h, top + 0.065 * h), (cu, top)],
              second, light_u)
    else:
        raise ValueError(f"unknown subject type {stype!r}; expected one of "
                         f"{GROUNDED + ('balloon',)}")
