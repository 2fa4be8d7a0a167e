"""Meta-training beside the window: one or several runs in lockstep.

Two workers with one interface. :class:`ProcessTrainingWorker` (the default where the
platform offers ``forkserver``) trains in a child process: training is many small torch
calls, each holding Python's GIL for a moment, and from a thread of the window's own process
that made the window wait for the GIL hundreds of times per frame. :class:`ThreadTrainingWorker`
trains in a daemon thread of this process (the fallback, and for tests of the protocol).

Both put each step's records into an inbox and emit ``records_available`` only when the
inbox goes from empty to non-empty, so a fast run can never flood the event queue; the
controller drains the inbox at its own pace. Control calls (:meth:`request_steps`,
:meth:`send_changes`, :meth:`stop`, ...) are thread-safe and take effect between steps.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from collections import deque
from typing import Any, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, ConfigError, config_json
from maml_gui.core.device import DeviceError
from maml_gui.core.trace import StepRecord
from maml_gui.runtime import processes
from maml_gui.runtime.daemon import DaemonThreadMixin
from maml_gui.runtime.lockstep import Lockstep
from maml_gui.runtime.training_process import MAX_AHEAD, serve

# Beyond this many undrained steps a worker waits: a stalled GUI cannot make memory grow.
INBOX_LIMIT = MAX_AHEAD
THREAD_NAME = "maml-gui training"


class _Worker(QObject):
    """The inbox and the signals; subclasses compute the records."""

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
        self._lock = threading.Lock()
        self._inbox: deque[tuple[StepRecord | None, ...]] = deque()

    def _deliver(self, records: tuple[StepRecord | None, ...]) -> None:
        with self._lock:
            self._inbox.append(records)
            notify = len(self._inbox) == 1
        if notify:
            self.records_available.emit()

    def take_records(self) -> list[tuple[StepRecord | None, ...]]:
        """Every step computed since the last call, oldest first."""
        with self._lock:
            records = list(self._inbox)
            self._inbox.clear()
        self._taken(len(records))
        return records

    def pending(self) -> int:
        with self._lock:
            return len(self._inbox)

    def _taken(self, count: int) -> None:
        """Hook: the window consumed ``count`` results."""


class ThreadTrainingWorker(DaemonThreadMixin, _Worker):
    """Trains in a daemon thread of this process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._condition = threading.Condition()
        self._changes: list[dict[str, Any]] = [{} for _ in self.configs]
        self._budget = 0
        self._free_running = False
        self._stopping = False
        self._init_thread(THREAD_NAME)

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

    def _taken(self, count: int) -> None:
        with self._condition:
            self._condition.notify_all()

    def _run(self) -> None:
        try:
            runner = Lockstep(self.configs, self._theta0s, self._compare)
            while runner.running:
                changes = self._wait_for_permission()
                if changes is None:
                    return
                self._deliver(runner.step(changes))
        except Exception as exc:  # relayed to the window: the app must stay usable
            traceback.print_exc(file=sys.stderr)
            if isinstance(exc, (ConfigError, DeviceError)):
                self.failed.emit(str(exc))
            else:
                self.failed.emit(f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _wait_for_permission(self) -> list[dict[str, Any]] | None:
        with self._condition:
            while not self._stopping and (
                self.pending() >= INBOX_LIMIT
                or not (self._free_running or self._budget > 0)
            ):
                self._condition.wait()
            if self._stopping:
                return None
            if not self._free_running:
                self._budget -= 1
            changes, self._changes = self._changes, [{} for _ in self.configs]
            return changes


class ProcessTrainingWorker(_Worker):
    """Trains in a child process; a small reader thread here turns its results into records."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        context = processes.context()
        self._commands = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(
            target=serve, name="maml-gui training process", daemon=True,
            args=([config_json(c) for c in self.configs], self._theta0s, self._compare,
                  self._commands, self._results))
        self._reader = threading.Thread(target=self._read, name="maml-gui results", daemon=True)

    def start(self) -> None:
        self._reader.start()  # it starts the process: the first start may wait for the forkserver

    def wait(self, timeout_ms: int) -> bool:
        """Wait for the process (and the reader) to end; a process still busy after the bound
        is terminated (a process, unlike a thread, can be stopped safely)."""
        self._reader.join(timeout_ms / 1000.0)  # it ends with the process's last message
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(0.5)
        if self._reader.ident is not None:
            self._reader.join(0.5)
        return not (self._process.is_alive() or self._reader.is_alive())

    def is_running(self) -> bool:
        return self._process.is_alive() or self._reader.is_alive()

    def request_steps(self, count: int = 1) -> None:
        self._commands.put(("steps", count))

    def set_free_running(self, free: bool) -> None:
        self._commands.put(("free", free))

    def send_changes(self, changes: Mapping[str, Any], run: int | None = None) -> None:
        self._commands.put(("changes", run, dict(changes)))

    def stop(self) -> None:
        self._commands.put(("stop",))

    def _taken(self, count: int) -> None:
        if count:
            self._commands.put(("ack", count))

    def _read(self) -> None:
        try:
            self._process.start()
        except Exception as exc:  # e.g. no process can be started here: say so
            self.failed.emit(f"could not start the training process: {exc}")
            return
        while True:
            try:
                message = self._results.get(timeout=0.25)
            except queue.Empty:
                if not self._process.is_alive():  # killed, or crashed without a word
                    return
                continue
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "records":
                self._deliver(tuple(_frozen(r) for r in message[1]))
            elif kind == "failed":
                self.failed.emit(message[1])
            elif kind == "done":
                return


def _frozen(record: StepRecord | None) -> StepRecord | None:
    """Unpickled arrays come back writable: make them read-only again, as records promise."""
    if record is not None:
        for value in record.__dict__.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        for value in record.diagnostics.values():
            value.flags.writeable = False
    return record


def process_workers_available() -> bool:
    return processes.available()


def make_training_worker(configs: Sequence[Config], theta0s=None, parent=None, *,
                         compare_to_maml: bool = False) -> _Worker:
    """The best worker this platform has (a process where ``forkserver`` exists)."""
    kind = ProcessTrainingWorker if process_workers_available() else ThreadTrainingWorker
    return kind(configs, theta0s, parent, compare_to_maml=compare_to_maml)
