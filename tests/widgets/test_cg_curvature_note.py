"""iMAML's CG meeting pᵀMp ≤ 0 is said in the trace view and in the window's banner."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from maml_gui.core.config import make_config
from maml_gui.runtime.offline import run_offline, snapshot_of
from maml_gui.widgets.main_window import MainWindow
from maml_gui.widgets.trace_view import TraceView

# θ on top of the RBF tasks' positive bump: the support Hessian has eigenvalues far below −λ
INDEFINITE = {"algorithm": "imaml", "imaml_lambda": 0.5, "inner_lr": 0.01, "inner_steps": 1,
              "theta0": [0.62, 0.18], "task": {"family": "rbf"}, "device": "cpu"}


@pytest.fixture
def view(qtbot):
    widget = TraceView(make_config({"device": "cpu"}))
    qtbot.addWidget(widget)
    widget.resize(420, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_trace_view_notes_an_indefinite_system_and_drops_the_note_when_it_is_not(view):
    config = make_config(INDEFINITE)
    view.show_snapshot(snapshot_of(config, run_offline(config, 1)))
    view.tabs.setCurrentWidget(view.cg_plot)
    note = view.cg_plot.note
    assert note.isVisible()
    assert "not positive definite for 2 of 2 tasks" in note.text()
    assert "raise λ or the CG damping δ (now λ = 0.5, δ = 0)" in note.text()
    calm = config.with_changes({"imaml_lambda": 100.0})
    view.show_snapshot(snapshot_of(calm, run_offline(calm, 1)))
    assert not note.isVisible()


def test_window_banner_says_the_implicit_gradient_is_unreliable(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(make_config(INDEFINITE), settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert not window.banner.isVisible()
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1, timeout=20_000)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=20_000)
    assert "not positive definite" in window.banner.text and "raise λ" in window.banner.text
