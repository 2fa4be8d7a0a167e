"""Meta-training beside the window: one or several runs in lockstep.

:class:`TrainingWorker` runs :func:`maml_gui.runtime.training_process.serve` through a
:class:`~maml_gui.runtime.channel.Channel`: in a child process where the platform offers
``forkserver`` (the default), else in a daemon thread of this process (the fallback, also
used by tests of the protocol). Both speak the same protocol over their queues.

The worker puts each step's records into an inbox and emits ``records_available`` only when
the inbox goes from empty to non-empty, so a fast run can never flood the event queue; the
controller drains the inbox at its own pace, and each drain is acknowledged to the serve
loop, which never runs more than ``MAX_AHEAD`` steps ahead. Control calls
(:meth:`request_steps`, :meth:`send_changes`, :meth:`stop`, ...) are thread-safe and take
effect between steps.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, config_json
from maml_gui.core.trace import StepRecord
from maml_gui.runtime import processes
from maml_gui.runtime.channel import Channel, ChannelWorker
from maml_gui.runtime.training_process import serve

THREAD_NAME = "maml-gui training"


class TrainingWorker(ChannelWorker, QObject):
    """Trains ``configs`` in lockstep in a child process (``process=True``) or a thread."""

    records_available = Signal()
    """The inbox went from empty to non-empty: call :meth:`take_records`."""
    failed = Signal(str)
    """A run raised an exception: a readable one-line message (the traceback goes to stderr)."""

    def __init__(self, configs: Sequence[Config],
                 theta0s: Sequence[np.ndarray | None] | None = None, parent=None, *,
                 compare_to_maml: bool = False, process: bool = True):
        super().__init__(parent)
        self.configs = list(configs)
        theta0s = list(theta0s) if theta0s is not None else [None] * len(self.configs)
        self._lock = threading.Lock()
        self._inbox: deque[tuple[StepRecord | None, ...]] = deque()
        self._channel = Channel(
            serve, ([config_json(c) for c in self.configs], theta0s, compare_to_maml),
            name=THREAD_NAME, on_result=self._on_result, process=process,
            on_start_failed=lambda reason: self.failed.emit(
                f"could not start the training process: {reason}"))

    def request_steps(self, count: int = 1) -> None:
        """Allow ``count`` more meta-steps (when not free-running)."""
        self._channel.send(("steps", count))

    def set_free_running(self, free: bool) -> None:
        """Train as fast as possible (True) or only the requested steps (False)."""
        self._channel.send(("free", free))

    def send_changes(self, changes: Mapping[str, Any], run: int | None = None) -> None:
        """Hot settings for the next step, for one run or (None) all of them."""
        self._channel.send(("changes", run, dict(changes)))

    def take_records(self) -> list[tuple[StepRecord | None, ...]]:
        """Every step computed since the last call, oldest first."""
        with self._lock:
            records = list(self._inbox)
            self._inbox.clear()
        if records:
            self._channel.send(("ack", len(records)))
        return records

    def pending(self) -> int:
        with self._lock:
            return len(self._inbox)

    def _on_result(self, message: tuple) -> None:
        if message[0] == "records":
            with self._lock:
                self._inbox.append(tuple(_frozen(r) for r in message[1]))
                notify = len(self._inbox) == 1
            if notify:
                self.records_available.emit()
        elif message[0] == "failed":
            self.failed.emit(message[1])


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
                         compare_to_maml: bool = False) -> TrainingWorker:
    """The best worker this platform has (a process where ``forkserver`` exists)."""
    return TrainingWorker(configs, theta0s, parent, compare_to_maml=compare_to_maml,
                          process=process_workers_available())
