"""The life cycle of an owner's workers: one current, retired ones finishing, bounded stops.

Every owner of workers (the run and comparison controllers, the canvas, the function view)
does the same four things: replace the current worker (disconnect it, ask it to stop, keep
it until it has ended so Qt never destroys a running one), forget workers that have ended,
wait a bounded time for all of them on shutdown, and stop them even when the owner is
garbage-collected without a shutdown.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Protocol

STOP_WAIT_MS = 1000


class Worker(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def wait(self, timeout_ms: int) -> bool: ...
    def is_running(self) -> bool: ...
    def deleteLater(self) -> None: ...


Connection = tuple[Any, Callable[..., Any]]  # (a bound Qt signal, its receiver)


class WorkerSlot:
    """Holds ``owner``'s current worker and the retired ones that have not ended yet."""

    def __init__(self, owner: object):
        self._current: Worker | None = None
        self._connections: tuple[Connection, ...] = ()
        self._retired: list[Worker] = []
        self._all: list[Worker] = []
        # Should the owner be destroyed without shutdown(), its workers still end.
        weakref.finalize(owner, _stop_all, self._all)

    @property
    def current(self) -> Any:
        """The worker installed last and not retired (None if there is none)."""
        return self._current

    def install(self, worker: Worker, *connections: Connection) -> Any:
        """Retire the current worker, connect ``worker``'s signals and make it current.

        ``connections`` are ``(signal, receiver)`` pairs, disconnected again on retirement so
        a retired worker's late results never reach the owner. Returns ``worker`` (not
        started: the caller starts it when ready)."""
        self.retire()
        for signal, receiver in connections:
            signal.connect(receiver)
        self._current, self._connections = worker, connections
        self._all.append(worker)
        return worker

    def retire(self) -> None:
        """Disconnect and stop the current worker (it ends in the background)."""
        worker, self._current = self._current, None
        if worker is not None:
            for signal, receiver in self._connections:
                signal.disconnect(receiver)
            self._connections = ()
            worker.stop()
            self._retired.append(worker)
        self.forget_finished()

    def release(self, timeout_ms: int = STOP_WAIT_MS) -> None:
        """The current worker has delivered its last result: wait for it to end, retire it."""
        if self._current is not None:
            self._current.wait(timeout_ms)
        self.retire()

    def forget_finished(self) -> None:
        """Let Qt delete the retired workers that have ended."""
        for worker in [w for w in self._retired if not w.is_running()]:
            self._retired.remove(worker)
            self._all.remove(worker)
            worker.deleteLater()

    def busy(self) -> bool:
        """The current worker is running."""
        return self._current is not None and self._current.is_running()

    def shutdown(self, timeout_ms: int = STOP_WAIT_MS) -> bool:
        """Retire the current worker and wait for every worker, ``timeout_ms`` in all.

        Returns True if all have ended."""
        self.retire()
        deadline = time.perf_counter() + timeout_ms / 1000.0
        for worker in list(self._retired):
            worker.wait(max(1, int(1000 * (deadline - time.perf_counter()))))
        self.forget_finished()
        return not self._retired


def _stop_all(workers: list[Worker]) -> None:
    for worker in list(workers):
        worker.stop()
