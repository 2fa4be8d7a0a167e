"""The function view: editable support points, live fine-tuning, frames, the ERM comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt

from maml_gui.core.animation import visible
from maml_gui.core.config import make_config
from maml_gui.core.training import initial_theta
from maml_gui.runtime.offline import run_offline, snapshot_of
from maml_gui.widgets.function_view import ERM_LABEL, META_LABEL, FunctionView


def softplus_config(**overrides):
    return make_config({"inner_lr": 0.3, "inner_steps": 3, "device": "cpu", "steps": 20,
                        **overrides})


def sinusoid_config(**overrides):
    return make_config({
        "inner_lr": 0.01, "inner_steps": 2, "outer_optimizer": "adam", "outer_lr": 0.01,
        "device": "cpu", "steps": 15,
        "task": {"family": "sinusoid", "n_tasks": 5, "k_shot": 5, "k_query": 5, "hidden": [16, 16]},
        **overrides,
    })


def make_view(qtbot, config):
    view = FunctionView(config)
    qtbot.addWidget(view)
    view.resize(700, 450)
    view.show()
    qtbot.waitExposed(view)
    return view


def view_to_widget(view: FunctionView, x: float, y: float) -> QPoint:
    """Pixel position in the plot's viewport of the data point ``(x, y)``."""
    scene = view.view.mapViewToScene(QPointF(x, y))
    return view.plot_widget.mapFromScene(scene)


def test_adding_a_support_point_changes_the_adapted_prediction(qtbot):
    view = make_view(qtbot, softplus_config())
    before = view.adapted_prediction()
    count = len(view.support[0])
    with qtbot.waitSignal(view.support_changed):
        view.add_support_point(2.7)
    x, y = view.support
    assert len(x) == count + 1 and x[-1] == pytest.approx(2.7)
    assert y[-1] == pytest.approx(view._truth_at(np.array([2.7]))[0])  # noiseless, on the truth
    after = view.adapted_prediction()
    assert not np.allclose(before, after)
    # the prediction at θ itself does not depend on the points
    np.testing.assert_array_equal(view.before_curve.getData()[1], view.result.predictions[0])


def test_a_real_left_click_adds_a_point_where_clicked(qtbot):
    view = make_view(qtbot, sinusoid_config())
    view.set_support_points([])
    flat = view.adapted_prediction().copy()
    pos = view_to_widget(view, 1.5, 0.0)
    qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y = view.support
    assert len(x) == 1
    assert x[0] == pytest.approx(1.5, abs=2 * view.view.viewPixelSize()[0])
    assert y[0] == pytest.approx(view._truth_at(x)[0])
    assert not np.allclose(flat, view.adapted_prediction())
    drawn = view.step_curves[-1].getData()[1]
    np.testing.assert_allclose(drawn, view.adapted_prediction())


def test_right_click_removes_the_nearest_point(qtbot):
    view = make_view(qtbot, softplus_config())
    view.set_support_points([-2.0, 0.0, 2.0])
    x, y = view.support
    pos = view_to_widget(view, x[1], y[1]) + QPoint(3, -2)  # a few pixels off is near enough
    qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.RightButton, pos=pos)
    np.testing.assert_allclose(view.support[0], [-2.0, 2.0])
    # far from every point: nothing happens
    assert not view.remove_support_point_near(0.0, 100.0)
    assert view.remove_support_point_near(2.0, float(view.support[1][1]))
    np.testing.assert_allclose(view.support[0], [-2.0])


def test_draw_k_random_points(qtbot):
    view = make_view(qtbot, sinusoid_config())
    assert view.k_spin.value() == 5  # the family's K
    view.draw_random_points(7)
    x, y = view.support
    low, high = view.config.task["x_range"]
    assert len(x) == 7 and np.all((x >= low) & (x <= high))
    np.testing.assert_allclose(y, view._truth_at(x))
    view.k_spin.setValue(4)
    qtbot.mouseClick(view.draw_button, Qt.MouseButton.LeftButton)
    assert len(view.support[0]) == 4 and not np.isin(view.support[0], x).any()
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    assert len(view.support[0]) == 5  # the task's own K = 5 points


def test_drawn_steps_follow_the_snapshot_frames(qtbot):
    config = softplus_config()  # 2 pool tasks: animated one by one
    history = run_offline(config, 2)
    view = make_view(qtbot, config)
    view.select_task(1)
    record = history.latest
    snapshot = snapshot_of(config, history)
    seen = []
    for index, frame in enumerate(snapshot.frames):
        view.show_snapshot(snapshot_of(config, history, frame_index=index))
        state = visible(record, frame)
        expected = config.inner_steps if state.updated else int(state.path_points[1]) - 1
        assert view.drawn_steps == expected, frame
        drawn = [len(item.getData()[0] if item.getData()[0] is not None else []) > 0
                 for item in view.step_curves]
        assert drawn == [j < expected for j in range(config.inner_steps)]
        np.testing.assert_array_equal(view.theta,
                                      record.theta_next if state.updated else record.theta)
        seen.append(expected)
    # task 1 waits while task 0 adapts, then its steps appear one by one
    assert seen[:4] == [0, 0, 0, 0] and 1 in seen and 2 in seen and seen[-1] == 3
    # the newest step is drawn solid, earlier ones fade
    alphas = [item.opts["pen"].color().alphaF() for item in view.step_curves]
    assert alphas[-1] == pytest.approx(1.0) and alphas[0] < alphas[1] < 1.0


def test_fresh_sinusoid_tasks_follow_the_frames_inner_step(qtbot):
    config = sinusoid_config()  # 5 fresh tasks: animated together
    history = run_offline(config, 1)
    view = make_view(qtbot, config)
    frames = snapshot_of(config, history).frames
    steps = []
    for index, frame in enumerate(frames):
        view.show_snapshot(snapshot_of(config, history, frame_index=index))
        steps.append(view.drawn_steps)
    assert steps == [0, 1, 2, 2, 2, 2]  # sample, inner 1, inner 2, task_grad, aggregate, update


def test_hot_inner_lr_change_reruns_the_fine_tuning(qtbot):
    config = softplus_config()
    view = make_view(qtbot, config)
    first = view.adapted_prediction()
    view.set_config(config.with_changes({"inner_lr": 0.05}))
    assert not np.allclose(first, view.adapted_prediction())
    view.steps_spin.setValue(6)  # chosen here: no longer follows the run's k
    view.set_config(config.with_changes({"inner_steps": 2}))
    assert view.view_steps == 6 and len(view.step_curves) == 6


def test_erm_comparison_trains_in_its_thread_and_fills_the_table(qtbot):
    view = make_view(qtbot, softplus_config())
    view.erm_steps.setValue(25)
    with qtbot.waitSignal(view.comparison_updated, timeout=10_000,
                          check_params_cb=lambda table: ERM_LABEL in table):
        view.erm_box.setChecked(True)
    assert not view.pretraining()
    table = view.comparison
    assert set(table) == {META_LABEL, ERM_LABEL}
    for row in table.values():
        assert sorted(row) == [1, 5, 10] and all(np.isfinite(v) for v in row.values())
    assert view.erm_after_curve.getData()[0] is not None
    assert "ERM" in view.erm_status.text()
    # edits rerun both models
    old = dict(table[ERM_LABEL])
    view.add_support_point(-2.9)
    assert view.comparison[ERM_LABEL] != old
    view.erm_box.setChecked(False)
    assert ERM_LABEL not in view.comparison


def test_cancelling_the_erm_training_leaves_no_thread(qtbot):
    view = make_view(qtbot, sinusoid_config())
    view.erm_steps.setValue(1_000_000)
    view.erm_box.setChecked(True)
    assert view.pretraining()
    view.erm_box.setChecked(False)
    view.shutdown()
    assert not view.pretraining()
    assert ERM_LABEL not in view.comparison


def test_families_without_data_show_a_message(qtbot):
    view = make_view(qtbot, make_config({"task": {"family": "quadratic"}}))
    assert not view.has_data()
    assert view.stack.currentIndex() == 1 and "no data" in view.message.text()
    view.set_config(softplus_config())
    assert view.stack.currentIndex() == 0
    np.testing.assert_array_equal(view.theta, initial_theta(softplus_config()))


def test_full_speed_snapshots_refit_at_a_bounded_rate(qtbot, monkeypatch):
    from maml_gui.widgets import function_view
    config = softplus_config()
    history = run_offline(config, 3, keep=3)
    first, second, third = history.records
    view = make_view(qtbot, config)
    fits = []
    view.adaptation_updated.connect(fits.append)
    running = dataclasses.replace(snapshot_of(config, history, first), playing=True, full_speed=True)
    view._last_refresh = -np.inf  # as if the last refit was long ago
    view.show_snapshot(running)
    assert fits == []  # fine-tuned beside the window: drawn when the result comes
    qtbot.waitUntil(lambda: len(fits) == 1, timeout=20000)
    np.testing.assert_array_equal(fits[-1].paths[0], first.theta_next)
    # however long the fit took (a loaded machine), the next snapshot comes too soon
    monkeypatch.setattr(function_view, "FULL_SPEED_REFRESH_S", 3600.0)
    view.show_snapshot(dataclasses.replace(running, record=second))  # too soon: drawn later
    assert len(fits) == 1 and view._in_flight is None
    paused = dataclasses.replace(running, record=third, playing=False)
    view.show_snapshot(paused)  # pausing publishes a snapshot: drawn at once
    assert len(fits) == 2
    np.testing.assert_array_equal(fits[-1].paths[0], third.theta_next)


def test_legend_stays_inside_a_narrow_plot(qtbot):
    """In a narrow dock the two-column legend ran past the plot ("α = 7.9" lost its digit)."""
    config = softplus_config(inner_lr=7.9)
    history = run_offline(config, 1)
    view = make_view(qtbot, config)
    view.show_snapshot(snapshot_of(config, history))
    texts = [label.text for _sample, label in view.legend.items]
    assert any("α = 7.9" in text for text in texts)

    def legend_inside() -> bool:
        legend = view.legend.mapRectToItem(view.view, view.legend.boundingRect())
        return view.view.boundingRect().contains(legend)

    assert view.legend.columnCount == 2 and legend_inside()  # 700 px: two columns fit
    view.resize(340, 450)
    qtbot.waitUntil(lambda: view.legend.columnCount == 1)
    assert legend_inside()
    view.resize(700, 450)
    qtbot.waitUntil(lambda: view.legend.columnCount == 2)


# --- the function view's state, bound to its controls both ways ---------------------------

def test_controls_write_the_state(qtbot):
    from maml_gui.view import FunctionState

    view = make_view(qtbot, sinusoid_config())
    states = []
    view.state_changed.connect(states.append)
    assert view.state == FunctionState()
    view.steps_spin.setValue(4)
    view.k_spin.setValue(7)
    qtbot.mouseClick(view.draw_button, Qt.MouseButton.LeftButton)
    view.table_steps.setText("2, 8")
    view.table_steps.editingFinished.emit()
    view.task_box.setCurrentIndex(3)
    state = view.state
    assert (state.task, state.view_steps, state.steps) == (3, 4, [2, 8])
    # a new task shows its own points: the random draw belonged to the task before
    assert state.support_points is None
    assert states[-1] == state and len(states) == 4
    assert set(view.comparison[META_LABEL]) == {2, 8}  # the table's columns follow the state
    assert "8 steps" in view.table_label.text()
    assert len(view.step_curves) == 4


def test_the_state_drives_the_controls_and_the_points(qtbot):
    from maml_gui.view import FunctionState

    view = make_view(qtbot, sinusoid_config())
    state = FunctionState(task=2, support_points=6, draw=3, steps=[1, 20], view_steps=5)
    view.apply_state(state)
    assert view.state == state
    assert (view.task_box.currentIndex(), view.k_spin.value(), view.steps_spin.value()) == (2, 6, 5)
    assert view.table_steps.text() == "1, 20"
    x, y = view.support
    np.testing.assert_array_equal(x, view.model.random_x(6, 3))  # the same draw every time
    np.testing.assert_allclose(y, view._truth_at(x))
    assert view.drawn_steps == 5 and len(view.step_curves) == 5
    assert set(view.comparison[META_LABEL]) == {1, 20}
    # another draw is other points; back to the task's own support set
    qtbot.mouseClick(view.draw_button, Qt.MouseButton.LeftButton)
    assert view.state.draw == 4 and not np.array_equal(view.support[0], x)
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    assert view.state.support_points is None and len(view.support[0]) == 5  # k_shot


def test_bad_table_steps_are_refused_in_red_and_the_state_kept(qtbot):
    view = make_view(qtbot, softplus_config())
    before = view.state
    for text, words in (("1, x", "not a list of integers"), ("1, 99999", "function.steps")):
        view.table_steps.setText(text)
        view.table_steps.editingFinished.emit()
        assert view.state == before
        assert "E07070" in view.table_steps.styleSheet() and words in view.table_steps.toolTip()


def test_the_baseline_box_is_the_states_baseline(qtbot):
    view = make_view(qtbot, softplus_config())
    view.set_pretrained_theta(np.array([0.5, 0.2]))
    view.erm_box.setChecked(True)
    assert view.state.baseline and ERM_LABEL in view.comparison
    view.apply_state(view.state.replace(baseline=False))
    assert not view.erm_box.isChecked() and ERM_LABEL not in view.comparison


# --- B-SMALL and MetaNAS adapt in the view as they do in training -----------------------------

def _own_prediction(config, view):
    """The algorithm's own adapted prediction on the view's points: a meta-step's inner loop
    (its φᵏ) judged by the algorithm's evaluation forward."""
    import torch

    from maml_gui.core.algorithms import make_algorithm, make_model
    from maml_gui.core.function_space import points_batch

    model = make_model(config)
    algorithm = make_algorithm(config.algorithm, model, None)
    x, y = view.support
    batch = points_batch(x, y, x_query=x, y_query=y)
    theta = torch.tensor(initial_theta(config))
    phi = algorithm.meta_gradient(theta, batch, config).paths[:, -1]
    grid = torch.tensor(view.grid).unsqueeze(0)
    with torch.no_grad():
        return algorithm.predict(phi, grid, config)[0].numpy(), model


def _plain_prediction(model, config, view):
    from maml_gui.core.function_space import fine_tune

    x, y = view.support
    return fine_tune(model, initial_theta(config), x, y, config.inner_lr, view.view_steps,
                     x_eval=view.grid).predictions[-1]


@pytest.mark.parametrize("algorithm, extra", [
    ("metanas", {"metanas_warmup": 0, "inner_lr": 0.05}),
    ("b_small", {"bsmall_noise": False, "bsmall_lambda": 0.1, "bsmall_log_sigma0": -2.0}),
])
def test_the_adapted_curve_is_the_algorithms_own_adaptation(qtbot, algorithm, extra):
    config = sinusoid_config(algorithm=algorithm, **extra)
    view = make_view(qtbot, config)
    assert view.view_steps == config.inner_steps and view.drawn_steps == config.inner_steps
    own, model = _own_prediction(config, view)
    drawn = view.step_curves[-1].getData()[1]
    np.testing.assert_allclose(drawn, own, rtol=1e-10, atol=1e-12)
    # plain gradient descent on the MSE (what the view did before) is another curve
    assert np.max(np.abs(_plain_prediction(model, config, view) - own)) > 1e-4


def test_bsmall_noise_band_follows_log_sigma_and_vanishes_without_noise(qtbot):
    widths = []
    for log_sigma0 in (-4.0, -2.5):
        view = make_view(qtbot, sinusoid_config(algorithm="b_small", bsmall_log_sigma0=log_sigma0))
        band = view.result.band
        assert band is not None and band.step == view.view_steps
        assert view.noise_band.visible
        assert any(label.text.startswith("noise band") for _, label in view.legend.items)
        assert not view.grab().isNull()  # painted, legend sample included
        x, low = view.noise_band.low.getData()
        np.testing.assert_array_equal(x, view.grid)
        np.testing.assert_array_equal(low, band.low)
        np.testing.assert_array_equal(view.noise_band.high.getData()[1], band.high)
        assert np.all(band.high >= band.mean) and np.all(band.mean >= band.low)
        widths.append(float(np.mean(band.high - band.low)))
        # around the adapted model: the draws' mean is near the deterministic curve
        drawn = view.step_curves[-1].getData()[1]
        assert np.mean(np.abs(band.mean - drawn)) < 0.5 * widths[-1] + 1e-3
    assert widths[1] > 3 * widths[0] > 0
    view = make_view(qtbot, sinusoid_config(algorithm="b_small", bsmall_noise=False))
    assert view.result.band is None and not view.noise_band.visible
    assert view.noise_band.low.getData()[0] is None or len(view.noise_band.low.getData()[0]) == 0


# --- refreshes redraw what changed; the window's cached items draw the same picture --------

def _items(drawing):
    return {"truth band": drawing.truth_band, "truth": drawing.truth_curve,
            "support": drawing.support_points, "query": drawing.query_points,
            "before": drawing.before_curve, "erm before": drawing.erm_before_curve,
            "erm after": drawing.erm_after_curve,
            **{f"step {j}": item for j, item in enumerate(drawing.step_curves, start=1)}}


def _scatter_or_curve_data(item):
    return tuple(np.array([] if v is None else v, dtype=float) for v in item.getData())


def test_a_refresh_that_moves_theta_sets_only_thetas_curves_and_draws_the_same_picture(qtbot):
    from maml_gui.palette import SCREEN
    from maml_gui.plots.function import FunctionPlot

    config = sinusoid_config(inner_steps=3)
    view = make_view(qtbot, config)
    calls = []
    for name, item in _items(view.drawing).items():
        original = item.setData
        item.setData = lambda *a, _o=original, _n=name, **k: (calls.append(_n), _o(*a, **k))[1]
    titles = []
    title = view.plot.setTitle
    view.plot.setTitle = lambda *a, **k: (titles.append(a), title(*a, **k))[1]
    pens = [item.opts["pen"] for item in view.step_curves]
    view.set_theta(view.theta + 0.05)
    assert sorted(calls) == ["before", "step 1", "step 2", "step 3"]
    assert titles == []
    assert all(item.opts["pen"] is old for item, old in zip(view.step_curves, pens))  # kept
    # every item shows what a plot drawing this picture from scratch shows
    fresh = FunctionPlot(SCREEN)
    fresh.show(view._picture)
    ours, theirs = _items(view.drawing), _items(fresh)
    assert ours.keys() == theirs.keys()
    for name in ours:
        for a, b in zip(_scatter_or_curve_data(ours[name]), _scatter_or_curve_data(theirs[name])):
            np.testing.assert_array_equal(a, b, err_msg=name)
        if hasattr(ours[name], "opts") and "pen" in ours[name].opts:
            assert pg.mkPen(ours[name].opts["pen"]) == pg.mkPen(theirs[name].opts["pen"]), name
    assert view.plot.titleLabel.text == fresh.plot.titleLabel.text
    # an edit of the points sets the points (and the fits) again
    calls.clear()
    view.add_support_point(1.5)
    assert "support" in calls and "truth" not in calls


def test_the_windows_cached_items_draw_what_direct_drawing_draws(qtbot):
    from PySide6.QtWidgets import QGraphicsItem

    view = make_view(qtbot, sinusoid_config())
    view.add_support_point(-2.0)  # a change after the caches were first filled

    def pixels() -> np.ndarray:
        image = view.plot_widget.grab().toImage()
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
        return rows.astype(int)

    cached = pixels()
    items = [item for item in view.plot.scene().items()
             if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    assert len(items) >= 6  # the truth, its band, both point sets, the axes, the legend box
    for item in items:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    direct = pixels()
    difference = np.abs(cached - direct)
    assert difference.max() <= 1 and np.count_nonzero(difference) < 1e-3 * difference.size
    # and the picture shows the new point: the support points' pixels moved
    view.remove_support_point(len(view.support[0]) - 1)
    assert np.count_nonzero(np.abs(pixels() - direct)) > 20
