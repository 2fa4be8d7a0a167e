"""Landscapes computed in their own thread: newest request wins, coarse grid first.

Each request carries a generation id; when a newer request arrives, the older one is
abandoned between resolutions, and the receiver drops any result whose generation is not
its latest, so a late surface can never overwrite a newer picture.
"""

from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config
from maml_gui.core.landscape import LandscapeError, LandscapeEvaluator, Plane, Surface
from maml_gui.core.tasks import TaskBatch


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


class LandscapeWorker(QObject):
    """Computes the latest :class:`LandscapeRequest` at each of its resolutions."""

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
        self._thread = threading.Thread(target=self._run, name="maml-gui landscape", daemon=True)
        self._thread.start()

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

    def wait(self, timeout_ms: int) -> bool:
        self._thread.join(timeout_ms / 1000.0)
        return not self._thread.is_alive()

    def is_running(self) -> bool:
        return self._thread.is_alive()

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
