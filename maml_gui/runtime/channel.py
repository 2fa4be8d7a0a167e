"""One transport for every worker: a serve loop beside the window, commands in, results out.

A serve loop is a plain function ``serve(*args, commands, results)`` (no Qt) that reads
command tuples from ``commands``, puts result tuples on ``results`` and puts ``("done",)``
last. :class:`Channel` runs it in a child process where the platform has a forkserver
(training is thousands of small torch calls, each holding the GIL for a moment: in a thread
they made the window wait), else in a daemon thread over ``queue.Queue``s. Either way a
reader thread here hands every result to ``on_result`` until ``("done",)``. The workers
(training, landscape, pretraining) differ only in their serve loop and their signals.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from typing import Any, Callable, Sequence

from maml_gui.core.device import probe_devices
from maml_gui.runtime import lifeline, processes

POLL_S = 0.25  # how often the reader checks that a silent body is still alive
TERMINATE_WAIT_S = 0.5


def failure_message(exc: BaseException, readable: tuple[type[BaseException], ...] = ()) -> str:
    """The one line relayed to the window for an exception raised in a serve loop.

    ``readable`` errors already say what is wrong in words; anything else is a bug, so its
    traceback goes to stderr and the window gets its type and first line."""
    if isinstance(exc, readable):
        return str(exc)
    traceback.print_exc(file=sys.stderr)
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def run_child(serve: Callable[..., None], args: Sequence[Any], commands, results,
              parent: int) -> None:
    """Entry point of a child process: set up, then ``serve``.

    Only here, not in the serve loops: in the thread fallback these calls would change the
    window's own process (its priority, torch's thread pool)."""
    import torch

    lifeline.watch_parent(parent)
    processes.lower_priority()
    torch.set_num_threads(1)
    serve(*args, commands, results)


class Channel:
    """A serve loop in a child process (``process=True``) or a daemon thread, with its queues
    and the reader thread that relays its results.

    Parameters
    ----------
    serve
        A module-level function ``serve(*args, commands, results)`` (picklable by name).
    args
        Its leading arguments (pickled to a process, passed as they are to a thread).
    name
        Starts with ``maml-gui``: names the thread/process (tests look for leftovers by it).
    on_result
        Called in the reader thread with every result tuple but the final ``("done",)``.
    on_start_failed
        Called in the reader thread with a reason when the process cannot be started.
    process
        True: a child process; False: a thread of this process.
    """

    def __init__(self, serve: Callable[..., None], args: Sequence[Any], *, name: str,
                 on_result: Callable[[tuple], None], on_start_failed: Callable[[str], None],
                 process: bool):
        self._on_result = on_result
        self._on_start_failed = on_start_failed
        self.process = process
        if process:
            context = processes.context()
            self._commands = context.Queue()
            self._results = context.Queue()
            self._body = context.Process(
                target=run_child, name=f"{name} process", daemon=True,
                args=(serve, tuple(args), self._commands, self._results,
                      lifeline.Lifeline()))
        else:
            probe_devices()  # here, not first in the thread: CUDA's set-up is not thread-safe
            # Qt objects must not be collected in the serve loop's thread (see the module);
            # imported here: serve loops import this module in child processes, without Qt
            from maml_gui.runtime.gui_collector import collect_in_gui_thread

            collect_in_gui_thread()
            self._commands = queue.Queue()
            self._results = queue.Queue()
            self._body = threading.Thread(target=serve, name=name, daemon=True,
                                          args=(*args, self._commands, self._results))
        # The reader also starts the body: the first process start waits for the forkserver
        # to import the engine, which must not hold up the window.
        self._reader = threading.Thread(target=self._read, name=f"{name} results", daemon=True)

    def start(self) -> None:
        """Start the body (once: a worker started by its first request may be asked again)."""
        if self._reader.ident is None:
            self._reader.start()

    def send(self, command: tuple) -> None:
        """Queue a command for the serve loop (any thread)."""
        self._commands.put(command)

    def stop(self) -> None:
        """Ask the serve loop to end after its current piece of work; pair with :meth:`wait`."""
        self._commands.put(("stop",))

    def wait(self, timeout_ms: int) -> bool:
        """Wait for the body and the reader to end; True if they have.

        A process still busy after the bound is terminated (a process, unlike a thread, can
        be stopped safely); a busy thread is left to finish on its own (it is a daemon)."""
        if self._reader.ident is None:  # never started: nothing runs
            return True
        self._reader.join(timeout_ms / 1000.0)  # it ends with the body's last message
        if self.process and self._body.is_alive():
            self._body.terminate()
        if self._reader.is_alive() or self._body.is_alive():
            # The body sends its last message just before it ends (or was just terminated):
            # give it that moment; the reader ends once the body has.
            started = self._body.pid if self.process else self._body.ident
            if started is not None:
                self._body.join(TERMINATE_WAIT_S)
            self._reader.join(TERMINATE_WAIT_S)
        return not self.is_running()

    def is_running(self) -> bool:
        return self._body.is_alive() or self._reader.is_alive()

    def _read(self) -> None:
        try:
            self._body.start()
        except Exception as exc:  # e.g. no process can be started here: say so
            self._on_start_failed(str(exc) or type(exc).__name__)
            return
        while True:
            try:
                message = self._results.get(timeout=POLL_S)
            except queue.Empty:
                if not self._body.is_alive():  # killed, or crashed without a word
                    return
                continue
            except (EOFError, OSError):
                return
            if message[0] == "done":
                return
            self._on_result(message)


class ChannelWorker:
    """The life-cycle calls of a worker whose transport is ``self._channel``."""

    _channel: Channel

    def start(self) -> None:
        self._channel.start()

    def stop(self) -> None:
        """Finish after the current piece of work; pair with :meth:`wait`."""
        self._channel.stop()

    def wait(self, timeout_ms: int) -> bool:
        return self._channel.wait(timeout_ms)

    def is_running(self) -> bool:
        return self._channel.is_running()


def drain_commands(commands) -> list[tuple]:
    """Every command waiting on ``commands``, oldest first, without blocking."""
    waiting = []
    while True:
        try:
            waiting.append(commands.get_nowait())
        except queue.Empty:
            return waiting
