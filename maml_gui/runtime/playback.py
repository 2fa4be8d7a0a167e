"""What the run and comparison controllers share: playing or paused, snapshots, failures."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from maml_gui.runtime.worker_slot import WorkerSlot


class PlaybackController(QObject):
    """A controller that plays or pauses a worker's training and publishes snapshots of it.

    Each run has an id and a training worker in :attr:`_slot`; subclasses provide
    :meth:`snapshot`, :meth:`play` and :meth:`pause`."""

    snapshot_published = Signal(object)
    """A new snapshot to draw (the subclass's snapshot type)."""
    playing_changed = Signal(bool)
    """Playback started (True) or paused (False)."""
    failed = Signal(str)
    """The training worker raised; carries a readable message."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._playing = False
        self._run_id = 0
        self._slot = WorkerSlot(self)

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def _worker(self):
        return self._slot.current

    def _next_run(self) -> None:
        """Retire the current worker (it ends in the background): a new run begins."""
        self._slot.retire()
        self._run_id += 1

    def snapshot(self) -> object:
        raise NotImplementedError

    def play(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def toggle_play(self) -> None:
        self.pause() if self._playing else self.play()

    def _publish(self) -> None:
        self.snapshot_published.emit(self.snapshot())

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.pause()
        self.failed.emit(message)
