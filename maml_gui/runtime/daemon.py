"""The life cycle shared by the workers that compute in a daemon thread of this process."""

from __future__ import annotations

import threading


class DaemonThreadMixin:
    """``start``/``wait``/``is_running`` around ``self._run`` in a daemon thread.

    Daemon, so that a step outlasting the bounded wait on close cannot keep the process (or
    Qt's "QThread destroyed while running" abort) from ending it.
    """

    def _init_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_ms: int) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread.ident is not None:
            self._thread.join(timeout_ms / 1000.0)
        return not self._thread.is_alive()

    def is_running(self) -> bool:
        return self._thread.is_alive()
