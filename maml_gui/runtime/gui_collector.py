"""Python's cyclic garbage collection in the GUI thread only, once a serve loop runs in a
thread of the window's process.

The collector runs in whichever thread happens to allocate when a generation's count passes
its threshold. With a training loop in a thread (where there is no forkserver, and in the
thread-fallback tests) that is usually the training thread, and a pass there may free Python
wrappers of Qt objects left in reference cycles (closed windows, removed plot items): Qt
objects destroyed outside the GUI thread crashed the process (a bus error inside
``autograd.grad`` while "Garbage-collecting", about one run in four of the runtime tests).
So, from the first thread-run serve loop on, automatic collection is off and a timer in the
GUI thread does the same work on the same thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

PUMP_MS = 50  # how often the GUI thread checks the collector's counts
TIMER_NAME = "maml-gui garbage collector"  # runs for the application's life, by design

_pump: "_GuiThreadCollector | None" = None


class _GuiThreadCollector(QObject):
    def __init__(self, app: QCoreApplication):
        super().__init__(app)  # lives as long as the application
        self._timer = QTimer(self)
        self._timer.setObjectName(TIMER_NAME)
        self._timer.setInterval(PUMP_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count passed its threshold (as the automatic
        collector does when it is on), here in the GUI thread."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = -1
        for generation in range(3):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                due = generation
            else:
                break
        if due >= 0:
            gc.collect(due)


def collect_in_gui_thread() -> bool:
    """From now on, collect garbage only in the GUI thread (idempotent; call it from the GUI
    thread before starting a serve loop in a thread). False without a Qt application, whose
    event loop the collection needs: then nothing changes."""
    global _pump
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return False
    if _pump is None:
        gc.collect()  # what is already garbage goes now, in this thread
        gc.disable()
        _pump = _GuiThreadCollector(app)
    return True


__all__ = ["PUMP_MS", "TIMER_NAME", "collect_in_gui_thread"]
