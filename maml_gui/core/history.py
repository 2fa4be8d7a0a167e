"""A run's history, bounded whatever its length: compact per-step columns plus recent records.

Every step's θ and losses go into growing arrays; once a column holds ``max_rows`` rows,
every other row is dropped (the trail keeps its shape, memory stays flat). Only the last
``keep`` full :class:`StepRecord` objects (with their inner paths) are kept. The small
diagnostics an algorithm charts over the whole run (``Algorithm.chart_series``: B-SMALL's
sparsity and KL, MetaNAS's operation probabilities) go into series thinned the same way, at
most ``series_rows`` rows each.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.trace import StepRecord

# numbers (θ components) the θ trail may hold: 2 parameters keep 100,000 steps, the MLP ~2,000
TRAIL_BUDGET = 4_000_000
SERIES_ROWS = 4096  # rows of a charted diagnostic: a curve's worth of points, whatever the run


class RunHistory:
    """Bounded history of one run; append from one thread only (the GUI's drain timer)."""

    def __init__(self, param_dim: int, *, keep: int = 64, max_rows: int | None = None,
                 series_rows: int = SERIES_ROWS):
        self.param_dim = param_dim
        self.max_rows = max_rows or int(np.clip(TRAIL_BUDGET // max(param_dim, 1), 1000, 100_000))
        self.records: deque[StepRecord] = deque(maxlen=keep)
        self._rows = 0
        self._steps = np.zeros(256, dtype=np.int64)
        # one spare row: θ after the newest step sits right after the rows, so the whole trail
        # is a view, never a copy (the MLP's trail is ~30 MB)
        self._theta = np.zeros((257, param_dim), dtype=np.float64)
        self._losses = np.zeros((256, 3), dtype=np.float64)  # before, after, worst after
        self._wall = np.zeros(256, dtype=np.float64)
        self.total_steps = 0
        self.decimations = 0  # bumps when rows are dropped: cached projections must restart
        self.last_theta: np.ndarray | None = None
        self.series_rows = max(int(series_rows), 2)
        self._series_steps = np.zeros(0, dtype=np.int64)
        self._series: dict[str, np.ndarray] = {}  # name -> (rows, *shape)
        self._series_count = 0

    def append(self, record: StepRecord) -> None:
        if self._rows == self._steps.shape[0]:
            if self._rows >= self.max_rows:
                self._decimate()
            else:
                self._grow()
        row = self._rows
        self._steps[row] = record.step
        self._theta[row] = record.theta
        self._losses[row] = (record.meta_loss_before, record.meta_loss_after,
                             record.worst_loss_after)
        self._wall[row] = record.wall_time
        self._theta[row + 1] = record.theta_next
        self._rows += 1
        self.total_steps = record.step + 1
        self.last_theta = record.theta_next
        self.records.append(record)
        self._append_series(record)

    def _append_series(self, record: StepRecord) -> None:
        algorithm = ALGORITHMS.get(record.algorithm)
        names = () if algorithm is None else algorithm.chart_series
        values = {name: np.asarray(record.diagnostics[name], dtype=np.float64)
                  for name in names if name in record.diagnostics}
        if not values:
            return
        known = {name: array.shape[1:] for name, array in self._series.items()}
        if known != {name: value.shape for name, value in values.items()}:
            self._series_count = 0  # another algorithm (or shape): a new chart
            rows = min(16, self.series_rows)
            self._series_steps = np.zeros(rows, dtype=np.int64)
            self._series = {name: np.zeros((rows, *value.shape)) for name, value in values.items()}
        if self._series_count == self._series_steps.shape[0]:
            if self._series_count >= self.series_rows:  # every other row: the curve's shape
                keep = slice(0, self._series_count, 2)  # stays, its memory does not grow
                count = len(range(*keep.indices(self._series_count)))
                for array in (self._series_steps, *self._series.values()):
                    array[:count] = array[keep].copy()
                self._series_count = count
            else:
                size = min(2 * self._series_count, self.series_rows)
                self._series_steps = _resize(self._series_steps, size)
                self._series = {name: _resize(a, size) for name, a in self._series.items()}
        row = self._series_count
        self._series_steps[row] = record.step
        for name, value in values.items():
            self._series[name][row] = value
        self._series_count += 1

    def _grow(self) -> None:
        size = min(self._steps.shape[0] * 2, self.max_rows)
        self._steps = _resize(self._steps, size)
        self._theta = _resize(self._theta, size + 1)
        self._losses = _resize(self._losses, size)
        self._wall = _resize(self._wall, size)

    def _decimate(self) -> None:
        keep = slice(0, self._rows, 2)
        count = len(range(*keep.indices(self._rows)))
        for array in (self._steps, self._theta, self._losses, self._wall):
            array[:count] = array[keep].copy()
        self._theta[count] = self.last_theta
        self._rows = count
        self.decimations += 1

    # --- read (views: valid until the next append) -------------------------------------
    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self._rows]

    @property
    def thetas(self) -> np.ndarray:
        """θ before each kept step, then the newest θ: the trail to draw (a view)."""
        if self.last_theta is None:
            return self._theta[:0]
        return self._theta[: self._rows + 1]

    @property
    def loss_before(self) -> np.ndarray:
        return self._losses[: self._rows, 0]

    @property
    def loss_after(self) -> np.ndarray:
        return self._losses[: self._rows, 1]

    @property
    def worst_after(self) -> np.ndarray:
        return self._losses[: self._rows, 2]

    @property
    def wall_times(self) -> np.ndarray:
        return self._wall[: self._rows]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A charted diagnostic over the whole run, thinned: ``(steps (R,), values (R, ...))``
        (views, valid until the next append), or None if the run does not chart it."""
        if name not in self._series:
            return None
        count = self._series_count
        return self._series_steps[:count], self._series[name][:count]

    @property
    def latest(self) -> StepRecord | None:
        return self.records[-1] if self.records else None

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._steps, self._theta, self._losses, self._wall,
                                      self._series_steps, *self._series.values()))


def _resize(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
