"""The pretrained (ERM) baseline trained beside the window, for the function view."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from maml_gui.core.config import Config, config_json
from maml_gui.runtime import pretrain_process, processes
from maml_gui.runtime.channel import Channel, ChannelWorker


class PretrainWorker(ChannelWorker, QObject):
    """Trains the pretrained (ERM) baseline of a config in a child process (or a thread).

    Signals reach ``@Slot`` methods of GUI-thread objects as queued calls; every one carries
    the ``generation`` it was started with, so results of a cancelled training are dropped.
    """

    progressed = Signal(int, int, int)
    """(generation, steps done, steps in all)."""
    finished = Signal(int, object)
    """(generation, θ of the pretrained model as a float64 numpy vector)."""
    failed = Signal(int, str)
    """(generation, a readable one-line message)."""

    def __init__(self, config: Config, steps: int, generation: int, parent: QObject | None = None,
                 *, process: bool | None = None):
        super().__init__(parent)
        self.config = config
        self.steps = steps
        self.generation = generation
        self._channel = Channel(
            pretrain_process.serve, (config_json(config), steps), name="maml-gui pretrain",
            process=processes.available() if process is None else process,
            on_result=self._on_result,
            on_start_failed=lambda reason: self.failed.emit(
                generation, f"could not start the pretraining process: {reason}"))

    def _on_result(self, message: tuple) -> None:
        kind = message[0]
        if kind == "progress":
            self.progressed.emit(self.generation, message[1], message[2])
        elif kind == "finished":
            self.finished.emit(self.generation, message[1])
        elif kind == "failed":
            self.failed.emit(self.generation, message[1])
