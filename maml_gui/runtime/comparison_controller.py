"""Several variants trained in lockstep in one worker thread, for the comparison view."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Slot

from maml_gui.core.comparison import Variant
from maml_gui.core.history import RunHistory
from maml_gui.core.tasks import make_family
from maml_gui.core.trace import StepRecord
from maml_gui.runtime.playback import PlaybackController
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
    full_speed: bool = False  # playing as fast as the variants train

    @property
    def records(self) -> tuple[StepRecord | None, ...]:
        return tuple(h.latest for h in self.histories)

    @property
    def steps(self) -> int:
        return max((h.total_steps for h in self.histories), default=0)


class ComparisonController(PlaybackController):
    """Runs the variants together: same θ₀, same tasks, one meta-step each per tick."""

    def __init__(self, variants: list[Variant], parent: QObject | None = None):
        super().__init__(parent)
        self.variants = tuple(variants)
        self._rate = STEP_RATES[1]
        self._tick = QTimer(self)
        self._tick.timeout.connect(self._on_tick)
        self._throttle = Throttle(self._drain, self)
        self._start()

    @property
    def histories(self) -> tuple[RunHistory, ...]:
        return self._histories

    def snapshot(self) -> ComparisonSnapshot:
        return ComparisonSnapshot(self._run_id, self.variants, self._histories, self._playing,
                                  self._playing and math.isinf(self._rate))

    def _start(self) -> None:
        self._next_run()
        dim = make_family(self.variants[0].config).param_dim
        self._histories = tuple(RunHistory(dim) for _ in self.variants)
        worker = make_training_worker([v.config for v in self.variants], parent=self, compare_to_maml=True)
        self._slot.install(worker, (worker.records_available, self._on_records_available),
                           (worker.failed, self._on_worker_failed))
        worker.start()
        if self._playing:
            self._start_playback()
        self._publish()

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

    def shutdown(self) -> None:
        self._tick.stop()
        self._throttle.stop()
        self._playing = False
        self._slot.shutdown()
