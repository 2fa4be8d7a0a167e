"""The frame budget: at full speed the canvas draws every snapshot while the trace table, the
loss curves and the status bar follow a few times a second, and none of them loses the final
state when the run stops."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from maml_gui.core.comparison import build_variants
from maml_gui.core.config import make_config
from maml_gui.core.history import RunHistory
from maml_gui.core.tasks import make_family
from maml_gui.core.training import train
from maml_gui.runtime.comparison_controller import ComparisonSnapshot
from maml_gui.runtime.offline import snapshot_of
from maml_gui.runtime.run_controller import FULL_SPEED
from maml_gui.widgets.comparison_view import TABLE_MS, ComparisonView
from maml_gui.widgets.main_window import SIDE_VIEWS_MS, MainWindow

CONFIG = {"task": {"family": "softplus"}, "inner_steps": 2, "device": "cpu"}


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(make_config(CONFIG),
                     settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.trace.tabs.setCurrentWidget(win.trace.loss_curves)
    # the worker processes are up (a cold forkserver takes seconds on a loaded machine)
    qtbot.waitUntil(lambda: win.canvas.shown_surface is not None, timeout=60_000)
    return win


def count_calls(monkeypatch, obj, name: str) -> list:
    calls = []
    original = getattr(obj, name)

    def counted(snapshot, *args, **kwargs):
        calls.append(snapshot)
        return original(snapshot, *args, **kwargs)

    monkeypatch.setattr(obj, name, counted)
    return calls


def test_side_views_follow_at_a_lower_rate_and_end_on_the_latest_step(qtbot, window,
                                                                      monkeypatch):
    config = window.controller.config
    history = RunHistory(make_family(config).param_dim)
    canvas_calls = count_calls(monkeypatch, window.canvas, "show_snapshot")
    trace_calls = count_calls(monkeypatch, window.trace, "show_snapshot")
    started = time.perf_counter()
    for record in train(config, 25):  # a burst of full-speed snapshots, faster than 5 Hz
        history.append(record)
        window._on_snapshot(dataclasses.replace(snapshot_of(config, history), playing=True,
                                                full_speed=True))
    elapsed_ms = 1000 * (time.perf_counter() - started)
    assert len(canvas_calls) == 25  # the canvas draws every one
    # the trace at most once per interval (the first on the next turn of the event loop)
    assert len(trace_calls) <= 1 + elapsed_ms / SIDE_VIEWS_MS
    assert len(trace_calls) < 25
    latest = history.latest
    # the last snapshot is not lost: the throttle shows it at the end of its interval
    qtbot.waitUntil(lambda: window.trace._record is latest, timeout=5000)
    steps, _ = window.trace.loss_curves.curve_data("after")
    assert steps[-1] == latest.step
    assert window.step_label.text() == f"step {latest.step + 1}"


def test_after_a_real_run_stops_the_table_curves_and_status_show_its_last_step(qtbot, window):
    controller = window.controller
    controller.set_speed(FULL_SPEED)
    controller.play()
    qtbot.waitUntil(lambda: controller.history.total_steps >= 40, timeout=60_000)
    controller.pause()
    last = controller.current
    # pausing publishes a snapshot that every view draws at once, not at the next interval
    assert window.trace._record is last
    steps, after = window.trace.loss_curves.curve_data("after")
    assert steps[-1] == last.step and after[-1] == pytest.approx(last.meta_loss_after)
    assert window.step_label.text() == f"step {last.step + 1}"
    assert window.rate_label.text() == "paused"
    assert not window._side_views.pending()


def test_a_hidden_trace_is_skipped_and_drawn_when_shown(qtbot, window):
    window.function_dock.raise_()  # tabified: the trace is hidden behind it
    qtbot.waitUntil(lambda: window.trace.visibleRegion().isEmpty())
    config = window.controller.config
    controller = window.controller
    controller.step_meta()
    qtbot.waitUntil(lambda: controller.history.total_steps == 1, timeout=60_000)
    assert window.trace._record is None  # nobody could see it
    window.trace_dock.raise_()
    qtbot.waitUntil(lambda: window.trace._record is controller.current)
    assert config == window.trace._config


def test_the_comparison_table_follows_slower_and_ends_on_the_last_step(qtbot):
    config = make_config({"inner_steps": 2, "device": "cpu"})
    view = ComparisonView(config)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    variants = build_variants(config, [("maml", {}), ("fomaml", {})])
    histories = tuple(RunHistory(2) for _ in variants)
    runs = [train(v.config, 30, compare_to_maml=True) for v in variants]

    def publish(playing: bool) -> None:
        for history, run in zip(histories, runs):
            history.append(next(run))
        view.show_comparison(ComparisonSnapshot(0, tuple(variants), histories, playing))

    def shown() -> str:
        return view.table.item(0, 1).text()

    publish(False)
    texts = [shown()]
    started = time.perf_counter()
    for _ in range(20):
        publish(True)
        texts.append(shown())
    elapsed_ms = 1000 * (time.perf_counter() - started)
    updates = sum(a != b for a, b in zip(texts, texts[1:]))
    assert updates <= 1 + elapsed_ms / TABLE_MS and updates < 20
    latest = f"{histories[0].latest.meta_loss_after:.4g}"
    qtbot.waitUntil(lambda: shown() == latest, timeout=5000)  # the last one is not lost
    assert view.drawing.trails[0].getData()[0].size == 22  # the plots drew every step
    publish(False)  # paused: at once
    assert shown() == f"{histories[0].latest.meta_loss_after:.4g}"
    qtbot.waitUntil(lambda: not view.surfaces_pending(), timeout=60_000)


def test_the_comparison_draws_the_layout_shown_and_the_other_when_chosen(qtbot):
    config = make_config({"inner_steps": 2, "device": "cpu"})
    view = ComparisonView(config)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    variants = build_variants(config, [("maml", {}), ("reptile", {})])
    histories = tuple(RunHistory(2) for _ in variants)
    for variant, history in zip(variants, histories):
        for record in train(variant.config, 5, compare_to_maml=True):
            history.append(record)
    view.show_comparison(ComparisonSnapshot(0, tuple(variants), histories, True))
    assert view.drawing.trails[1].getData()[0].size == 6
    assert view.drawing.panel_trails[1].getData()[0] is None or not view.drawing.panel_trails[1].getData()[0].size
    view.layout_box.setCurrentIndex(1)  # small multiples: drawn now, from the same snapshot
    x, y = view.drawing.panel_trails[1].getData()
    np.testing.assert_array_equal(np.column_stack([x, y]), histories[1].thetas)
    assert len(view.drawing.panel_arrows[1].curve.getData()[0]) == 6  # a shaft and a two-stroke head
    qtbot.waitUntil(lambda: not view.surfaces_pending(), timeout=60_000)
