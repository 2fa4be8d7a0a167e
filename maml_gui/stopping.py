"""SIGTERM handled like Ctrl-C.

``timeout``, CI runners and service managers stop a program with SIGTERM, which by default
kills Python on the spot: no ``finally`` runs, so temporary ``.NAME.partial-XXXX`` files stay
behind. Inside :func:`sigterm_as_interrupt` SIGTERM raises :class:`Terminated` (a
``KeyboardInterrupt``) instead, so the same clean-up as for Ctrl-C runs and the old target
is kept.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_received: list[int] = []  # the signal, kept until the block ends


def _raise_terminated(signum, _frame) -> None:
    _received.append(signum)
    raise Terminated(f"received signal {signum}")


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` again if SIGTERM arrived within the block.

    The handler's exception is lost when the signal lands inside a Qt slot (PySide prints
    it and carries on: pyqtgraph's ``prepareForPaint`` runs during every scene render), so
    code that paints calls this afterwards.
    """
    if _received:
        raise Terminated(f"received signal {_received[-1]}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (a no-op
    outside the main thread, where Python cannot install signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _received.clear()


__all__ = ["EXIT_TERMINATED", "Terminated", "raise_if_terminated", "sigterm_as_interrupt"]
