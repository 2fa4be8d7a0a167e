"""Test setup shared by every tier: headless Qt, one torch thread, no leaked threads or timers."""

from __future__ import annotations

import os
import threading
import weakref

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import pytest
import torch

torch.set_num_threads(1)

THREAD_PREFIX = "maml-gui"


@pytest.fixture(autouse=True)
def no_dangling_threads_or_timers(request):
    """Fail a test that leaves a maml-gui thread or process, or a started QTimer, running.

    Qt tests request ``qtbot`` through this fixture, so qtbot (and the widgets it closes)
    is torn down first and the check sees the state after cleanup.
    """
    if "qtbot" not in request.fixturenames:
        yield
        _check_threads()
        return
    from PySide6.QtCore import QTimer

    request.getfixturevalue("qtbot")
    started: list[weakref.ref] = []
    original_start = QTimer.start

    def tracking_start(timer, *args):
        started.append(weakref.ref(timer))
        return original_start(timer, *args)

    QTimer.start = tracking_start
    try:
        yield
    finally:
        QTimer.start = original_start
    running = []
    for ref in started:
        timer = ref()
        try:
            # the GUI-thread garbage collector's timer runs for the application's life
            if timer is not None and timer.isActive() and timer.objectName() != \
                    "maml-gui garbage collector":
                parent = timer.parent()
                running.append(f"{timer.objectName() or 'QTimer'} (parent {type(parent).__name__})")
        except RuntimeError:  # the C++ object is gone: it cannot be running
            pass
    _check_threads()
    assert not running, f"test left timers running: {running}"


def _check_threads() -> None:
    import multiprocessing

    leftovers = [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    for thread in leftovers:
        thread.join(0.5)
    alive = [t.name for t in leftovers if t.is_alive()]
    assert not alive, f"test left threads running: {alive}"
    children = [p for p in multiprocessing.active_children() if p.name.startswith(THREAD_PREFIX)]
    for child in children:
        child.join(0.5)
    running = [p.name for p in children if p.is_alive()]
    assert not running, f"test left processes running: {running}"
