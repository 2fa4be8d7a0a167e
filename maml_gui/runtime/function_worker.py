"""The function view's fine-tuning beside the window, while a run plays at full speed.

Fine-tuning the sinusoid MLP for a picture costs ~15 ms of torch calls; at full speed the
view asks for one a few times a second, and in the window's thread those calls made the
canvas's frames late. The serve loop (:func:`maml_gui.runtime.function_process.serve`)
runs through a :class:`~maml_gui.runtime.channel.Channel`: in a child process where the
platform allows (see :mod:`maml_gui.runtime.processes`), else in a thread. Every request
carries a generation id; the view draws a result only if its generation is still the latest.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import config_json
from maml_gui.runtime import function_process, processes
from maml_gui.runtime.channel import Channel, ChannelWorker
from maml_gui.view.function_data import FitRequest


class FunctionFitWorker(ChannelWorker, QObject):
    """Computes the newest :class:`FitRequest` in a child process (``process=True``) or a
    thread, started by the first request."""

    fitted = Signal(int, object)
    """(generation, the request's :class:`~maml_gui.view.function_data.FunctionFits`)."""
    failed = Signal(int, str)
    """(generation, a readable one-line reason)."""

    def __init__(self, parent: QObject | None = None, *, process: bool | None = None):
        super().__init__(parent)
        self._requested = 0
        self._channel = Channel(
            function_process.serve, (), name="maml-gui function fits",
            process=processes.available() if process is None else process,
            on_result=self._on_result,
            on_start_failed=lambda reason: self.failed.emit(
                self._requested, f"could not start the fine-tuning process: {reason}"))
        self._config = self._config_json = None  # the last config sent, and its JSON

    def request(self, generation: int, request: FitRequest) -> None:
        """Fine-tune ``request`` (replacing any request not yet started)."""
        self._requested = generation
        self.start()
        # a Config does not pickle: it travels as its JSON (made once per config: ~0.5 ms)
        if request.config is not self._config:
            self._config, self._config_json = request.config, config_json(request.config)
        self._channel.send(("fit", generation, self._config_json,
                            dataclasses.replace(request, config=None)))

    def _on_result(self, message: tuple) -> None:
        kind = message[0]
        if kind == "fitted":
            self.fitted.emit(message[1], message[2])
        elif kind == "failed":
            self.failed.emit(message[1], message[2])
