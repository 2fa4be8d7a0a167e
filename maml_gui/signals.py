"""SIGINT and SIGTERM for headless commands: stop at a safe point, clean up, say so.

``timeout``, CI runners and service managers send SIGTERM, which Python does not turn into an
exception: without a handler the process dies on the spot, leaving temporary files behind.
Two ways to handle both signals the same way:

- :class:`StopRequest` (loops such as ``maml-gui run``): a signal only sets
  :attr:`StopRequest.signal`; the loop checks it between steps, so no step is cut in half and
  the state written afterwards (trace, checkpoint) is consistent. A second signal raises
  :class:`Interrupted` at once, for a user who does not want to wait.
- :func:`interrupt_on_signals` (one-shot work such as an export): a signal raises
  :class:`Interrupted` (a ``KeyboardInterrupt``) where the program is, so ``with`` blocks and
  ``except BaseException`` clean-ups (:class:`~maml_gui.core.io.AtomicPath`) run.

Both restore the previous handlers on exit, and do nothing outside the main thread (where
Python cannot install handlers). A signal that lands inside a Qt slot loses its exception
(PySide prints it and carries on: pyqtgraph's ``prepareForPaint`` runs during every scene
render), so code that paints calls :func:`raise_if_interrupted` afterwards.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT or SIGTERM (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by signal ``signum`` (130, 143)."""
    return 128 + int(signum)


EXIT_TERMINATED = exit_code(signal.SIGTERM)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _install(handler) -> dict[int, object] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    return {signum: signal.signal(signum, handler) for signum in HANDLED}


def _restore(previous: dict[int, object] | None) -> None:
    for signum, handler in (previous or {}).items():
        signal.signal(signum, handler)


class StopRequest:
    """``with StopRequest() as stop: ... if stop.signal: break`` (see the module docstring)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] | None = None

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # asked twice: stop now
            raise Interrupted(signum)
        self.signal = signum

    def __enter__(self) -> "StopRequest":
        self._previous = _install(self._handle)
        return self

    def __exit__(self, *exc) -> None:
        _restore(self._previous)
        self._previous = None


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block."""
    def handle(signum, frame):
        _received.append(signum)
        raise Interrupted(signum)

    _received.clear()
    previous = _install(handle)
    try:
        yield
    finally:
        _restore(previous)
        _received.clear()


_received: list[int] = []  # signals seen inside interrupt_on_signals, until the block ends


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` again if a signal arrived inside :func:`interrupt_on_signals`
    whose exception may have been swallowed by a Qt slot (see the module docstring)."""
    if _received:
        raise Interrupted(_received[-1])
