"""Landscapes computed beside the window: newest request wins, coarse grid first.

Each request carries a generation id; when a newer request arrives, the older one is
abandoned between resolutions, and the receiver drops any result whose generation is not
its latest, so a late surface can never overwrite a newer picture. The computation runs in
a child process where the platform allows (see :mod:`maml_gui.runtime.processes`), else in
a thread.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, config_json
from maml_gui.core.landscape import LandscapeError, LandscapeEvaluator, Plane, Surface
from maml_gui.core.tasks import TaskBatch
from maml_gui.runtime import landscape_process, processes
from maml_gui.runtime.daemon import DaemonThreadMixin


@dataclass(frozen=True)
class LandscapeRequest:
    generation: int
    config: Config
    tasks: TaskBatch
    surface: str
    xrange: tuple[float, float]
    yrange: tuple[float, float]
    resolutions: tuple[int, ...]  # coarse to fine
    plane: Plane | None = None
    anchor: np.ndarray | None = None
    weights: np.ndarray | None = None
    dtype: torch.dtype = torch.float32


class ThreadLandscapeWorker(DaemonThreadMixin, QObject):
    """Computes the latest :class:`LandscapeRequest` at each of its resolutions, in a thread."""

    surface_ready = Signal(int, object)
    """A surface for request ``generation`` (called once per resolution, coarse first)."""
    failed = Signal(int, str)
    """Request ``generation`` could not be computed; a readable reason."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._condition = threading.Condition()
        self._pending: LandscapeRequest | None = None
        self._stopping = False
        self._busy = False
        self._init_thread("maml-gui landscape")
        self.start()

    def request(self, request: LandscapeRequest) -> None:
        """Replace any pending request with this one."""
        with self._condition:
            self._pending = request
            self._condition.notify_all()

    def idle(self) -> bool:
        with self._condition:
            return self._pending is None and not self._busy

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()

    def _newer_pending(self) -> bool:
        with self._condition:
            return self._pending is not None or self._stopping

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                request, self._pending = self._pending, None
                self._busy = True
            try:
                self._compute(request)
            except LandscapeError as exc:
                self.failed.emit(request.generation, str(exc))
            except Exception as exc:  # shown in the window; the app stays usable
                traceback.print_exc(file=sys.stderr)
                self.failed.emit(request.generation, f"{type(exc).__name__}: {exc}".splitlines()[0])
            finally:
                with self._condition:
                    self._busy = False

    def _compute(self, request: LandscapeRequest) -> None:
        evaluator = LandscapeEvaluator(request.config, request.tasks, weights=request.weights,
                                       dtype=request.dtype)
        for resolution in request.resolutions:
            surface: Surface = evaluator.grid(request.surface, request.xrange, request.yrange,
                                              resolution, plane=request.plane,
                                              anchor=request.anchor)
            if self._newer_pending():
                return
            self.surface_ready.emit(request.generation, surface)


class ProcessLandscapeWorker(QObject):
    """The same, in a child process; a small reader thread here relays its surfaces."""

    surface_ready = Signal(int, object)
    """A surface for request ``generation`` (called once per resolution, coarse first)."""
    failed = Signal(int, str)
    """Request ``generation`` could not be computed; a readable reason."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        context = processes.context()
        self._commands = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(target=landscape_process.serve, daemon=True,
                                        name="maml-gui landscape process",
                                        args=(self._commands, self._results))
        self._requested = 0
        self._finished = 0
        # The reader also starts the process: the first start waits for the forkserver to
        # import the engine, which must not hold up the window.
        self._reader = threading.Thread(target=self._read, name="maml-gui landscape results",
                                        daemon=True)
        self._reader.start()

    def request(self, request: LandscapeRequest) -> None:
        """Replace any request not yet started with this one."""
        self._requested = request.generation
        self._commands.put(("request", {
            "generation": request.generation, "config": config_json(request.config),
            "tasks": _copy_for_sending(request.tasks), "surface": request.surface, "xrange": request.xrange,
            "yrange": request.yrange, "resolutions": request.resolutions, "plane": request.plane,
            "anchor": request.anchor, "weights": request.weights, "dtype": request.dtype,
        }))

    def idle(self) -> bool:
        return self._finished >= self._requested

    def stop(self) -> None:
        self._commands.put(("stop",))

    def wait(self, timeout_ms: int) -> bool:
        self._reader.join(timeout_ms / 1000.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(0.5)
        self._reader.join(0.5)
        return not (self._process.is_alive() or self._reader.is_alive())

    def is_running(self) -> bool:
        return self._process.is_alive() or self._reader.is_alive()

    def _read(self) -> None:
        try:
            self._process.start()
        except Exception as exc:
            self.failed.emit(self._requested, f"could not start the landscape process: {exc}")
            return
        while True:
            try:
                message = self._results.get(timeout=0.25)
            except queue.Empty:
                if not self._process.is_alive():
                    return
                continue
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "surface":
                self.surface_ready.emit(message[1], message[2])
            elif kind == "failed":
                self.failed.emit(message[1], message[2])
            elif kind == "finished":
                self._finished = max(self._finished, message[1])
            elif kind == "done":
                return


def _copy_for_sending(tasks: TaskBatch) -> TaskBatch:
    """Clones of the tasks' tensors for another process.

    Pickling a tensor for a child process moves its storage into shared memory in place,
    which frees the memory under every ``numpy()`` view the window holds of it (the task
    optima read 1e-313 after a few seconds of training). The clones move; the window's
    tensors stay where they are.
    """
    return TaskBatch({key: value.detach().clone() for key, value in tasks.tensors.items()},
                     tasks.ids.copy())


def make_landscape_worker(parent: QObject | None = None):
    """A process-based worker where the platform allows, else a thread-based one."""
    kind = ProcessLandscapeWorker if processes.available() else ThreadLandscapeWorker
    return kind(parent)
