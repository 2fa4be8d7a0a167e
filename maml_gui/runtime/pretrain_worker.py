"""The pretrained (ERM) baseline trained in its own thread, for the function view."""

from __future__ import annotations

import sys
import threading
import time
import traceback

from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config
from maml_gui.core.function_space import train_pretrained
from maml_gui.runtime.daemon import DaemonThreadMixin

PROGRESS_INTERVAL_S = 0.05  # progress at most ~20 times a second


class PretrainWorker(DaemonThreadMixin, QObject):
    """Trains the pretrained (ERM) baseline of a config in a daemon thread.

    Signals reach ``@Slot`` methods of GUI-thread objects as queued calls; every one carries
    the ``generation`` it was started with, so results of a cancelled training are dropped.
    """

    progressed = Signal(int, int, int)
    """(generation, steps done, steps in all)."""
    finished = Signal(int, object)
    """(generation, θ of the pretrained model as a float64 numpy vector)."""
    failed = Signal(int, str)
    """(generation, a readable one-line message)."""

    def __init__(self, config: Config, steps: int, generation: int, parent: QObject | None = None):
        super().__init__(parent)
        self.config = config
        self.steps = steps
        self.generation = generation
        self._stopping = threading.Event()
        self._init_thread("maml-gui pretrain")

    def stop(self) -> None:
        """Finish after the current step; pair with :meth:`wait`."""
        self._stopping.set()

    def _run(self) -> None:
        last = [0.0]

        def progress(done: int, total: int, _record) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                self.progressed.emit(self.generation, done, total)

        try:
            theta = train_pretrained(self.config, self.steps, progress=progress,
                                     should_stop=self._stopping.is_set)
        except Exception as exc:  # relayed to the view: the app must stay usable
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(self.generation, f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
        if theta is not None and not self._stopping.is_set():
            self.finished.emit(self.generation, theta)
