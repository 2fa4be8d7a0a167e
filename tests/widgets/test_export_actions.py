"""The window's Export menu: every view as a figure, animations, exact whole-run data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from maml_gui.core.config import make_config
from maml_gui.core.trace import load_trace
from maml_gui.export.data import read_embedded_config, read_trajectory_csv
from maml_gui.widgets.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow(make_config({"inner_steps": 2}))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def run_steps(qtbot, window, count):
    target = window.controller.history.total_steps + count
    for _ in range(count):
        window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == target, timeout=10_000)


@pytest.mark.parametrize("view", ["landscape", "trace", "function"])
def test_figures_of_each_view(qtbot, window, tmp_path, view):
    run_steps(qtbot, window, 3)
    path = tmp_path / f"{view}.png"
    assert window.exports.export_figure(path, view, size=(700, 450), scale=2)
    image = Image.open(path)
    assert image.size == (1400, 900)
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert pixels.std(axis=0).max() > 10
    assert make_config(read_embedded_config(path)) == window.controller.config


def test_comparison_figure_needs_a_comparison(qtbot, window, tmp_path):
    assert not window.exports.export_figure(tmp_path / "c.png", "comparison")
    assert "start a comparison first" in window.banner.text
    window.tabs.setCurrentIndex(1)
    assert window.comparison.start()
    window.comparison.controller.step()
    qtbot.waitUntil(lambda: window.comparison.controller.histories[0].total_steps == 1)
    assert window.exports.export_figure(tmp_path / "c.svg", "comparison", size=(900, 700))
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:400]


def test_trajectory_export_is_the_exact_run_with_its_live_changes(qtbot, window, tmp_path):
    run_steps(qtbot, window, 2)
    window.controller.apply_changes({"inner_lr": 0.05, "inner_steps": 3})
    run_steps(qtbot, window, 3)
    live = list(window.controller.history.records)
    for suffix in ("json", "csv"):
        path = tmp_path / f"t.{suffix}"
        assert window.exports.export_trajectory(path)
    trace = load_trace(tmp_path / "t.json")
    assert [r.step for r in trace.records] == [0, 1, 2, 3, 4]
    assert trace.meta["live_changes"] == [[2, {"inner_lr": 0.05, "inner_steps": 3}]]
    for saved, shown in zip(trace.records, live):
        np.testing.assert_array_equal(saved.theta_next, shown.theta_next)
        np.testing.assert_array_equal(saved.paths, shown.paths)
    _config, columns = read_trajectory_csv(tmp_path / "t.csv")
    assert len(np.unique(columns["step"])) == 5


def test_animation_and_grid(qtbot, window, tmp_path):
    run_steps(qtbot, window, 2)
    assert window.exports.export_animation(tmp_path / "a.gif", 1, 2, fps=5, size=(160, 120))
    frames = Image.open(tmp_path / "a.gif").n_frames
    assert frames >= 2 * 5  # every phase of two meta-steps
    qtbot.waitUntil(window.canvas.landscape_complete, timeout=10_000)
    assert window.exports.export_grid(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as data:
        assert data["z"].shape == window.canvas.shown_surface.z.shape


def test_failures_are_reported_and_leave_no_file(qtbot, window, tmp_path):
    assert not window.exports.export_trajectory(tmp_path / "t.csv")  # no steps yet
    assert "no meta-steps" in window.banner.text
    run_steps(qtbot, window, 1)
    assert not window.exports.export_figure(tmp_path / "missing" / "f.png")
    assert "does not exist" in window.banner.text
    assert not window.exports.export_figure(tmp_path / "f.bmp")
    assert "unknown export format" in window.banner.text
    assert not window.exports.export_figure(tmp_path / "f.png", "function", size=(200, 100))
    assert "needs at least" in window.banner.text
    assert not list(tmp_path.iterdir())


def test_the_function_figure_is_drawn_from_the_views_state(qtbot, window, tmp_path):
    from maml_gui.export.data import read_embedded_session

    view = window.function_view
    view.apply_state(view.state.replace(task=1, support_points=3, steps=[4]))
    path = tmp_path / "f.svg"
    assert window.exports.export_figure(path, "function", size=(700, 450))
    text = path.read_text(encoding="utf-8")
    assert "4 steps" in text and "3 support points" in text and "task 1:" in text
    _, state = read_embedded_session(path)
    assert state.function == view.state
