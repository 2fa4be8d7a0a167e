"""Meta-training in its own thread, one or several runs in lockstep.

The thread is a daemon ``threading.Thread`` owned by a GUI-thread QObject: its signals reach
``@Slot`` methods of GUI-thread objects as queued calls, and should a step outlast the
bounded wait on close, the process can still exit without Qt's "QThread destroyed while
running" abort. The worker never touches a widget. It puts each step's records into an inbox and emits
``records_available`` only when the inbox goes from empty to non-empty, so a fast run can
never flood the GUI's event queue; the controller drains the inbox at its own pace.
Control calls (:meth:`request_steps`, :meth:`send_changes`, :meth:`stop`, ...) are
thread-safe and take effect between steps.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections import deque
from typing import Any, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, ConfigError
from maml_gui.core.device import DeviceError
from maml_gui.core.trace import StepRecord
from maml_gui.core.training import train

# Beyond this many undrained steps the worker waits: a stalled GUI cannot make memory grow.
INBOX_LIMIT = 512


class TrainingWorker(QObject):
    """Steps every run once per meta-step; runs whose record diverged are left out after it."""

    records_available = Signal()
    """The inbox went from empty to non-empty: call :meth:`take_records`."""
    failed = Signal(str)
    """A run raised an exception: a readable one-line message (the traceback goes to stderr)."""

    def __init__(self, configs: Sequence[Config],
                 theta0s: Sequence[np.ndarray | None] | None = None, parent=None, *,
                 compare_to_maml: bool = False):
        super().__init__(parent)
        self.configs = list(configs)
        self._compare = compare_to_maml
        self._theta0s = list(theta0s) if theta0s is not None else [None] * len(self.configs)
        self._condition = threading.Condition()
        self._inbox: deque[tuple[StepRecord | None, ...]] = deque()
        self._changes: list[dict[str, Any]] = [{} for _ in self.configs]
        self._budget = 0
        self._free_running = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="maml-gui training", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_ms: int) -> bool:
        """Wait for the thread to end; True if it has."""
        self._thread.join(timeout_ms / 1000.0)
        return not self._thread.is_alive()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    # --- control (any thread) ---------------------------------------------------------
    def request_steps(self, count: int = 1) -> None:
        """Allow ``count`` more meta-steps (when not free-running)."""
        with self._condition:
            self._budget += count
            self._condition.notify_all()

    def set_free_running(self, free: bool) -> None:
        """Train as fast as possible (True) or only the requested steps (False)."""
        with self._condition:
            self._free_running = free
            if not free:
                self._budget = 0
            self._condition.notify_all()

    def send_changes(self, changes: Mapping[str, Any], run: int | None = None) -> None:
        """Hot settings for the next step, for one run or (None) all of them."""
        with self._condition:
            for index in range(len(self.configs)) if run is None else [run]:
                self._changes[index].update(changes)

    def stop(self) -> None:
        """Finish after the current step; pair with ``wait()``."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()

    def take_records(self) -> list[tuple[StepRecord | None, ...]]:
        """Every step computed since the last call, oldest first."""
        with self._condition:
            records = list(self._inbox)
            self._inbox.clear()
            self._condition.notify_all()
            return records

    def pending(self) -> int:
        with self._condition:
            return len(self._inbox)

    # --- the thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # relayed to the window: the app must stay usable
            traceback.print_exc(file=sys.stderr)
            if isinstance(exc, (ConfigError, DeviceError)):
                self.failed.emit(str(exc))
            else:
                self.failed.emit(f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _wait_for_permission(self) -> list[dict[str, Any]] | None:
        with self._condition:
            while not self._stopping and (
                len(self._inbox) >= INBOX_LIMIT
                or not (self._free_running or self._budget > 0)
            ):
                self._condition.wait()
            if self._stopping:
                return None
            if not self._free_running:
                self._budget -= 1
            changes, self._changes = self._changes, [{} for _ in self.configs]
            return changes

    def _loop(self) -> None:
        generators: list[Any] = [None] * len(self.configs)
        active = [True] * len(self.configs)
        while any(active):
            changes = self._wait_for_permission()
            if changes is None:
                return
            records: list[StepRecord | None] = []
            for index, generator in enumerate(generators):
                if not active[index]:
                    records.append(None)
                    continue
                if generator is None:  # the first step builds the trainer: errors raise here
                    config = self.configs[index]
                    if changes[index]:
                        config = config.with_changes(changes[index])
                    generator = generators[index] = train(config, None,
                                                          theta0=self._theta0s[index],
                                                          compare_to_maml=self._compare)
                    record = next(generator)
                else:
                    record = generator.send(changes[index] or None)
                records.append(record)
                if record.diverged:
                    active[index] = False
                    generator.close()
            with self._condition:
                self._inbox.append(tuple(records))
                notify = len(self._inbox) == 1
            if notify:
                self.records_available.emit()
