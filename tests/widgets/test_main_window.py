"""The window end to end: panel → run, canvas drags, banner, shortcuts, closing, settings."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from maml_gui.core.config import make_config
from maml_gui.runtime.run_controller import FULL_SPEED
from maml_gui.widgets.main_window import MainWindow, last_session_config


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    # the worker processes are up: a cold forkserver takes seconds on a loaded machine, longer
    # than the tests' 5 s waits for a first step
    qtbot.waitUntil(lambda: win.canvas.shown_surface is not None, timeout=60_000)
    return win


def test_dragging_theta_sets_a_new_initialisation(qtbot, window):
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    handle = window.canvas.theta_handle
    handle.setPos(0.7, 0.2)
    with qtbot.waitSignal(window.controller.run_restarted):
        handle.sigPositionChangeFinished.emit(handle)
    assert window.controller.config.theta0 == pytest.approx((0.7, 0.2))
    assert window.controller.history.total_steps == 0
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    np.testing.assert_allclose(window.controller.current.theta, [0.7, 0.2])


def test_theta_cannot_be_dragged_while_running(qtbot, window):
    window.controller.play()
    assert not window.canvas.theta_handle.movable
    window.controller.pause()
    assert window.canvas.theta_handle.movable


def test_dragging_an_optimum_moves_the_task(qtbot, window):
    marker = window.canvas.optima[0]
    marker.setPos(0.55, 0.35)
    with qtbot.waitSignal(window.controller.run_restarted):
        marker.sigPositionChangeFinished.emit(marker)
    assert window.controller.config.task["optima"][0] == pytest.approx((0.55, 0.35))
    assert window.canvas.optima[0].optimum == pytest.approx([0.55, 0.35])


def test_panel_hot_change_reaches_the_run_live(qtbot, window):
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    run = window.controller.run_id
    window.panel.changes_requested.emit({"inner_lr": 0.03})
    assert window.controller.config.inner_lr == 0.03 and window.controller.run_id == run
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 2)
    assert window.controller.current.hyper["inner_lr"] == 0.03


def test_panel_cold_change_restarts_and_says_so(qtbot, window):
    run = window.controller.run_id
    window.panel.changes_requested.emit({"algorithm": "imaml"})
    assert window.controller.run_id == run + 1
    assert "restarted" in window.statusBar().currentMessage()
    assert window.panel.config().algorithm == "imaml"


def test_divergence_banner_and_reset_recovers(qtbot, window):
    window.panel.changes_requested.emit({"task.family": "quadratic"})
    window.panel.changes_requested.emit({"inner_lr": 90.0, "inner_steps": 20})
    window.speed_slider.setValue(window.speed_slider.maximum())
    with qtbot.waitSignal(window.controller.diverged, timeout=10_000):
        window.controller.play()
    assert window.banner.isVisible()
    assert "diverged at step" in window.banner.text and "inner learning rate" in window.banner.text
    window.panel.changes_requested.emit({"inner_lr": 0.1})
    window.banner.action_button.click()
    assert not window.banner.isVisible()
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    assert not window.controller.current.diverged


def test_shortcuts(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.controller.playing
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.controller.playing
    frame = window.controller.frame_index
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.controller.frame_index != frame
                    or window.controller.history.total_steps == 2)
    run = window.controller.run_id
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.controller.run_id == run + 1


def test_closing_during_a_run_stops_every_thread_quickly(qtbot, settings):
    import time

    win = MainWindow(make_config({"task": {"family": "sinusoid", "n_tasks": 5}}), settings=settings)
    win.show()
    win.controller.set_speed(FULL_SPEED)
    win.controller.play()
    qtbot.waitUntil(lambda: win.controller.history.total_steps >= 3, timeout=10_000)
    started = time.perf_counter()
    win.close()
    assert time.perf_counter() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("maml-gui")]


def test_session_is_remembered(qtbot, settings):
    win = MainWindow(make_config({"algorithm": "reptile", "inner_steps": 3}), settings=settings)
    qtbot.addWidget(win)
    win.resize(701, 523)  # within the offscreen screen (800×600), which restoreGeometry respects
    win.close()
    restored = last_session_config(settings)
    assert restored is not None and restored.algorithm == "reptile" and restored.inner_steps == 3
    again = MainWindow(restored, settings=settings)
    qtbot.addWidget(again)
    assert (again.size().width(), again.size().height()) == (701, 523)


def test_landscape_arrives_and_matches_the_surface(qtbot, window):
    qtbot.waitUntil(window.canvas.landscape_complete, timeout=10_000)
    surface = window.canvas.shown_surface
    assert surface.name == "meta" and surface.z.shape[0] > 100
    image = window.canvas.image.image
    assert image.shape == surface.z.shape and np.ptp(image) > 0


def test_trace_view_follows_the_run_and_task_selection_is_linked(qtbot, window):
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    trace = window.trace
    assert trace.highlighted_line() == trace.pseudocode.line_for("update")
    with qtbot.waitSignal(window.trace.task_selected):
        window.trace.task_selected.emit(1)
    assert window.canvas.highlighted_task == 1
    window.canvas.task_selected.emit(0)
    assert window.canvas.highlighted_task == 0
