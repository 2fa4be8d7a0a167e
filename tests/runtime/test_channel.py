"""The worker transport: one serve loop in a process or a thread, one slot type, one probe."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject, Signal

from maml_gui.core import device
from maml_gui.core.config import make_config
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks
from maml_gui.runtime import processes
from maml_gui.runtime.landscape_worker import LandscapeRequest, LandscapeWorker
from maml_gui.runtime.training_worker import TrainingWorker
from maml_gui.runtime.worker_slot import WorkerSlot

QUADRATIC = make_config({"task": {"family": "quadratic", "n_tasks": 3}})
KINDS = [pytest.param(True, id="process",
                      marks=pytest.mark.skipif(not processes.available(), reason="no forkserver")),
         pytest.param(False, id="thread")]


@pytest.fixture(params=KINDS)
def landscape_worker(request, qtbot):
    """A landscape worker in a child process, then in a thread; stopped after the test."""
    worker = LandscapeWorker(process=request.param)
    yield worker
    worker.stop()
    assert worker.wait(5000)


def test_landscape_serve_loop_gives_the_same_surfaces_in_a_process_and_a_thread(
        qtbot, landscape_worker):
    worker = landscape_worker
    got: list[tuple[int, object]] = []
    worker.surface_ready.connect(lambda generation, surface: got.append((generation, surface)))
    worker.request(LandscapeRequest(7, QUADRATIC, landscape_tasks(QUADRATIC), "mean", (-1.0, 1.0),
                                    (-2.0, 2.0), (5, 9), dtype=torch.float64))
    qtbot.waitUntil(lambda: len(got) == 2 and worker.idle(), timeout=60_000)
    assert [generation for generation, _ in got] == [7, 7]
    assert [len(surface.x) for _, surface in got] == [5, 9]  # coarse first
    expected = LandscapeEvaluator(QUADRATIC, landscape_tasks(QUADRATIC), dtype=torch.float64).grid(
        "mean", (-1.0, 1.0), (-2.0, 2.0), 9)
    np.testing.assert_allclose(got[1][1].z, expected.z, rtol=1e-12)


def test_a_failing_request_is_relayed_as_one_line_and_the_loop_goes_on(qtbot, landscape_worker):
    worker = landscape_worker
    failures: list[tuple[int, str]] = []
    worker.failed.connect(lambda generation, message: failures.append((generation, message)))
    tasks = landscape_tasks(QUADRATIC)
    worker.request(LandscapeRequest(1, QUADRATIC, tasks, "no such surface", (-1.0, 1.0),
                                    (-1.0, 1.0), (5,)))
    qtbot.waitUntil(lambda: bool(failures) and worker.idle(), timeout=60_000)
    surfaces = []
    worker.surface_ready.connect(lambda generation, surface: surfaces.append(generation))
    worker.request(LandscapeRequest(2, QUADRATIC, tasks, "mean", (-1.0, 1.0), (-1.0, 1.0), (5,)))
    qtbot.waitUntil(lambda: surfaces == [2], timeout=30_000)
    assert failures[0][0] == 1 and "\n" not in failures[0][1] and failures[0][1]


def test_cuda_is_probed_once_and_only_in_the_main_thread(qtbot, monkeypatch):
    """The segfault with the CUDA build: ``torch.cuda.is_available()`` from a worker thread."""
    callers: list[threading.Thread] = []

    def is_available() -> bool:
        callers.append(threading.current_thread())
        return False

    monkeypatch.setattr(device, "_probe", None)  # as in a fresh process
    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    worker = TrainingWorker([QUADRATIC.with_changes({"device": "auto"})], process=False)
    try:
        worker.start()
        worker.request_steps(2)
        qtbot.waitUntil(lambda: worker.pending() == 2, timeout=10_000)
    finally:
        worker.stop()
        ended = worker.wait(5000)
    assert callers == [threading.main_thread()]
    assert ended
    assert device.resolve_device("auto") == torch.device("cpu")
    assert [d.name for d in device.list_devices() if d.available] == ["auto", "cpu"]
    assert len(callers) == 1  # answered from the cache ever since


class FakeWorker(QObject):
    """A worker whose end the test decides."""

    happened = Signal(int)

    def __init__(self):
        super().__init__()
        self.running = True
        self.stopped = False
        self.waited: list[int] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def wait(self, timeout_ms: int) -> bool:
        self.waited.append(timeout_ms)
        return not self.running

    def is_running(self) -> bool:
        return self.running


class Owner(QObject):
    def __init__(self):
        super().__init__()
        self.received: list[int] = []

    def on_happened(self, value: int) -> None:
        self.received.append(value)


def test_slot_retires_disconnects_and_forgets_only_finished_workers(qtbot):
    owner = Owner()
    slot = WorkerSlot(owner)
    first, second = FakeWorker(), FakeWorker()
    slot.install(first, (first.happened, owner.on_happened))
    first.happened.emit(1)
    slot.install(second, (second.happened, owner.on_happened))
    first.happened.emit(2)  # retired: its late results never reach the owner
    second.happened.emit(3)
    assert owner.received == [1, 3]
    assert first.stopped and not second.stopped and slot.current is second
    assert slot._retired == [first]  # still running: kept, so Qt cannot destroy it
    first.running = False
    slot.forget_finished()
    assert slot._retired == []
    assert not slot.shutdown(300)  # the current one never ends: bounded, and says so
    assert second.stopped and second.waited and second.waited[0] <= 300


def test_slot_stops_workers_of_an_owner_collected_without_shutdown(qtbot):
    owner = Owner()
    worker = FakeWorker()
    WorkerSlot(owner).install(worker)
    del owner
    gc.collect()
    assert worker.stopped
