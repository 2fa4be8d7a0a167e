"""The function view at full speed: fine-tuning beside the window, results drawn in order."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading

import numpy as np
import pytest

from maml_gui.core.config import make_config
from maml_gui.runtime.offline import run_offline, snapshot_of
from maml_gui.view import FunctionState
from maml_gui.view.function_data import FunctionModel
from maml_gui.widgets import function_view
from maml_gui.widgets.function_view import FunctionView

WAIT_MS = 20000  # the first request starts the worker's process (imports under load)


def sinusoid_config(**overrides):
    return make_config({
        "inner_lr": 0.01, "inner_steps": 2, "outer_optimizer": "adam", "outer_lr": 0.01,
        "device": "cpu", "steps": 15,
        "task": {"family": "sinusoid", "n_tasks": 5, "k_shot": 5, "k_query": 5, "hidden": [16, 16]},
        **overrides,
    })


def make_view(qtbot, config, *, process: bool | None = None) -> FunctionView:
    view = FunctionView(config)
    view.fits_in_process = process
    qtbot.addWidget(view)
    view.resize(600, 450)
    view.show()
    qtbot.waitExposed(view)
    view._last_refresh = -np.inf  # as if the last refit was long ago
    return view


def running(config, history, record):
    return dataclasses.replace(snapshot_of(config, history, record), playing=True, full_speed=True)


def reference(config, record) -> object:
    """The picture fine-tuned in this thread by a model of its own (task 0, its points)."""
    model = FunctionModel(config)
    model.theta = np.asarray(record.theta_next, dtype=np.float64)
    model.follow(record.diagnostics)
    state = FunctionState()
    return model.picture(state, model.view_steps(state))


def adapted(config, record) -> np.ndarray:
    """The reference's curve after the drawn fine-tuning steps."""
    picture = reference(config, record)
    return picture.predictions[picture.view_steps]


def drawn_curve(view) -> np.ndarray:
    return np.array(view.step_curves[-1].getData()[1], dtype=np.float64)


def fits_threads() -> list[str]:
    names = [t.name for t in threading.enumerate() if t.name.startswith("maml-gui function")]
    names += [p.name for p in multiprocessing.active_children()
              if p.name.startswith("maml-gui function")]
    return names


@pytest.mark.parametrize("algorithm, extra", [
    ("maml", {}),
    # MetaNAS adapts without the operations the run pruned: the worker must get that state
    ("metanas", {"metanas_warmup": 0, "inner_lr": 0.05}),
    ("b_small", {"bsmall_log_sigma0": -2.5}),  # with its noise band
])
def test_the_worker_draws_what_fine_tuning_here_draws(qtbot, algorithm, extra):
    config = sinusoid_config(algorithm=algorithm, **extra)
    history = run_offline(config, 2, keep=2)
    record = history.latest
    view = make_view(qtbot, config)
    if algorithm == "metanas":
        pruned = np.zeros_like(view.model.learner.algorithm.pruned, dtype=np.float64)
        pruned[:, 0] = 1.0  # every unit loses its first operation
        record = dataclasses.replace(record, diagnostics={**record.diagnostics, "pruned": pruned})
    updates = []
    view.adaptation_updated.connect(updates.append)
    view.show_snapshot(running(config, history, record))
    assert view._in_flight is not None and updates == []  # computing beside, not here
    qtbot.waitUntil(lambda: view._in_flight is None, timeout=WAIT_MS)
    expected = reference(config, record)
    n = expected.view_steps
    np.testing.assert_allclose(drawn_curve(view), expected.predictions[n], rtol=0, atol=1e-12)
    np.testing.assert_allclose(view.before_curve.getData()[1], expected.predictions[0],
                               rtol=0, atol=1e-12)
    for steps, value in expected.mse["meta-learned"].items():
        assert view.comparison["meta-learned"][steps] == pytest.approx(value, rel=1e-12)
    assert len(updates) == 1
    np.testing.assert_array_equal(updates[0].paths[0], record.theta_next)
    if algorithm == "b_small":
        assert expected.band is not None and view.noise_band.visible
        np.testing.assert_allclose(view.noise_band.low.getData()[1], expected.band.low,
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(view.noise_band.high.getData()[1], expected.band.high,
                                   rtol=0, atol=1e-12)
    if algorithm == "metanas":  # the pruning changes the curve: a test that can fail
        unpruned = reference(config, history.latest)
        assert np.max(np.abs(unpruned.predictions[n] - expected.predictions[n])) > 1e-6
    # the result is kept: asking for the same picture here fine-tunes nothing
    assert view.model.cached_fits(view._request()) is not None


def test_a_result_for_an_older_picture_is_never_drawn(qtbot):
    config = sinusoid_config()
    history = run_offline(config, 2, keep=2)
    first, second = history.records
    view = make_view(qtbot, config, process=False)
    view.show_snapshot(running(config, history, first))
    assert view._in_flight is not None
    # paused on a newer θ before the result came: drawn here at once
    view.show_snapshot(dataclasses.replace(running(config, history, second), playing=False))
    shown = drawn_curve(view)
    expected = adapted(config, second)
    np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-12)
    updates = []
    view.adaptation_updated.connect(updates.append)
    qtbot.waitUntil(lambda: view._in_flight is None, timeout=WAIT_MS)  # the old result came
    assert updates == []
    np.testing.assert_array_equal(drawn_curve(view), shown)
    assert np.max(np.abs(adapted(config, first) - shown)) > 1e-6


def test_the_curve_follows_the_run_and_skips_superseded_thetas(qtbot, monkeypatch):
    monkeypatch.setattr(function_view, "FULL_SPEED_REFRESH_S", 0.0)
    config = sinusoid_config()
    history = run_offline(config, 4, keep=4)
    records = history.records
    view = make_view(qtbot, config, process=False)
    updates = []
    view.adaptation_updated.connect(updates.append)
    for record in records:  # faster than the worker: θs 2 and 3 wait, then 4 replaces them
        view.show_snapshot(running(config, history, record))
    qtbot.waitUntil(lambda: len(updates) == 2 and view._in_flight is None, timeout=WAIT_MS)
    np.testing.assert_array_equal(updates[0].paths[0], records[0].theta_next)
    np.testing.assert_array_equal(updates[1].paths[0], records[-1].theta_next)
    np.testing.assert_allclose(drawn_curve(view), adapted(config, records[-1]),
                               rtol=0, atol=1e-12)
    qtbot.wait(50)
    assert len(updates) == 2  # nothing more was asked for


@pytest.mark.parametrize("process", [True, False])
def test_closing_while_fine_tuning_beside_leaves_nothing_running(qtbot, process, recwarn):
    config = sinusoid_config(inner_steps=60)  # ~60 steps of fine-tuning: still computing
    history = run_offline(config, 1)
    view = make_view(qtbot, config, process=process)
    shown = drawn_curve(view)
    view.show_snapshot(running(config, history, history.latest))
    assert view._in_flight is not None and fits_threads()
    view.close()
    assert fits_threads() == []
    qtbot.wait(100)  # a result that was on its way is not drawn on the closed view
    np.testing.assert_array_equal(drawn_curve(view), shown)
    assert [str(w.message) for w in recwarn] == []


def test_a_worker_that_fails_leaves_the_view_fine_tuning_here(qtbot, monkeypatch, capsys):
    from maml_gui.view import function_data

    def broken(self, request):
        raise RuntimeError("no room for the fits")

    monkeypatch.setattr(function_data.FunctionFitter, "fits", broken)  # the thread's fitter
    config = sinusoid_config()
    history = run_offline(config, 2, keep=2)
    first, second = history.records
    view = make_view(qtbot, config, process=False)
    view.show_snapshot(running(config, history, first))
    qtbot.waitUntil(lambda: view._in_flight is None, timeout=WAIT_MS)
    # drawn here instead, at once
    np.testing.assert_allclose(drawn_curve(view), adapted(config, first), rtol=0, atol=1e-12)
    assert "RuntimeError: no room for the fits" in capsys.readouterr().err
    updates = []
    view.adaptation_updated.connect(updates.append)
    view._last_refresh = -np.inf
    view.show_snapshot(running(config, history, second))  # from now on: here, at once
    assert len(updates) == 1 and view._in_flight is None and fits_threads() == []
    np.testing.assert_allclose(drawn_curve(view), adapted(config, second), rtol=0, atol=1e-12)


def test_a_worker_process_that_dies_leaves_the_view_fine_tuning_here(qtbot):
    config = sinusoid_config()
    history = run_offline(config, 3, keep=3)
    first, second, third = history.records
    view = make_view(qtbot, config, process=True)
    view.show_snapshot(running(config, history, first))
    qtbot.waitUntil(lambda: view._in_flight is None, timeout=WAIT_MS)
    worker = view._fit_slot.current
    view._last_refresh = -np.inf
    view.show_snapshot(running(config, history, second))
    assert view._in_flight is not None
    worker._channel._body.kill()  # killed before its result could come back
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=WAIT_MS)
    view._last_refresh = -np.inf
    view.show_snapshot(running(config, history, third))  # noticed: fine-tuned here, at once
    assert view._in_flight is None and not view._fits_beside
    np.testing.assert_allclose(drawn_curve(view), adapted(config, third), rtol=0, atol=1e-12)
