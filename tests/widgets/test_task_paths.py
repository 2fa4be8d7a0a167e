"""Every task's path in one item: the same pixels as one curve per task, a gap between tasks,
clicks that pick the right task, and the canvas drawing the record's paths with it."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt

from maml_gui.core.animation import visible
from maml_gui.core.config import make_config
from maml_gui.palette import SCREEN
from maml_gui.plots.items import pen
from maml_gui.plots.task_paths import TaskPaths
from maml_gui.runtime.offline import run_offline, snapshot_of
from maml_gui.view.projection import Projection, path_points
from maml_gui.widgets.landscape_canvas import LandscapeCanvas

# three tasks' inner paths (3 points each); task 1 has a non-finite point that breaks it
PATHS = np.array([
    [[0.1, 0.1], [0.3, 0.5], [0.45, 0.55]],
    [[0.6, 0.2], [np.nan, np.nan], [0.9, 0.6]],
    [[0.2, 0.9], [0.5, 0.8], [0.85, 0.9]],
])
PENS = [pen(SCREEN.task(i), 2.0) for i in range(3)]


def rendered(qtbot, items) -> np.ndarray:
    """A 300×300 plot of ``items`` over [0, 1]², as an RGB array."""
    widget = pg.PlotWidget(background=SCREEN.background)
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.hideAxis("left")
    widget.hideAxis("bottom")
    for item in items:
        widget.addItem(item)
    widget.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    widget.show()
    qtbot.waitExposed(widget)
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3).astype(int)


def one_curve_per_task() -> list[pg.PlotCurveItem]:
    return [pg.PlotCurveItem(PATHS[i, :, 0], PATHS[i, :, 1], pen=PENS[i], connect="finite")
            for i in range(3)]


def test_one_item_draws_the_pixels_of_one_curve_per_task(qtbot):
    reference = rendered(qtbot, one_curve_per_task())
    paths = TaskPaths(PENS)
    paths.set_paths(PATHS)
    image = rendered(qtbot, [paths])
    background = np.array(pg.mkColor(SCREEN.background).getRgb()[:3])
    drawn = np.any(reference != background, axis=2)
    assert drawn.sum() > 300  # the paths are there to compare
    for i in range(3):  # each task keeps its own colour
        colour = np.array(pg.mkColor(SCREEN.task(i)).getRgb()[:3])
        assert np.any(np.all(np.abs(image - colour) <= 8, axis=2)), i
    differing = np.any(np.abs(image - reference) > 8, axis=2)
    assert differing.sum() <= 0.01 * drawn.sum()


def test_no_line_joins_one_task_to_the_next_nor_crosses_a_nan(qtbot):
    paths = TaskPaths(PENS)
    paths.set_paths(PATHS)
    x, y = paths.getData()
    # task i's points, a NaN, task i+1's points: a curve of the whole never joins them
    assert len(x) == 3 * 4 and np.isnan(x[[3, 7, 11]]).all()
    np.testing.assert_array_equal(paths.task_data(2)[0], PATHS[2, :, 0])
    image = rendered(qtbot, [paths])
    background = np.array(pg.mkColor(SCREEN.background).getRgb()[:3])

    def pixel(u, v):  # plot [0, 1]² onto the 300×300 image (y up)
        return image[int(round((1 - v) * 299)), int(round(u * 299))]

    def blank_between(a, b):
        middle = (np.asarray(a) + np.asarray(b)) / 2
        return np.array_equal(pixel(*middle), background)

    assert blank_between(PATHS[0, -1], PATHS[1, 0])  # task 0's end to task 1's start
    assert blank_between(PATHS[1, -1], PATHS[2, 0])
    assert blank_between(PATHS[1, 0], PATHS[1, 2])  # across task 1's NaN
    assert not blank_between(PATHS[2, 0], PATHS[2, 1])  # a real segment is drawn


def test_counts_show_only_the_reached_points_and_clear_empties(qtbot):
    paths = TaskPaths(PENS)
    paths.set_paths(PATHS[:2], counts=[1, 3])
    assert len(paths.task_data(0)[0]) == 1 and len(paths.task_data(1)[0]) == 3
    assert len(paths.task_data(2)[0]) == 0  # no data for task 2: nothing drawn
    assert paths.dataBounds(0) == (0.1, 0.9)
    paths.clear()
    assert paths.boundingRect().isEmpty() and paths.dataBounds(1) == (None, None)


def test_a_click_on_a_path_names_its_task(qtbot):
    paths = TaskPaths(PENS)
    paths.set_paths(PATHS)
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.addItem(paths)
    widget.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    widget.show()
    qtbot.waitExposed(widget)
    clicked = []
    paths.sigClicked.connect(lambda item, _event: clicked.append(item.task_index))
    target = (PATHS[2, 0] + PATHS[2, 1]) / 2  # on task 2's first segment
    pos = widget.mapFromScene(widget.getViewBox().mapViewToScene(QPointF(*target)))
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert clicked == [2]
    assert paths.task_at(QPointF(0.05, 0.95)) is None  # far from every path


@pytest.fixture(scope="module")
def sinusoid_run():
    config = make_config({"task": {"family": "sinusoid", "n_tasks": 12, "k_shot": 5,
                                   "k_query": 5, "hidden": [8, 8]},
                          "inner_steps": 2, "inner_lr": 0.01, "outer_optimizer": "adam",
                          "outer_lr": 0.01, "steps": 12, "device": "cpu"})
    return config, run_offline(config, 12)


def _shown_canvas(qtbot, config) -> LandscapeCanvas:
    canvas = LandscapeCanvas(config)
    qtbot.addWidget(canvas)
    canvas.resize(600, 500)
    canvas.show()
    return canvas


def test_the_canvas_draws_every_tasks_path_with_one_item(qtbot, sinusoid_run):
    config, records = sinusoid_run
    canvas = _shown_canvas(qtbot, config)
    snapshot = snapshot_of(config, records)
    canvas.show_snapshot(snapshot)
    assert len(canvas.paths) == 1 and isinstance(canvas.paths[0], TaskPaths)
    record = snapshot.record
    reached = visible(record, snapshot.frame).path_points
    for i in range(record.n_tasks):
        want = canvas.projection.to_plane(record.paths[i, : int(reached[i])])
        x, y = canvas.paths[0].task_data(i)
        np.testing.assert_allclose(np.column_stack([x, y]), want)
    canvas.highlight_task(3)
    assert canvas.paths[0].pen(3).widthF() == 4.0 and canvas.paths[0].pen(4).color().alphaF() < 0.5
    with qtbot.waitSignal(canvas.task_selected) as selected:
        canvas.paths[0].task_index = 5
        canvas.paths[0].sigClicked.emit(canvas.paths[0], None)
    assert selected.args == [5]
    canvas.shutdown()


def test_at_full_speed_the_plane_is_refitted_beside_the_window(qtbot, sinusoid_run):
    config, history = sinusoid_run
    canvas = _shown_canvas(qtbot, config)
    paused = snapshot_of(config, history)
    running = dataclasses.replace(paused, playing=True, full_speed=True)
    before = canvas.plane
    canvas.show_snapshot(running)
    assert canvas._plane_fit is not None and canvas.plane is before  # fitting meanwhile
    qtbot.waitUntil(lambda: canvas._plane_fit[2].done())
    qtbot.wait(50)  # the fit's signal has come: at full speed it leaves the switch to a frame
    assert canvas.plane is before
    canvas.show_snapshot(running)  # the next frame
    assert canvas._plane_fit is None and canvas.plane is not before
    expected = Projection(canvas.projection.family, "pca", config.seed)
    expected.fit(*path_points(running))
    np.testing.assert_allclose(canvas.plane.directions, expected.plane.directions, atol=1e-12)
    # the trail drawn on the new plane: rows projected in the thread and the newest one here
    x, y = canvas.trail.getData()
    np.testing.assert_allclose(np.column_stack([x, y]), expected.to_plane(history.thetas),
                               atol=1e-12)
    qtbot.waitUntil(canvas.landscape_complete, timeout=60_000)  # the new plane's surface
    canvas.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("maml-gui plane")]


def test_a_plane_fitted_beside_is_used_at_once_when_the_run_has_paused(qtbot, sinusoid_run):
    config, history = sinusoid_run
    canvas = _shown_canvas(qtbot, config)
    paused = snapshot_of(config, history)
    before = canvas.plane
    canvas.show_snapshot(dataclasses.replace(paused, playing=True, full_speed=True))
    canvas.show_snapshot(paused)  # paused while the plane is being fitted
    qtbot.waitUntil(lambda: canvas._plane_fit is None)  # no frame comes: it switches itself
    assert canvas.plane is not before
    x, y = canvas.trail.getData()
    np.testing.assert_allclose(np.column_stack([x, y]), canvas.projection.to_plane(history.thetas),
                               atol=1e-12)
    canvas.shutdown()
