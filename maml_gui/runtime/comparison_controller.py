"""Several variants trained in lockstep in one worker thread, for the comparison view."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from maml_gui.core.comparison import Variant
from maml_gui.core.history import RunHistory
from maml_gui.core.tasks import make_family
from maml_gui.core.trace import StepRecord
from maml_gui.runtime.throttle import Throttle
from maml_gui.runtime.training_worker import make_training_worker

STEP_RATES = (1.0, 5.0, 20.0, math.inf)  # meta-steps per second; inf: as fast as possible


@dataclass(frozen=True)
class ComparisonSnapshot:
    """The variants' histories and latest records (GUI thread only)."""

    run_id: int
    variants: tuple[Variant, ...]
    histories: tuple[RunHistory, ...]
    playing: bool

    @property
    def records(self) -> tuple[StepRecord | None, ...]:
        return tuple(h.latest for h in self.histories)

    @property
    def steps(self) -> int:
        return max((h.total_steps for h in self.histories), default=0)


class ComparisonController(QObject):
    """Runs the variants together: same θ₀, same tasks, one meta-step each per tick."""

    snapshot_published = Signal(object)
    """A new :class:`ComparisonSnapshot`."""
    playing_changed = Signal(bool)
    """Playback started (True) or paused (False)."""
    failed = Signal(str)
    """The worker raised: a readable message."""

    def __init__(self, variants: list[Variant], parent: QObject | None = None):
        super().__init__(parent)
        self.variants = tuple(variants)
        self._rate = STEP_RATES[1]
        self._playing = False
        self._run_id = 0
        self._worker: object | None = None
        self._retired: list = []
        self._tick = QTimer(self)
        self._tick.timeout.connect(self._on_tick)
        self._throttle = Throttle(self._drain, self)
        self._start()

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def histories(self) -> tuple[RunHistory, ...]:
        return self._histories

    def snapshot(self) -> ComparisonSnapshot:
        return ComparisonSnapshot(self._run_id, self.variants, self._histories, self._playing)

    def _start(self) -> None:
        self._stop_worker()
        self._run_id += 1
        dim = make_family(self.variants[0].config).param_dim
        self._histories = tuple(RunHistory(dim) for _ in self.variants)
        worker = make_training_worker([v.config for v in self.variants], parent=self, compare_to_maml=True)
        worker.records_available.connect(self._on_records_available)
        worker.failed.connect(self._on_failed)
        self._worker = worker
        worker.start()
        if self._playing:
            self._start_playback()
        self._publish()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.records_available.disconnect(self._on_records_available)
            worker.failed.disconnect(self._on_failed)
            worker.stop()
            self._retired.append(worker)
        for old in [w for w in self._retired if not w.is_running()]:
            self._retired.remove(old)
            old.deleteLater()

    def reset(self) -> None:
        self._start()

    def set_rate(self, steps_per_second: float) -> None:
        self._rate = steps_per_second
        if self._playing:
            self._start_playback()

    def play(self) -> None:
        if not self._playing:
            self._playing = True
            self._start_playback()
            self.playing_changed.emit(True)

    def pause(self) -> None:
        if self._playing:
            self._playing = False
            self._tick.stop()
            self._worker.set_free_running(False)
            self.playing_changed.emit(False)
            self._publish()

    def toggle_play(self) -> None:
        self.pause() if self._playing else self.play()

    def step(self) -> None:
        """Pause, then one meta-step for every variant."""
        self.pause()
        self._worker.request_steps(1)

    def _start_playback(self) -> None:
        if math.isinf(self._rate):
            self._tick.stop()
            self._worker.set_free_running(True)
        else:
            self._worker.set_free_running(False)
            self._tick.start(max(1, int(1000 / self._rate)))

    @Slot()
    def _on_tick(self) -> None:
        if self._worker.pending() == 0:  # never queue more than one step ahead
            self._worker.request_steps(1)

    @Slot()
    def _on_records_available(self) -> None:
        self._throttle.request()

    @Slot()
    def _drain(self) -> None:
        if self._worker is None:
            return
        batches = self._worker.take_records()
        for batch in batches:
            for history, record in zip(self._histories, batch):
                if record is not None:
                    history.append(record)
        if batches:
            if all(h.latest is not None and h.latest.diverged for h in self._histories):
                self.pause()
            self._publish()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.pause()
        self.failed.emit(message)

    def _publish(self) -> None:
        self.snapshot_published.emit(self.snapshot())

    def shutdown(self) -> None:
        self._tick.stop()
        self._throttle.stop()
        self._playing = False
        self._stop_worker()
        deadline = time.perf_counter() + 1.0
        for worker in list(self._retired):
            worker.wait(max(1, int(1000 * (deadline - time.perf_counter()))))
        self._stop_worker()
