"""The live MLP landscape: a coarse surface first, then the full grid under the same axes; a
request superseded while in flight never delivers its full grid."""

from __future__ import annotations

import time

import numpy as np
import pytest

from maml_gui.core import landscape_mlp
from maml_gui.core.config import make_config
from maml_gui.core.landscape import PLANE_GRID, PLANE_GRID_COARSE
from maml_gui.runtime import processes
from maml_gui.widgets.landscape_canvas import LandscapeCanvas

CONFIG = make_config({"task": {"family": "sinusoid", "hidden": [16, 16], "n_tasks": 10}})


def _extent(surface) -> tuple[float, float, float, float]:
    return (surface.x[0], surface.x[-1], surface.y[0], surface.y[-1])


@pytest.fixture
def thread_worker(monkeypatch):
    """The landscape worker in a thread (no child process to start: seconds on a loaded
    machine; the serve loop is the same, see tests/runtime/test_channel.py)."""
    monkeypatch.setattr(processes, "available", lambda: False)


@pytest.fixture
def slow_chunks(monkeypatch, thread_worker):
    """30 ms per chunk of the MLP's grid: a full grid is then several hundred ms on any
    machine, so a second request surely finds it in flight."""
    losses = landscape_mlp._mlp_losses

    def slow(*args, **kwargs):
        time.sleep(0.03)
        return losses(*args, **kwargs)

    monkeypatch.setattr(landscape_mlp, "_mlp_losses", slow)
    monkeypatch.setattr(landscape_mlp, "BLOCK_ELEMENTS", 1 << 18)  # 64² in 26 chunks


@pytest.fixture
def canvas(qtbot):
    canvas = LandscapeCanvas(CONFIG)
    qtbot.addWidget(canvas)
    canvas.resize(600, 500)
    canvas.show()
    shown: list[dict] = []
    draw = canvas.drawing.show_surface

    def recording(surface, *args, **kwargs):
        used = draw(surface, *args, **kwargs)
        rect = canvas.image.mapRectToView(canvas.image.boundingRect())
        shown.append({"size": len(surface.x), "extent": _extent(surface),
                      "axes": canvas.view.viewRange(), "image": rect,
                      "pixels": canvas.image.image.copy()})
        return used

    canvas.drawing.show_surface = recording
    canvas.shown = shown
    yield canvas
    canvas.shutdown()


def test_the_coarse_surface_comes_first_then_the_full_grid_under_the_same_axes(
        qtbot, thread_worker, canvas):
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)
    coarse, fine = canvas.shown[-2:]
    assert (coarse["size"], fine["size"]) == (PLANE_GRID_COARSE, PLANE_GRID)
    assert coarse["extent"] == fine["extent"]
    np.testing.assert_allclose(coarse["axes"], fine["axes"], rtol=0, atol=0)
    x0, x1, y0, y1 = coarse["extent"]
    for picture in (coarse, fine):  # the heatmap covers the computed rectangle, cells centred
        rect = picture["image"]
        half_x = (x1 - x0) / (picture["size"] - 1) / 2
        assert rect.left() == pytest.approx(x0 - half_x) and rect.right() == pytest.approx(x1 + half_x)
        assert rect.top() <= y0 and rect.bottom() >= y1
    assert coarse["pixels"].shape == (16, 16) and fine["pixels"].shape == (64, 64)
    # the coarse picture is the fine one at a lower resolution: the same hills and valleys
    sampled = fine["pixels"][np.ix_(np.linspace(0, 63, 16).round().astype(int),
                                    np.linspace(0, 63, 16).round().astype(int))]
    assert np.corrcoef(sampled.ravel(), coarse["pixels"].ravel())[0, 1] > 0.99


def test_a_request_superseded_in_flight_never_delivers_its_full_grid(qtbot, slow_chunks, canvas):
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)
    delivered: list[tuple[int, int, tuple]] = []
    canvas.worker.surface_ready.connect(
        lambda generation, surface: delivered.append((generation, len(surface.x), _extent(surface))))
    (x0, x1), (y0, y1) = canvas.view.viewRange()
    canvas.view.setRange(xRange=(x0 / 2, x1 / 2), yRange=(y0 / 2, y1 / 2), padding=0)
    # the first request's coarse surface is out: its full grid is being computed now
    qtbot.waitUntil(lambda: any(size == PLANE_GRID_COARSE for _, size, _ in delivered),
                    timeout=60_000)
    superseded = delivered[0][0]
    canvas.view.setRange(xRange=(x0 / 3, x1 / 3), yRange=(y0 / 3, y1 / 3), padding=0)
    qtbot.waitUntil(lambda: any(g != superseded and size == PLANE_GRID for g, size, _ in delivered),
                    timeout=60_000)
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)
    assert [size for g, size, _ in delivered if g == superseded] == [PLANE_GRID_COARSE]
    superseded_extent = delivered[0][2]
    assert not any(p["extent"] == superseded_extent and p["size"] == PLANE_GRID
                   for p in canvas.shown)
    assert canvas.shown_surface is not None and len(canvas.shown_surface.x) == PLANE_GRID
    assert _extent(canvas.shown_surface) != superseded_extent


def test_the_grid_export_writes_the_full_grid_while_only_the_coarse_is_shown(
        qtbot, slow_chunks, canvas):
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)
    (x0, x1), (y0, y1) = canvas.view.viewRange()
    canvas.view.setRange(xRange=(x0 / 2, x1 / 2), yRange=(y0 / 2, y1 / 2), padding=0)
    qtbot.waitUntil(lambda: canvas.shown_surface is not None
                    and len(canvas.shown_surface.x) == PLANE_GRID_COARSE, timeout=60_000)
    coarse = canvas.shown_surface
    full = canvas.full_surface()
    assert len(full.x) == PLANE_GRID and _extent(full) == _extent(coarse)
    assert canvas.shown_surface is full  # and the canvas shows it: no coarse left behind
    # the request that was in flight finishes (or stops) and, stale now, replaces nothing
    qtbot.waitUntil(canvas.worker.idle, timeout=60_000)
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)
    assert canvas.shown_surface is full
