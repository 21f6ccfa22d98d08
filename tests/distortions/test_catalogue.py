"""The catalogue against Pfister et al.'s Table 1 / code values and Sheng et al.'s Table 1."""

from __future__ import annotations

import pytest

from harness.distortions import DistortionError, catalogue, get
from harness.errors import UsageError


def test_pfister_has_21_distortions_in_table_order():
    names = [d.name for d in catalogue("pfister2021")]
    assert names == [
        "jpeg_compression",
        "defocus_blur",
        "motion_blur",
        "pixelate",
        "gaussian_noise",
        "impulse_noise",
        "brightness",
        "contrast",
        "saturation",
        "exposure",
        "shadows",
        "highlights",
        "temperature",
        "tint",
        "vibrance",
        "rotate",
        "hcrop",
        "vcrop",
        "leftcornerscrop",
        "rightcornerscrop",
        "ratio",
    ]
    aspects = [d.aspect for d in catalogue("pfister2021")]
    assert aspects == ["technical"] * 6 + ["style"] * 9 + ["composition"] * 6


@pytest.mark.parametrize(
    "name, lo, hi",
    [
        ("jpeg_compression", 1, 5),
        ("impulse_noise", 1, 5),
        ("brightness", -5, 5),
        ("exposure", -5, 5),
        ("shadows", -5, 3),
        ("highlights", -3, 5),
        ("temperature", -4, 5),
        ("tint", -5, 5),
        ("vibrance", -2, 4),
        ("rotate", -5, 5),
        ("ratio", -5, 5),
    ],
)
def test_level_ranges_follow_table_1(name, lo, hi):
    d = get(name)
    assert d.levels == tuple(k for k in range(lo, hi + 1) if k != 0)
    assert d.allowed_levels == tuple(range(lo, hi + 1)) if lo < 0 else (0, *range(1, hi + 1))


def test_pfister_has_171_edits():
    assert sum(len(d.levels) for d in catalogue("pfister2021")) == 171


@pytest.mark.parametrize(
    "name, level, value",
    [
        ("jpeg_compression", 1, 25),
        ("jpeg_compression", 5, 7),
        ("defocus_blur", 2, (4, 0.5)),
        ("motion_blur", 5, (20, 15)),
        ("gaussian_noise", 4, 0.26),
        ("impulse_noise", 5, 0.27),
        ("pixelate", 5, 0.25),
        ("contrast", -5, -1.0),
        ("contrast", -1, -0.2),
        ("saturation", 3, 0.6),
        ("exposure", -4, -2.4),
        ("exposure", 5, 3.0),
        ("shadows", -5, -100),
        ("shadows", -2, 20),
        ("shadows", -1, 40),
        ("shadows", 1, 60),
        ("highlights", -3, -100),
        ("highlights", -1, -60),
        ("highlights", 1, -40),
        ("highlights", 5, 100),
        ("temperature", -4, 2000),
        ("temperature", -1, 6000),
        ("temperature", 1, 7000),
        ("temperature", 5, 18000),
        ("tint", -5, 0.75),
        ("tint", 5, 1.25),
        ("vibrance", -2, 0),
        ("vibrance", -1, 20),
        ("vibrance", 1, 40),
        ("vibrance", 4, 100),
        ("rotate", -5, -10),
        ("rotate", 1, 2),
        ("hcrop", 5, 1.0),
        ("ratio", -3, -1.6),
    ],
)
def test_parameter_of_each_level(name, level, value):
    assert get(name).param(level) == value
    assert get(name).param(0) is None


def test_sheng_has_10_operations_and_21_edits():
    ops = catalogue("sheng2020")
    assert len(ops) == 10
    assert sum(len(d.levels) for d in ops) == 21
    assert get("sheng_rotation").params == {1: 90, 2: 180, 3: 270}
    assert get("sheng_jpeg").params == {1: 60, 2: 10}
    assert {d.attribute for d in ops} == {
        "much noise",
        "camera shake",
        "soft / grainy",
        "poor lighting",
        "fuzzy",
        "distracting",
    }


def test_strength_is_the_regression_target_of_pfisters_code():
    assert get("shadows").strength(3) == 1.0 and get("shadows").strength(-5) == -1.0
    assert get("vibrance").strength(-1) == -0.5 and get("vibrance").strength(1) == 0.25
    assert get("jpeg_compression").strength(2) == pytest.approx(0.4)
    assert get("jpeg_compression").strength(0) == 0.0


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown distortion 'jpeg'.*did you mean") as info:
        get("jpeg")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError)


def test_unknown_family_is_refused():
    with pytest.raises(DistortionError, match="family"):
        catalogue("kang2017")


def test_records_are_frozen_and_hashable():
    d = get("contrast")
    with pytest.raises(AttributeError):
        d.name = "other"
    with pytest.raises(TypeError):
        d.params[1] = 0.0
    assert len({d, get("contrast"), get("brightness")}) == 2
