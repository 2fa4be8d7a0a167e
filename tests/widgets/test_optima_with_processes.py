"""The task optima (★) stay where the tasks' optima are while the real worker processes run.

Sending a tensor to a child process moves its storage into shared memory in place; markers
that held ``numpy()`` views of the canvas's task tensors then read freed memory (one sat at
(1.14e-313, 5.16e+219) after a few seconds of training). These tests train with the real
training and landscape processes, not a synchronous stand-in.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from maml_gui.core.config import make_config
from maml_gui.presets import load_preset
from maml_gui.runtime import processes
from maml_gui.widgets.main_window import MainWindow

pytestmark = pytest.mark.skipif(not processes.available(), reason="needs child processes")

OPTIMA = np.array([[0.3, 0.05], [0.83, 0.75]])  # article_two_tasks.json


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(make_config({}), settings=QSettings(str(tmp_path / "s.ini"),
                                                         QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    assert win.sessions.apply_preset("article_two_tasks")
    return win


def marker_positions(window) -> np.ndarray:
    return np.array([[m.pos().x(), m.pos().y()] for m in window.canvas.optima])


def assert_markers_on_optima(window) -> None:
    assert len(window.canvas.optima) == len(OPTIMA)
    # what the markers hold (redrawn from on every frame) and where they are drawn
    held = np.array([np.asarray(m.optimum, dtype=np.float64) for m in window.canvas.optima])
    np.testing.assert_allclose(held, OPTIMA, atol=1e-12)
    np.testing.assert_allclose(marker_positions(window), OPTIMA, atol=1e-9)


def train_for(qtbot, window, steps: int) -> None:
    start = window.controller.history.total_steps
    window.controller.play()
    qtbot.waitUntil(lambda: window.controller.history.total_steps >= start + steps, timeout=30000)
    window.controller.pause()
    # the landscape process has received (and shared) at least one request by now
    qtbot.waitUntil(window.canvas.landscape_complete, timeout=30000)
    window.canvas.show_snapshot(window.controller.snapshot())  # markers are re-placed per frame


def test_optima_stay_put_while_training_with_worker_processes(qtbot, window):
    np.testing.assert_array_equal(load_preset("article_two_tasks").config.task["optima"], OPTIMA)
    window.speed_slider.setValue(window.speed_slider.maximum())  # full speed: many steps
    train_for(qtbot, window, 40)
    assert_markers_on_optima(window)


def test_optima_stay_put_after_a_live_alpha_change_and_a_reset(qtbot, window):
    window.speed_slider.setValue(window.speed_slider.maximum())
    train_for(qtbot, window, 10)
    window._on_changes_requested({"inner_lr": 0.2})  # hot: the surface is recomputed live
    assert window.controller.config.inner_lr == 0.2
    train_for(qtbot, window, 10)
    assert_markers_on_optima(window)
    window.reset_action.trigger()
    qtbot.waitUntil(window.canvas.landscape_complete, timeout=30000)
    assert_markers_on_optima(window)
    train_for(qtbot, window, 10)
    assert_markers_on_optima(window)
