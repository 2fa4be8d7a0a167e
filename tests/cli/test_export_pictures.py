"""One picture, two outputs: a 2× PNG is the 1× picture at more pixels, and an SVG rendered
by librsvg is the PNG, for every view ``maml-gui export`` draws.

The reference command is the README's: ``--preset article_two_tasks --steps 20 --size
640x480``. Tolerances, measured on these figures: shrinking the 2× PNG with a 2×2 box
average leaves only antialiasing and font-hinting differences along edges (mean absolute
difference 1–3 of 255, about 1 % of pixels off by more than 64); the bug this guards against
(a 2× PNG whose axes read 0–0.5 over a 0–1 heatmap, with tick labels twice too big) and
an SVG that librsvg draws blank both give mean differences over 100 and most pixels off.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from maml_gui.cli import main

pytestmark = pytest.mark.slow

REFERENCE = ["export", "--preset", "article_two_tasks", "--steps", "20", "--size", "640x480",
             "--quiet"]
VIEWS = ["landscape", "comparison", "trace", "function"]
WIDTH, HEIGHT = 640, 480
# the comparison's table has a measured "ms / step" column that differs between two runs:
# compare its plot (everything above the table)
COMPARED_ROWS = {"comparison": 300}


def _export(folder, view: str, name: str, *extra: str):
    path = folder / name
    assert main([*REFERENCE, "--view", view, "--out", str(path), *extra]) == 0
    return path


def _rgb(path, size=None) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None and image.size != size:
            image = image.resize(size, Image.Resampling.BOX)  # exact 2×2 averages at 2×
        return np.asarray(image).astype(np.int16)


def _difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean absolute difference (0–255) and the share of pixels off by more than 64."""
    d = np.abs(a - b).max(axis=2)
    return float(d.mean()), float((d > 64).mean())


def _regions(image: np.ndarray) -> dict[str, np.ndarray]:
    """The strips that went wrong at 2×: the tick labels of both axes and the colour bar."""
    return {"left axis": image[:, :60], "bottom axis": image[-60:, :],
            "right side (colour bar)": image[:, -80:], "whole": image}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("pictures")


@pytest.mark.parametrize("view", VIEWS)
def test_a_2x_png_shrunk_is_the_1x_png(folder, qtbot, view):
    one = _export(folder, view, f"{view}-1.png", "--scale", "1")
    two = _export(folder, view, f"{view}-2.png", "--scale", "2")
    with Image.open(two) as image:
        assert image.size == (2 * WIDTH, 2 * HEIGHT)
    rows = COMPARED_ROWS.get(view, HEIGHT)
    small, large = _rgb(one)[:rows], _rgb(two, (WIDTH, HEIGHT))[:rows]
    assert small.std() > 20  # a real picture, not a blank page
    for name, (a, b) in zip(_regions(small), zip(_regions(small).values(),
                                                 _regions(large).values())):
        mean, off = _difference(a, b)
        assert mean < 6 and off < 0.04, f"{view}, {name}: mean {mean:.2f}, {off:.1%} off"


@pytest.mark.skipif(shutil.which("rsvg-convert") is None,
                    reason="rsvg-convert (Debian librsvg2-bin) is not installed")
@pytest.mark.parametrize("view", VIEWS)
def test_librsvg_draws_the_svg_as_the_png(folder, qtbot, view):
    png = folder / f"{view}-1.png"
    if not png.exists():
        png = _export(folder, view, f"{view}-1.png", "--scale", "1")
    svg = _export(folder, view, f"{view}.svg")
    rendered = folder / f"{view}-rsvg.png"
    subprocess.run(["rsvg-convert", "--width", str(WIDTH), "--height", str(HEIGHT), str(svg),
                    "-o", str(rendered)], check=True, timeout=60)
    rows = COMPARED_ROWS.get(view, HEIGHT)
    reference, drawn = _rgb(png)[:rows], _rgb(rendered)[:rows]
    mean, off = _difference(reference, drawn)
    assert mean < 6 and off < 0.04, f"{view}: mean {mean:.2f}, {off:.1%} of pixels off"
    assert not _scaled_strokes(svg.read_text(encoding="utf-8"))


def _scaled_strokes(svg: str) -> list[str]:
    """Groups that scale (a data-to-pixel transform) and still ask for non-scaling strokes:
    what librsvg ignores. Strokes in pixel coordinates need no such request."""
    import re

    return [group for group in re.findall(r"<g [^>]*>", svg)
            if "non-scaling-stroke" in group
            and not re.search(r'transform="matrix\(1,0,0,1,', group)
            and 'transform="matrix(' in group]
