"""iTAML's view: where the stream is, what the memory holds, and what has been forgotten.

Six panels: the session timeline (session against meta-step, a line where each task
arrived), the μₛ curve with the current session marked, the memory buffer as points coloured
by task (a symbol per class; the current minibatch ringed in white), the memory's count per class,
the session × task score matrix (accuracy for classifiers, query loss for regression: a row
is fixed when its session ends) and the task-prediction bars of the newest task's continuum
(the paper's inference: the summed maximum logit of every task block).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from maml_gui.core.algorithms.itaml_stream import class_ranks, classes_per_task, sample_classes
from maml_gui.core.config import Config
from maml_gui.core.landscape import landscape_tasks
from maml_gui.core.tasks import make_family
from maml_gui.palette import SCREEN, task_colour
from maml_gui.widgets.method_panel import MethodPanel

CLASS_SYMBOLS = ("o", "t", "s", "d", "star", "p", "h", "t1", "t2", "t3")
MEMORY_SIZE, BATCH_SIZE = 9, 13


def class_colour(global_class: int, per_task: int) -> str:
    return task_colour(global_class // max(per_task, 1))


def exemplar_points(pool) -> np.ndarray | None:
    """Every exemplar's position in its plot ``(T, N, 2)``: the blob's point, or (x, y) of a
    regression task's support point; None for families without samples."""
    if "x_support" not in pool.tensors:
        return None
    # copies: the view keeps these arrays, and a tensor that went to a worker process lives
    # in shared memory that a numpy view would outlive (PITFALLS.md)
    x = pool["x_support"].detach().cpu().numpy().copy()
    if x.ndim == 3:
        return x
    return np.stack([x, pool["y_support"].detach().cpu().numpy()], axis=-1)


class ITAMLView(MethodPanel):
    """The stream, the memory, μₛ, forgetting and task prediction of an iTAML run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        g = self.graphics
        self.timeline = g.addPlot(row=0, col=0, title="session timeline")
        self.timeline.setLabel("bottom", "meta-step")
        self.timeline.setLabel("left", "session s")
        self.timeline_curve = self.timeline.plot(pen=pg.mkPen(SCREEN.foreground, width=2))
        self.arrivals: list[pg.InfiniteLine] = []
        self.mu_plot = g.addPlot(row=0, col=1, title="μₛ = exp(−β·s/T)")
        self.mu_plot.setLabel("bottom", "session s")
        self.mu_plot.setYRange(0, 1.05)
        self.mu_curve = self.mu_plot.plot(pen=pg.mkPen(SCREEN.foreground, width=2))
        self.mu_points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(SCREEN.foreground))
        self.mu_now = pg.ScatterPlotItem(size=16, brush=pg.mkBrush("#E69F00"),
                                         pen=pg.mkPen("w", width=2))
        self.mu_plot.addItem(self.mu_points)
        self.mu_plot.addItem(self.mu_now)
        self.memory_plot = g.addPlot(row=1, col=0, title="memory")
        self.all_points = pg.ScatterPlotItem(size=4, pen=None)
        self.memory_points = pg.ScatterPlotItem(size=MEMORY_SIZE, pen=pg.mkPen("k", width=1))
        self.batch_points = pg.ScatterPlotItem(size=BATCH_SIZE, brush=None,
                                               pen=pg.mkPen("w", width=1.5))
        for item in (self.all_points, self.memory_points, self.batch_points):
            self.memory_plot.addItem(item)
        self.count_plot = g.addPlot(row=1, col=1, title="per class")
        self.count_plot.setLabel("bottom", "class")
        self.count_bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.count_plot.addItem(self.count_bars)
        self.matrix_plot = g.addPlot(row=2, col=0, title="after session")
        self.matrix_plot.setLabel("bottom", "task")
        self.matrix_plot.setLabel("left", "after session")
        self.matrix_plot.invertY(True)
        self.matrix_cells = pg.ScatterPlotItem(symbol="s", pxMode=False, size=0.95, pen=None)
        self.matrix_plot.addItem(self.matrix_cells)
        self.matrix_texts: list[pg.TextItem] = []
        self.prediction_plot = g.addPlot(row=2, col=1, title="task prediction")
        self.prediction_plot.setLabel("bottom", "task block")
        self.prediction_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.prediction_plot.addItem(self.prediction_bars)
        for plot in (self.timeline, self.mu_plot, self.memory_plot, self.count_plot,
                     self.matrix_plot, self.prediction_plot):
            plot.setMinimumWidth(60)  # titles must not push the dock's right column out of view
            plot.setPreferredWidth(160)
            plot.titleLabel.setMinimumWidth(10)
            plot.titleLabel.setPreferredWidth(10)
        self.summary.setWordWrap(True)  # a long line would widen the dock past the screen
        layout = g.ci.layout
        layout.setColumnStretchFactor(0, 3)  # the timeline, memory and matrix need the room
        layout.setColumnStretchFactor(1, 2)
        self._pool = None
        self._points: np.ndarray | None = None
        self._classes: np.ndarray | None = None
        self._ranks: np.ndarray | None = None
        self._per_task = 1
        self._agnostic = "–"
        self._shown_matrix = None

    def set_config(self, config: Config) -> None:
        """Shape the panels for ``config``'s stream (its tasks, classes and exemplars)."""
        family = make_family(config)
        self._pool = landscape_tasks(config)  # the trainer's stream: same seed, same draws
        self._per_task = classes_per_task(family)
        self._classes = sample_classes(family, self._pool)
        self._ranks = class_ranks(self._classes)
        self._points = exemplar_points(self._pool)
        n = self._pool.n
        self._tasks = n
        if self._points is not None:
            flat = self._points.reshape(-1, 2)
            brushes = [pg.mkBrush(pg.mkColor(class_colour(c, self._per_task)).darker(250))
                       for c in self._classes.reshape(-1)]
            self.all_points.setData(pos=flat, brush=brushes)
        else:
            self.all_points.setData([])
        for line in self.arrivals:
            self.timeline.removeItem(line)
        self.arrivals = []
        for t in range(1, n):
            line = pg.InfiniteLine(pos=t * config.itaml_session_steps, angle=90,
                                   pen=pg.mkPen(task_colour(t), width=1, style=Qt.PenStyle.DashLine),
                                   label=f"t{t}", labelOpts={"position": 0.9})
            self.timeline.addItem(line)
            self.arrivals.append(line)
        self.timeline.setYRange(-0.2, n - 0.8)
        self.mu_plot.setXRange(-0.3, n - 0.7)
        self.count_plot.getAxis("bottom").setTicks([[(c, str(c)) for c in
                                                      range(n * self._per_task)]])
        self.matrix_plot.setXRange(-0.6, n - 0.4)
        self.matrix_plot.setYRange(-0.6, n - 0.4)
        self.prediction_plot.setXRange(-0.6, n - 0.4)
        for text in self.matrix_texts:
            self.matrix_plot.removeItem(text)
        self.matrix_texts = []  # one label per cell, made once and updated in place
        for r in range(n):
            for c in range(n):
                text = pg.TextItem("", anchor=(0.5, 0.5))
                text.setPos(float(c), float(r))
                text.hide()
                self.matrix_plot.addItem(text)
                self.matrix_texts.append(text)
        self._shown_matrix: np.ndarray | None = None

    def show_records(self, records, decay: float) -> None:
        """Draw the latest record and the history of sessions."""
        if not records or self._pool is None:
            return
        record = records[-1]
        d = record.diagnostics
        n, per_task = self._tasks, self._per_task
        if np.shape(d.get("batch_mask")) != self._ranks.shape:
            return  # a record of the run before a restart with another stream
        session = int(d["session"])
        steps = np.array([r.step for r in records], dtype=float)
        sessions = np.array([float(r.diagnostics["session"]) for r in records])
        self.timeline_curve.setData(steps, sessions)
        self._show_mu(session, decay, float(d["mu"]))
        counts = np.asarray(d["memory_counts"])
        classes = np.arange(counts.size)
        self.count_bars.setOpts(x=classes, height=counts, brushes=[
            class_colour(c, per_task) for c in classes])
        self.count_plot.setTitle(f"per class (Σ {int(counts.sum())})")
        self._show_memory(counts, np.asarray(d["batch_mask"]).astype(bool))
        accuracy = bool(d["score_is_accuracy"])
        matrix = np.array(d["score_matrix"], dtype=float)
        matrix[np.triu_indices(n, 1)] = np.nan  # a task not arrived yet has nothing to forget
        self._show_matrix(matrix, accuracy)
        if "task_prediction" in d:
            self._show_prediction(np.asarray(d["task_prediction"]), session,
                                  np.asarray(d["agnostic_accuracy"]))
        else:
            self.prediction_bars.setOpts(x=[], height=[])
            self.prediction_plot.setTitle("task prediction: classifiers only")
            self._agnostic = "–"
        scores = np.asarray(d["task_scores"])[: session + 1]
        what = "accuracy" if accuracy else "query loss"
        self.summary.setText(
            f"session {session} of {n}   ·   μₛ = {float(d['mu']):.3f}   ·   "
            f"tasks in this minibatch: {int(np.asarray(d['present']).sum())}   ·   "
            f"mean {what} of the seen tasks {scores.mean():.3f}   ·   task-agnostic accuracy "
            f"{self._agnostic}")

    def _show_mu(self, session: int, decay: float, mu: float) -> None:
        s = np.linspace(0, self._tasks - 1, 100)
        self.mu_curve.setData(s, np.exp(-decay * s / self._tasks))
        whole = np.arange(self._tasks, dtype=float)
        self.mu_points.setData(whole, np.exp(-decay * whole / self._tasks))
        self.mu_now.setData([float(session)], [mu])
        self.mu_plot.setTitle(f"μₛ = exp(−{decay:g}·s/{self._tasks})")

    def _show_memory(self, counts: np.ndarray, batch: np.ndarray) -> None:
        if self._points is None:
            self.memory_points.setData([])
            self.batch_points.setData([])
            self.memory_plot.setTitle("memory: no exemplars (a task is one)")
            return
        kept = self._ranks < counts[self._classes]  # the prefix rule: each class's first
        flat_classes = self._classes[kept]
        self.memory_points.setData(
            pos=self._points[kept], brush=[class_colour(c, self._per_task) for c in flat_classes],
            symbol=[CLASS_SYMBOLS[c % self._per_task % len(CLASS_SYMBOLS)] for c in flat_classes])
        self.batch_points.setData(pos=self._points[batch])
        self.memory_plot.setTitle(f"memory: {int(kept.sum())}")

    def _show_matrix(self, matrix: np.ndarray, accuracy: bool) -> None:
        if self._shown_matrix is not None and np.array_equal(matrix, self._shown_matrix,
                                                             equal_nan=True):
            return  # it changes once per step at most; re-labelling costs more than a step
        self._shown_matrix = matrix.copy()
        finite = np.isfinite(matrix)
        rows, cols = np.nonzero(finite)
        values = matrix[rows, cols]
        top = 1.0 if accuracy else max(float(values.max()) if values.size else 1.0, 1e-12)
        colormap = pg.colormap.get("viridis")
        brushes = [pg.mkBrush(colormap.map(float(np.clip(v / top, 0, 1)), mode="qcolor"))
                   for v in values]
        self.matrix_cells.setData(x=cols.astype(float), y=rows.astype(float), brush=brushes)
        n = matrix.shape[0]
        for index, text in enumerate(self.matrix_texts):
            r, c = divmod(index, n)
            if not finite[r, c]:
                text.hide()
                continue
            v = float(matrix[r, c])
            text.setText(f"{v:.2f}" if accuracy else f"{v:.2g}",
                         color="w" if v / top < 0.6 else "k")
            text.show()
        self.matrix_plot.setTitle(("accuracy" if accuracy else "query loss") + " after session")

    def _show_prediction(self, scores: np.ndarray, session: int, agnostic: np.ndarray) -> None:
        task = min(session, scores.shape[0] - 1)  # the newest task's continuum
        row = scores[task] / max(float(np.abs(scores[task]).max()), 1e-12)
        chosen = int(np.argmax(scores[task]))
        self.prediction_bars.setOpts(
            x=np.arange(row.size), height=row,
            brushes=[task_colour(t) if t == chosen else pg.mkColor(task_colour(t)).darker(300)
                     for t in range(row.size)])
        seen = agnostic[np.isfinite(agnostic)]
        mean = f"{seen.mean():.2f}" if seen.size else "–"
        self.prediction_plot.setTitle(f"task {task} → t̂ = {chosen}")
        self._agnostic = mean
