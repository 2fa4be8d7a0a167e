"""The comparison view runs variants in lockstep and fills its metrics table."""

from __future__ import annotations

import numpy as np
import pytest

from maml_gui.core.config import make_config
from maml_gui.widgets.comparison_view import ComparisonView


@pytest.fixture
def view(qtbot):
    widget = ComparisonView(make_config({"inner_steps": 2}))
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def test_four_methods_step_in_lockstep_from_the_same_theta0(qtbot, view):
    assert view.start()
    for _ in range(3):
        view.controller.step()
        qtbot.waitUntil(lambda: all(h.total_steps == _ + 1 for h in view.controller.histories))
    histories = view.controller.histories
    starts = [h.thetas[0] for h in histories]
    assert all(np.array_equal(s, starts[0]) for s in starts)
    assert [h.total_steps for h in histories] == [3, 3, 3, 3]
    rows = view.metrics()
    assert [r.label for r in rows] == ["MAML", "FOMAML", "Reptile", "iMAML"]
    assert rows[0].maml_cosine == pytest.approx(1.0, abs=1e-12)
    assert -1 <= rows[1].maml_cosine < 1
    assert view.table.rowCount() == 4 and view.table.item(0, 0).text() == "MAML"
    assert view.table.item(0, 1).text() == f"{histories[0].latest.meta_loss_after:.4g}"
    first = view.drawing.trails[0].getData()
    assert len(first[0]) == 4  # θ₀ and three updates


def test_bad_variants_are_refused_with_a_message(qtbot, view):
    view.set_variants([("maml", ""), ("fomaml", "seed=3")])
    assert not view.start()
    assert "must be the same for every variant" in view.message.text()
    assert view.controller is None


def test_variants_with_settings_and_small_multiples(qtbot, view):
    view.set_variants([("maml", ""), ("maml", "inner_lr=0.05")])
    assert view.start()
    view.layout_box.setCurrentIndex(1)
    assert len(view.drawing.panels) == 2
    assert view.drawing.panels[1].getViewBox().linkedView(0) is view.drawing.panels[0].getViewBox()
    assert view.metrics()[1].label == "MAML (α=0.05)"
    view.controller.set_rate(float("inf"))
    view.controller.play()
    qtbot.waitUntil(lambda: view.controller.histories[1].total_steps >= 20, timeout=10_000)
    view.controller.pause()
    assert view.metrics()[1].steps_to_target is None or view.metrics()[1].steps_to_target >= 1


def test_surfaces_come_from_the_landscape_worker_not_the_gui_thread(qtbot, view, monkeypatch):
    from maml_gui.core.landscape import LandscapeEvaluator

    def refuse(*_args, **_kwargs):
        raise AssertionError("a landscape grid was computed in the GUI thread")

    # the worker computes in a child process (or its own thread): patching here catches
    # only a computation in this thread
    monkeypatch.setattr(LandscapeEvaluator, "grid", refuse)
    assert "Start comparison" in view.drawing.hint.textItem.toPlainText()  # not an empty 0–1 plot
    assert view.start()
    assert view.overlay_plot.titleLabel.text.endswith("meta-step 0")
    qtbot.waitUntil(lambda: not view.surfaces_pending(), timeout=30_000)
    image = view.drawing.overlay_image.image
    assert image is not None and image.shape == (view.surface_grid, view.surface_grid)
    assert len(view.drawing.overlay_contours.getData()[0]) > 0  # contours like the main canvas
    assert all(panel.image is not None for panel in view.drawing.panel_images)
    low, high = view.drawing.colour_bar.levels()
    assert high > low


def _trails_on_the_plane(view) -> None:
    """Each trail drawn is its variant's θs on the plane in use."""
    from maml_gui.view.projection import plane_coordinates

    drawing = view.drawing
    for trail, history in zip(drawing.trails, view._snapshot.histories):
        x, y = trail.getData()
        expected = plane_coordinates(drawing.plane, history.thetas)
        np.testing.assert_allclose(np.column_stack([x, y]), expected, rtol=1e-9, atol=1e-9)


def _run_at_full_speed_past_a_fit(qtbot, view) -> None:
    drawing = view.drawing
    view.controller.set_rate(float("inf"))
    view.controller.play()
    qtbot.waitUntil(lambda: drawing.plane is not None and drawing._plane_steps >= 3,
                    timeout=20_000)
    qtbot.waitUntil(lambda: view.controller.histories[0].total_steps >= drawing._plane_steps + 3,
                    timeout=20_000)
    view.controller.pause()
    qtbot.waitUntil(lambda: not view.controller.playing)


def test_at_full_speed_the_pca_plane_is_fitted_beside_the_window_and_drawn_on(qtbot, monkeypatch):
    import threading

    from maml_gui.plots import comparison
    from maml_gui.presets import load_preset

    fitted_in: list[str] = []
    real_pca = comparison.pca_plane

    def recording_pca(*args, **kwargs):
        fitted_in.append(threading.current_thread().name)
        return real_pca(*args, **kwargs)

    monkeypatch.setattr(comparison, "pca_plane", recording_pca)
    config = load_preset("sinusoid_few_shot").config.with_changes(
        {"task.n_tasks": 4, "inner_steps": 1})
    view = ComparisonView(config)
    qtbot.addWidget(view)  # closed (and so shut down) at the end, whatever happens
    view.resize(900, 700)
    view.show()
    view.set_variants([("maml", ""), ("fomaml", "")])
    assert view.start()
    _run_at_full_speed_past_a_fit(qtbot, view)
    beside = [name for name in fitted_in if name != threading.main_thread().name]
    assert beside and all(name.startswith("maml-gui comparison plane") for name in beside)
    _trails_on_the_plane(view)
    # Reset: the new run's trails get a plane of their own (not the old run's, nor a fit
    # of the old trails arriving late), fitted as soon as it is due
    old_plane = view.drawing.plane
    view.reset_button.click()
    qtbot.waitUntil(lambda: view._snapshot.steps == 0 and view.drawing.plane is None)
    _run_at_full_speed_past_a_fit(qtbot, view)
    assert view.drawing.plane is not old_plane
    _trails_on_the_plane(view)


def test_axes_read_plain_values_whatever_range_the_plot_showed_when_built(qtbot, view):
    # the start hint's plot showed a range under 1 when the variants were built: pyqtgraph
    # took a ×1000 scale from it, and the v axis read 1500 where the value was 1.5
    for name in ("left", "bottom"):
        view.drawing.overlay_plot.getAxis(name).setLabel("x")
    view.drawing.overlay_plot.setRange(xRange=(0, 0.4), yRange=(0, 0.4), padding=0)
    assert view.start()
    view.drawing._set_range((-2.0, 2.0, -2.0, 2.0))
    for name in ("left", "bottom"):
        axis = view.drawing.overlay_plot.getAxis(name)
        assert axis.autoSIPrefixScale == 1.0
        assert axis.tickStrings([1.5], 1.0, 0.5) == ["1.5"]
        assert axis.labelUnitPrefix == ""  # no "(m)" beside the axis name either
