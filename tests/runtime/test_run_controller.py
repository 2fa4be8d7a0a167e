"""The run controller with a real worker thread: stepping, live changes, resets, divergence."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from PySide6.QtCore import QObject, Slot

from maml_gui.core.animation import visible
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.landscape import landscape_tasks
from maml_gui.runtime.run_controller import FULL_SPEED, RunController
from maml_gui.runtime.throttle import MIN_INTERVAL_MS

QUADRATIC = {"task": {"family": "quadratic", "n_tasks": 3, "eig_max": 1.0}, "inner_lr": 0.2,
             "inner_steps": 2, "outer_lr": 0.05}


@pytest.fixture(params=["process", "thread"])
def worker_kind(request, monkeypatch):
    """Run a test with the training process (the default) and with the thread fallback."""
    if request.param == "thread":
        monkeypatch.setattr("maml_gui.runtime.training_worker.process_workers_available",
                            lambda: False)
    return request.param


@pytest.fixture
def make_controller(qtbot):
    made = []

    def make(overrides=None, **kwargs):
        controller = RunController(make_config(overrides or {}), **kwargs)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.shutdown()


# The first worker process waits for the forkserver to import torch: over 10 s was measured
# on a loaded 2-core machine.
def wait_steps(qtbot, controller, count, timeout=30_000):
    qtbot.waitUntil(lambda: controller.history.total_steps >= count, timeout=timeout)


def test_step_meta_advances_exactly_one_meta_step(qtbot, make_controller, worker_kind):
    controller = make_controller(QUADRATIC)
    for expected in (1, 2, 3):
        controller.step_meta()
        wait_steps(qtbot, controller, expected)
        assert controller.history.total_steps == expected
        assert controller.frame_index == len(controller.frames) - 1
    qtbot.wait(100)  # nothing else arrives on its own: the worker only computes on request
    assert controller.history.total_steps == 3
    assert controller.current.step == 2


def test_step_inner_advances_exactly_one_inner_step(qtbot, make_controller):
    controller = make_controller({**QUADRATIC, "inner_steps": 3})
    controller.set_order("together")
    controller.step_inner()  # computes step 0 and shows its first frame (θ, no path yet)
    qtbot.waitUntil(lambda: controller.current is not None)
    record = controller.current
    shown = [visible(record, controller.frames[controller.frame_index]).path_points.copy()]
    for _ in range(3):
        controller.step_inner()
        shown.append(visible(record, controller.frames[controller.frame_index]).path_points.copy())
    assert [int(s[0]) for s in shown] == [1, 2, 3, 4]  # θ, then one more inner point each time
    assert all(np.all(s == s[0]) for s in shown)  # all tasks together
    assert controller.history.total_steps == 1
    frames_left = len(controller.frames) - 1 - controller.frame_index
    for _ in range(frames_left + 1):  # through the meta-update into the next meta-step
        controller.step_inner()
    qtbot.waitUntil(lambda: controller.history.total_steps == 2)
    assert controller.frame_index == 0 and controller.current.step == 1


def test_one_by_one_order_animates_task_after_task(qtbot, make_controller):
    controller = make_controller({**QUADRATIC, "inner_steps": 2})
    controller.set_order("one_by_one")
    controller.step_inner()
    qtbot.waitUntil(lambda: controller.current is not None)
    points = []
    for _ in range(4):
        controller.step_inner()
        points.append(tuple(visible(controller.current,
                                    controller.frames[controller.frame_index]).path_points))
    assert points == [(2, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)]  # task 0, its meta-grad, task 1


def test_hot_change_during_a_run_applies_without_reset(qtbot, make_controller, worker_kind):
    controller = make_controller(QUADRATIC)
    controller.set_speed(FULL_SPEED)
    controller.play()
    wait_steps(qtbot, controller, 5)
    run = controller.run_id
    first_step_after = controller.history.total_steps
    assert controller.apply_changes({"inner_lr": 0.05}) is False
    wait_steps(qtbot, controller, first_step_after + 20)
    controller.pause()
    records = list(controller.history.records)
    assert controller.run_id == run and records[0].step < first_step_after  # history kept
    assert records[-1].hyper["inner_lr"] == 0.05
    assert {r.hyper["inner_lr"] for r in records} <= {0.2, 0.05}
    steps = [r.step for r in records]
    assert steps == list(range(steps[0], steps[0] + len(steps)))  # no gap, no restart


def test_cold_change_restarts_the_run(qtbot, make_controller):
    controller = make_controller(QUADRATIC)
    controller.step_meta()
    controller.step_meta()
    wait_steps(qtbot, controller, 2)
    run = controller.run_id
    with qtbot.waitSignal(controller.run_restarted):
        assert controller.apply_changes({"algorithm": "reptile"}) is True
    assert controller.run_id == run + 1 and controller.history.total_steps == 0
    controller.step_meta()
    wait_steps(qtbot, controller, 1)
    assert controller.current.algorithm == "reptile" and controller.current.step == 0


def test_invalid_change_raises_and_changes_nothing(make_controller):
    controller = make_controller(QUADRATIC)
    before = controller.config
    with pytest.raises(ConfigError):
        controller.apply_changes({"inner_lr": -1})
    assert controller.config == before


def test_theta0_and_optimum_moves_restart_from_the_new_point(qtbot, make_controller):
    controller = make_controller({})
    controller.set_theta0(np.array([0.25, 0.4]))
    assert controller.config.theta0 == (0.25, 0.4)
    controller.step_meta()
    wait_steps(qtbot, controller, 1)
    np.testing.assert_array_equal(controller.current.theta, [0.25, 0.4])
    controller.move_optimum(1, (0.6, 0.1))
    assert controller.config.task["optima"][1] == (0.6, 0.1)
    assert controller.config.task["optima"][0] == (0.3, 0.05)
    np.testing.assert_allclose(landscape_tasks(controller.config)["optima"][1], [0.6, 0.1])


def test_divergence_pauses_and_reports(qtbot, make_controller, worker_kind):
    controller = make_controller({**QUADRATIC, "inner_lr": 90.0, "inner_steps": 20})
    controller.set_speed(FULL_SPEED)
    with qtbot.waitSignal(controller.diverged, timeout=10_000) as blocker:
        controller.play()
    record = blocker.args[0]
    assert record.diverged and "inner learning rate" in record.reason
    assert not controller.playing and controller.current is record


def test_worker_errors_are_reported_not_swallowed(qtbot, make_controller, worker_kind):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    controller = make_controller({"device": "cuda"})
    with qtbot.waitSignal(controller.failed, timeout=10_000) as blocker:
        controller.step_meta()
    assert "CUDA is not available" in blocker.args[0]
    controller.apply_changes({"device": "cpu"})  # still usable afterwards
    controller.step_meta()
    wait_steps(qtbot, controller, 1)


def test_full_speed_snapshots_are_coalesced(qtbot, make_controller):
    controller = make_controller(QUADRATIC)
    snapshots = []
    controller.snapshot_published.connect(lambda s: snapshots.append(s))
    controller.set_speed(FULL_SPEED)
    controller.play()
    wait_steps(qtbot, controller, 1)  # the worker is up
    snapshots.clear()
    start = controller.history.total_steps
    qtbot.wait(1000)
    controller.pause()
    steps = controller.history.total_steps - start
    assert steps > 100  # the worker really ran flat out
    # the pacing's 40 a second (plus the pause's own and the wait's overrun), not one a step
    assert len(snapshots) <= 1000.0 / MIN_INTERVAL_MS + 3 < steps / 2


class _ThreadSpy(QObject):
    def __init__(self):
        super().__init__()
        self.threads = set()

    @Slot(object)
    def record(self, _snapshot):
        self.threads.add(threading.get_ident())


def test_receivers_run_on_the_gui_thread(qtbot, make_controller):
    spy = _ThreadSpy()
    controller = make_controller(QUADRATIC)
    controller.snapshot_published.connect(spy.record)
    controller.set_speed(FULL_SPEED)
    controller.play()
    wait_steps(qtbot, controller, 50)
    controller.pause()
    assert spy.threads == {threading.main_thread().ident}


def test_shutdown_leaves_no_thread(qtbot, make_controller, worker_kind):
    controller = make_controller(QUADRATIC)
    controller.set_speed(FULL_SPEED)
    controller.play()
    wait_steps(qtbot, controller, 10)
    controller.shutdown()
    import multiprocessing

    assert not [t for t in threading.enumerate() if t.name.startswith("maml-gui")]
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("maml-gui")]


@pytest.mark.slow
def test_stress_random_changes_during_a_run(qtbot, make_controller):
    """Hundreds of random hot/cold changes, pauses, steps and resets while training."""
    rng = random.Random(1)
    controller = make_controller(QUADRATIC)
    controller.set_speed(FULL_SPEED)
    controller.play()
    seen = []
    controller.snapshot_published.connect(lambda s: seen.append(s.record) if s.record else None)
    for _ in range(300):
        action = rng.random()
        if action < 0.55:
            changes = rng.choice([
                {"inner_lr": rng.choice([0.01, 0.05, 0.1, 0.3])},
                {"inner_steps": rng.randint(1, 4)},
                {"outer_lr": rng.choice([0.01, 0.05, 0.1])},
            ])
            controller.apply_changes(changes)
        elif action < 0.65:
            controller.apply_changes(rng.choice([
                {"algorithm": rng.choice(["maml", "fomaml", "reptile", "imaml"])},
                {"seed": rng.randint(0, 5)},
                {"task.n_tasks": rng.randint(2, 4)},
            ]))
        elif action < 0.75:
            controller.toggle_play()
        elif action < 0.82:
            controller.step_inner()
        elif action < 0.9:
            controller.step_meta()
        elif action < 0.93:
            controller.reset()
        else:
            controller.set_speed(rng.choice([2.0, 30.0, FULL_SPEED]))
        qtbot.wait(rng.choice([0, 1, 5]))
    controller.set_speed(FULL_SPEED)
    controller.play()
    before = controller.history.total_steps
    wait_steps(qtbot, controller, before + 60)  # not stuck
    controller.pause()
    checked = 0
    for record in seen + list(controller.history.records):
        if record.algorithm == "pretrain" or record.diverged:
            continue
        hyper = record.hyper
        assert record.inner_steps == hyper["inner_steps"]
        # the first inner step was taken with the recorded α: ‖φ¹ − θ‖ = α‖∇L(θ)‖ (iMAML's
        # proximal term is zero at φ⁰ = θ, so this holds for every algorithm with a path)
        step = record.paths[:, 1] - record.paths[:, 0]
        ratio = np.linalg.norm(step, axis=1) / np.maximum(record.inner_grad_norms[:, 0], 1e-300)
        np.testing.assert_allclose(ratio, hyper["inner_lr"], rtol=1e-9)
        checked += 1
    assert checked > 50


def test_replay_recomputes_a_run_with_live_changes_exactly(qtbot, make_controller, worker_kind):
    controller = make_controller({**QUADRATIC, "outer_optimizer": "adam"})
    for step, changes in ((3, {"inner_lr": 0.05}), (6, {"inner_steps": 4, "outer_lr": 0.2})):
        while controller.history.total_steps < step:
            controller.step_meta()
            wait_steps(qtbot, controller, controller.history.total_steps + 1)
        controller.apply_changes(changes)
    for _ in range(3):
        controller.step_meta()
    wait_steps(qtbot, controller, 9)
    assert controller.change_log == [(3, {"inner_lr": 0.05}), (6, {"inner_steps": 4, "outer_lr": 0.2})]
    replayed = controller.replay_records()
    assert len(replayed) == 9
    for live, again in zip(controller.history.records, replayed[-len(controller.history.records):]):
        assert live.step == again.step and live.hyper == again.hyper
        np.testing.assert_array_equal(live.theta_next, again.theta_next)
        np.testing.assert_array_equal(live.paths, again.paths)
