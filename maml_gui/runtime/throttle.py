"""At most one call per interval: how workers' results reach the views (GUI thread only)."""

from __future__ import annotations

import math
import time
from typing import Callable

from PySide6.QtCore import QObject, QTimer

MIN_INTERVAL_MS = 25.0  # at most 40 snapshots a second: room above 30 frames/s for jitter
MAX_INTERVAL_MS = 250.0
COST_SHARE = 0.5  # the callback may take at most this share of the GUI thread's time


class Throttle(QObject):
    """Runs ``callback`` once at the end of the interval since its last run started (on the
    next turn of the event loop if that has passed); the interval follows the callback's own
    cost (twice it, within bounds), so expensive frames are drawn less often and the window
    keeps time for painting and input. Intervals run from start to start: counted from the
    end, a 10 ms callback every 30 ms came 25 times a second, not 33.

    Never at once inside :meth:`request`: a request comes with a worker's results, handled
    among the posted events with the paint of the frame before, and a frame drawn there
    chained paint, frame and paint without a turn for the timers due meanwhile (the window's
    longest waits at full speed). From a timer, the frame runs beside the other timers due.

    ``min_ms`` and ``max_ms`` bound the interval (default: the snapshot rate, 40 a second).
    """

    def __init__(self, callback: Callable[[], None], parent: QObject | None = None, *,
                 min_ms: float = MIN_INTERVAL_MS, max_ms: float = MAX_INTERVAL_MS):
        super().__init__(parent)
        self._callback = callback
        self._min_ms, self._max_ms = min_ms, max_ms
        self.interval_ms = min_ms
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.run)

    def request(self) -> None:
        wait = self.interval_ms - 1000.0 * (time.perf_counter() - self._last)
        if not self._timer.isActive():
            self._timer.start(max(0, math.ceil(wait)))

    def run(self) -> None:
        self._timer.stop()
        self._last = time.perf_counter()
        self._callback()
        cost_ms = 1000.0 * (time.perf_counter() - self._last)
        self.interval_ms = min(self._max_ms, max(self._min_ms, cost_ms / COST_SHARE))

    def pending(self) -> bool:
        """A call is scheduled for the end of the interval."""
        return self._timer.isActive()

    def stop(self) -> None:
        self._timer.stop()
