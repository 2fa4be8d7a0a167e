"""The session's run: config, training worker, bounded history, playback and animation clock.

Lives in the GUI thread. The worker computes meta-steps; this controller decides which
step and which animation frame the views show, and publishes a :class:`Snapshot` at most
~30 times a second at full speed, or once per animation frame.

Playback:
- *animated* (a finite speed, in frames per second): each meta-step is shown frame by
  frame (inner steps, meta-gradients, update); the worker computes at most one step ahead.
- *full speed*: the worker runs free; views show the trail and the latest paths.
- *paused*: :meth:`step_inner` shows the next frame, :meth:`step_meta` exactly one more
  meta-step, complete.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from maml_gui.core.animation import Frame, build_frames
from maml_gui.core.config import HOT_FIELDS, Config
from maml_gui.core.history import RunHistory
from maml_gui.core.landscape import landscape_tasks
from maml_gui.core.replay import hyper_changes, replay
from maml_gui.core.tasks import make_family
from maml_gui.core.trace import StepRecord
from maml_gui.runtime.playback import PlaybackController
from maml_gui.runtime.throttle import Throttle
from maml_gui.runtime.training_worker import make_training_worker
from maml_gui.runtime.worker_slot import STOP_WAIT_MS

FULL_SPEED = math.inf
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, FULL_SPEED)  # animation frames per second


@dataclass(frozen=True)
class Snapshot:
    """What the views draw. Made and read in the GUI thread only."""

    run_id: int
    config: Config
    record: StepRecord | None  # the meta-step being shown
    frames: tuple[Frame, ...]
    frame_index: int
    history: RunHistory
    playing: bool
    full_speed: bool
    steps_per_second: float

    @property
    def frame(self) -> Frame | None:
        return self.frames[self.frame_index] if self.frames else None


class RunController(PlaybackController):
    """Owns the training worker and the history of the current run."""

    config_applied = Signal(object)
    """The config changed (hot or cold); carries the new :class:`Config`."""
    run_restarted = Signal(object)
    """A new run started from scratch (cold change or reset); carries its :class:`Config`."""
    diverged = Signal(object)
    """The run produced non-finite values; carries the diverged :class:`StepRecord`."""

    def __init__(self, config: Config, parent: QObject | None = None, *,
                 theta0: np.ndarray | None = None):
        super().__init__(parent)
        self._config = config
        self._theta0 = theta0
        self._speed = 4.0
        self._order = "auto"
        self._throttle = Throttle(self._drain, self)
        self._frame_timer = QTimer(self)
        self._frame_timer.timeout.connect(self._on_frame_tick)
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._start_run()

    # --- state ------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    @property
    def history(self) -> RunHistory:
        return self._history

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def full_speed(self) -> bool:
        return math.isinf(self._speed)

    @property
    def current(self) -> StepRecord | None:
        return self._current

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @property
    def frames(self) -> tuple[Frame, ...]:
        return self._frames

    @property
    def run_id(self) -> int:
        return self._run_id

    @property
    def change_log(self) -> list[tuple[int, dict[str, Any]]]:
        """Hot settings changed during this run, with the meta-step they first applied to."""
        return list(self._change_log)

    def replay_records(self) -> list[StepRecord]:
        """Every meta-step shown so far, recomputed exactly (the history keeps only the last
        few records; this replays the run's start config with its change log)."""
        return replay(self._run_config, self._history.total_steps, self._change_log,
                      theta0=self._theta0)

    def snapshot(self) -> Snapshot:
        return Snapshot(self._run_id, self._config, self._current, self._frames,
                        self._frame_index, self._history, self._playing, self.full_speed,
                        self._steps_per_second())

    # --- runs -------------------------------------------------------------------------
    def _start_run(self) -> None:
        self._next_run()
        family = make_family(self._config)
        self._history = RunHistory(family.param_dim)
        self._queue: deque[StepRecord] = deque()
        self._requested = 0
        self._current: StepRecord | None = None
        self._frames: tuple[Frame, ...] = ()
        self._frame_index = 0
        self._pending_meta_steps = 0
        self._waiting_for_frame = False
        self._rate_samples.clear()
        self._run_config = self._config  # the settings this run started with
        self._change_log: list[tuple[int, dict[str, Any]]] = []  # (step, hot settings)
        self._last_hyper: Mapping[str, Any] | None = None
        worker = make_training_worker([self._config], [self._theta0], parent=self)
        self._slot.install(worker, (worker.records_available, self._on_records_available),
                           (worker.failed, self._on_worker_failed))
        worker.start()
        if self._playing:
            self._start_playback()
        self.run_restarted.emit(self._config)
        self._publish()

    def reset(self) -> None:
        """Start the run again from θ₀ with the current settings (keeps playing or paused)."""
        self._start_run()

    def apply_changes(self, changes: Mapping[str, Any]) -> bool:
        """Apply validated-or-raising changes; hot ones live, cold ones restart the run.

        Returns True when the run restarted. Raises ConfigError (nothing changes then).
        """
        new = self._config.with_changes(changes)
        if new == self._config:
            return False
        cold = {key for key in changes if key.split(".")[0] not in HOT_FIELDS}
        self._config = new
        if "theta0" in cold:
            self._theta0 = None
        if cold:
            self.config_applied.emit(new)
            self._start_run()
            return True
        assert self._worker is not None
        self._worker.send_changes({key: getattr(new, key) for key in changes})
        self.config_applied.emit(new)
        self._publish()
        return False

    def replace_config(self, config: Config, theta0: np.ndarray | None = None) -> None:
        """Start over with a whole new config (a preset, a session file)."""
        self._config = config
        self._theta0 = theta0
        self.config_applied.emit(config)
        self._start_run()

    def set_theta0(self, theta: np.ndarray) -> None:
        """A new initialisation (the θ handle was dragged): restarts the run from there."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.size <= 64:
            self.apply_changes({"theta0": [float(v) for v in theta]})
        else:  # the MLP: keep it out of the config, start from the given vector
            self._theta0 = theta
            self._start_run()

    def move_optimum(self, task_index: int, point: tuple[float, float]) -> None:
        """Move a task's optimum (softplus, quadratic): a cold change of the task set."""
        family = make_family(self._config)
        params = family.move_optimum(landscape_tasks(self._config), task_index, point)
        self.apply_changes({f"task.{key}": value for key, value in params.items()
                            if self._config.task.get(key) != value})

    # --- playback ---------------------------------------------------------------------
    def set_speed(self, frames_per_second: float) -> None:
        was_full = self.full_speed
        self._speed = frames_per_second
        if self._playing:
            if was_full and not self.full_speed:
                self._worker.set_free_running(False)
                self._requested = 0
                self._drain()  # what was computed at full speed is shown at once
            self._start_playback()

    def set_order(self, order: str) -> None:
        """``auto``, ``together`` or ``one_by_one``: how tasks take turns in the animation."""
        self._order = order
        if self._current is not None:
            last = self._frame_index == len(self._frames) - 1
            self._frames = build_frames(self._current, order)
            self._frame_index = len(self._frames) - 1 if last else min(self._frame_index,
                                                                        len(self._frames) - 1)
            self._publish()

    def play(self) -> None:
        if self._playing:
            return
        self._playing = True
        self._start_playback()
        self.playing_changed.emit(True)
        self._publish()

    def pause(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._frame_timer.stop()
        if self._worker is not None:
            self._worker.set_free_running(False)
        self._requested = 0
        self.playing_changed.emit(False)
        self._publish()

    def _start_playback(self) -> None:
        if self.full_speed:
            self._frame_timer.stop()
            self._worker.set_free_running(True)
        else:
            self._frame_timer.start(max(1, int(round(1000.0 / self._speed))))
            self._prefetch()

    def step_inner(self) -> None:
        """Pause and show the next animation frame (into the next meta-step if needed)."""
        self.pause()
        self._advance_frame()

    def step_meta(self) -> None:
        """Pause and show exactly one more meta-step, complete."""
        self.step_meta_many(1)

    def step_meta_many(self, count: int) -> None:
        """Pause and show exactly ``count`` more meta-steps, complete: one request to the
        worker however large ``count`` is (``--screenshot --steps N``)."""
        self.pause()
        self._pending_meta_steps += int(count)
        self._take_pending_meta_steps()

    def _take_pending_meta_steps(self) -> None:
        while self._pending_meta_steps and self._queue:
            self._pending_meta_steps -= 1
            self._show(self._queue.popleft(), last_frame=True)
        if self._pending_meta_steps:
            self._request(self._pending_meta_steps - self._requested)
        self._publish()

    def _advance_frame(self) -> None:
        if self._current is not None and self._frame_index < len(self._frames) - 1:
            self._frame_index += 1
            self._publish()
            return
        if self._queue:
            self._show(self._queue.popleft(), last_frame=False)
            self._publish()
        else:
            self._request(1 - self._requested)
            self._waiting_for_frame = True
        if self._playing:
            self._prefetch()

    def _show(self, record: StepRecord, *, last_frame: bool) -> None:
        changed = hyper_changes(self._last_hyper, record.hyper)
        if changed:
            self._change_log.append((record.step, changed))
        self._last_hyper = record.hyper
        self._current = record
        self._frames = build_frames(record, self._order)
        self._frame_index = len(self._frames) - 1 if last_frame else 0
        self._history.append(record)
        self._rate_samples.append((time.perf_counter(), self._history.total_steps))

    def _prefetch(self) -> None:
        """Keep one computed meta-step ahead of the animation."""
        if len(self._queue) + self._requested < 1:
            self._request(1)

    def _request(self, count: int) -> None:
        if count > 0 and self._worker is not None:
            self._requested += count
            self._worker.request_steps(count)

    @Slot()
    def _on_frame_tick(self) -> None:
        self._advance_frame()

    # --- records from the worker ------------------------------------------------------
    @Slot()
    def _on_records_available(self) -> None:
        if self.full_speed and self._playing:
            self._throttle.request()  # coalesced: at most 40 snapshots a second
        else:
            self._drain()  # animated or stepping: every record is wanted at once

    @Slot()
    def _drain(self) -> None:
        if self._worker is None:
            return
        batches = self._worker.take_records()
        if not batches:
            return
        records = [batch[0] for batch in batches if batch[0] is not None]
        self._requested = max(0, self._requested - len(records))
        diverged = next((r for r in records if r.diverged), None)
        if (self.full_speed and self._playing) or diverged is not None:
            for record in [*self._queue, *records]:
                self._show(record, last_frame=True)
            self._queue.clear()
            self._publish()
        else:
            self._queue.extend(records)
            if self._pending_meta_steps:
                self._take_pending_meta_steps()
            elif self._waiting_for_frame:
                self._waiting_for_frame = False
                self._advance_frame()
        if diverged is not None:
            self.pause()
            self.diverged.emit(diverged)

    def _steps_per_second(self) -> float:
        now = time.perf_counter()
        while len(self._rate_samples) > 2 and now - self._rate_samples[0][0] > 2.0:
            self._rate_samples.popleft()
        if len(self._rate_samples) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate_samples[0], self._rate_samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    # --- shutdown ---------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and every worker, waiting at most about a second in total."""
        self._frame_timer.stop()
        self._throttle.stop()
        self._playing = False
        self._slot.shutdown(STOP_WAIT_MS)

