"""Landscapes computed beside the window: newest request wins, coarse grid first.

Each request carries a generation id; when a newer request arrives, the older one stops at
the next chunk of the grid it is computing (its finer resolutions are never sent), and the
receiver drops any result whose generation is not its latest, so a late surface can never
overwrite a newer picture. The computation
(:func:`maml_gui.runtime.landscape_process.serve`) runs through a
:class:`~maml_gui.runtime.channel.Channel`: in a child process where the platform allows
(see :mod:`maml_gui.runtime.processes`), else in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, config_json
from maml_gui.core.landscape import Plane
from maml_gui.core.tasks import TaskBatch
from maml_gui.runtime import landscape_process, processes
from maml_gui.runtime.channel import Channel, ChannelWorker


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


class LandscapeWorker(ChannelWorker, QObject):
    """Computes the latest :class:`LandscapeRequest` at each of its resolutions, in a child
    process (``process=True``) or a thread, started by the first request (a canvas that only
    draws surfaces computed in place, as exports do, starts none)."""

    surface_ready = Signal(int, object)
    """A surface for request ``generation`` (called once per resolution, coarse first)."""
    failed = Signal(int, str)
    """Request ``generation`` could not be computed; a readable reason."""

    def __init__(self, parent: QObject | None = None, *, process: bool = True):
        super().__init__(parent)
        self._requested = 0
        self._finished = 0
        self._channel = Channel(
            landscape_process.serve, (), name="maml-gui landscape", process=process,
            on_result=self._on_result,
            on_start_failed=lambda reason: self.failed.emit(
                self._requested, f"could not start the landscape process: {reason}"))

    def request(self, request: LandscapeRequest) -> None:
        """Replace any request not yet started with this one."""
        self._requested = request.generation
        self.start()
        self._channel.send(("request", {
            "generation": request.generation, "config": config_json(request.config),
            "tasks": _copy_for_sending(request.tasks), "surface": request.surface, "xrange": request.xrange,
            "yrange": request.yrange, "resolutions": request.resolutions, "plane": request.plane,
            "anchor": request.anchor, "weights": request.weights, "dtype": request.dtype,
        }))

    def idle(self) -> bool:
        return self._finished >= self._requested

    def _on_result(self, message: tuple) -> None:
        kind = message[0]
        if kind == "surface":
            self.surface_ready.emit(message[1], message[2])
        elif kind == "failed":
            self.failed.emit(message[1], message[2])
        elif kind == "finished":
            self._finished = max(self._finished, message[1])


def _copy_for_sending(tasks: TaskBatch) -> TaskBatch:
    """Clones of the tasks' tensors for another process.

    Pickling a tensor for a child process moves its storage into shared memory in place,
    which frees the memory under every ``numpy()`` view the window holds of it (the task
    optima read 1e-313 after a few seconds of training). The clones move; the window's
    tensors stay where they are.
    """
    return TaskBatch({key: value.detach().clone() for key, value in tasks.tensors.items()},
                     tasks.ids.copy())


def make_landscape_worker(parent: QObject | None = None) -> LandscapeWorker:
    """A process-based worker where the platform allows, else a thread-based one."""
    return LandscapeWorker(parent, process=processes.available())
