"""Function space of tasks with data (softplus, sinusoid): what the model predicts as it adapts.

For the selected task the view draws the true function, its support and query points, the
model's prediction at θ and after each inner step of fine-tuning on the support points
(animated with the canvas: the frame's inner step says how many are drawn, earlier steps
fade), and optionally a pretrained (ERM) model fine-tuned on the same points, as in the
article's sinusoid demo, with a small table of query MSE after 1, 5 and 10 steps.

Support points are editable: left-click adds one on the true function, right-click near one
removes it, "Draw K random points" samples K anew. Fine-tuning reruns at once on every edit
(1-D inputs on a 200-point grid: a few milliseconds, even for the 1,761-parameter MLP).
The ERM model trains in its own worker (a child process where the platform allows), owned
by this widget and stopped on close.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSpinBox, QStackedLayout,
    QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms import algorithm_label
from maml_gui.core.animation import visible
from maml_gui.core.config import Config
from maml_gui.core.function_space import (
    DEFAULT_STEPS, FineTuneResult, Learner, dense_grid, fine_tune, learner_for, pretrain_config,
    true_values,
)
from maml_gui.core.landscape import landscape_tasks
from maml_gui.core.tasks import TaskBatch, make_family
from maml_gui.core.training import initial_theta
from maml_gui.palette import SCREEN, Theme, algorithm_colour
from maml_gui.runtime.pretrain_worker import PretrainWorker
from maml_gui.runtime.worker_slot import WorkerSlot
from maml_gui.runtime.run_controller import Snapshot
from maml_gui.plots.items import SafeLegend, pen
from maml_gui.plots.noise_band import NoiseBand

META_LABEL, ERM_LABEL = "meta-learned", "pretrained (ERM)"
TABLE_STEPS = DEFAULT_STEPS  # the article's 1, 5, 10 steps
REMOVE_RADIUS_PX = 14.0  # a right-click this close to a support point removes it
MAX_VIEW_STEPS = 100
STOP_WAIT_MS = 1000
# At full speed θ changes with every snapshot (~30 Hz) and fine-tuning the MLP costs a few
# milliseconds of the GUI thread: refit at most ~8 times a second then (paused: always).
FULL_SPEED_REFRESH_S = 0.125


class FunctionView(QWidget):
    """The selected task in function space: truth, points, predictions before and after."""

    task_selected = Signal(int)
    """The task shown changed: its index in the task list (the canvas's task index)."""
    support_changed = Signal(object)
    """The support points were edited: ``(x, y)`` numpy arrays."""
    adaptation_updated = Signal(object)
    """Fine-tuning was recomputed: the meta-learned model's :class:`FineTuneResult`."""
    comparison_updated = Signal(object)
    """The MSE table changed: ``{model: {steps: query MSE}}``."""
    pretraining_failed = Signal(str)
    """The ERM baseline could not be trained: a readable reason."""

    def __init__(self, config: Config, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._config = config
        self._family = make_family(config)
        self._learner = learner_for(config)  # the algorithm's own adaptation (B-SMALL, MetaNAS)
        self._erm_learner = learner_for(pretrain_config(config))
        self._tasks: TaskBatch | None = None
        self._task_index = 0
        self._x_support = np.zeros(0)
        self._y_support = np.zeros(0)
        self._x_query = np.zeros(0)
        self._y_query = np.zeros(0)
        self._theta = np.zeros(0)
        self._fraction = 1.0  # share of the fine-tuning steps the current frame has reached
        self._grid = np.zeros(0)
        self._truth = np.zeros(0)
        self._result: FineTuneResult | None = None
        self._table_result: FineTuneResult | None = None  # what the MSE table reads
        self._erm_table_result: FineTuneResult | None = None
        self._result_key: tuple | None = None
        self._erm_theta: np.ndarray | None = None
        self._erm_key: tuple | None = None
        self._erm_result: FineTuneResult | None = None
        self._erm_result_key: tuple | None = None
        self._erm_generation = 0
        self._workers = WorkerSlot(self)
        self._steps_follow_config = True
        self._draw_count = 0
        self._dirty = True
        self._last_refresh = -float("inf")
        self.comparison: dict[str, dict[int, float]] = {}

        # --- controls -----------------------------------------------------------------
        self.task_box = QComboBox()
        self.task_box.setToolTip("Which task to show (the canvas's task colours)")
        self.task_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.task_box.setMinimumContentsLength(18)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 1000)
        self.k_spin.setToolTip("K: how many random support points to draw")
        self.draw_button = QPushButton("Draw K random points")
        self.draw_button.setToolTip("Replace the support points by K new ones, x uniform over the "
                                    "input range, y on the true function (noiseless)")
        self.reset_button = QPushButton("Task's points")
        self.reset_button.setToolTip("Back to the task's own support set")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, MAX_VIEW_STEPS)
        self.steps_spin.setToolTip("Fine-tuning steps drawn (the algorithm's own inner steps with "
                                   "the inner learning rate α: gradient descent on the support "
                                   "loss; B-SMALL adds λ·KL and its noise, MetaNAS takes DARTS "
                                   "steps as the temperature falls). Starts at the run's k and follows it until "
                                   "changed here; the animation maps the canvas's k inner steps "
                                   "onto these.")
        # two rows, so the view fits the ~420 px of a side dock
        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("Task:"))
        task_row.addWidget(self.task_box, 1)
        points_row = QHBoxLayout()
        points_row.addWidget(QLabel("K"))
        points_row.addWidget(self.k_spin)
        points_row.addWidget(self.draw_button)
        points_row.addWidget(self.reset_button)
        points_row.addStretch(1)
        points_row.addWidget(QLabel("steps"))
        points_row.addWidget(self.steps_spin)
        top = QVBoxLayout()
        top.setSpacing(2)
        top.addLayout(task_row)
        top.addLayout(points_row)
        self.task_box.setMinimumContentsLength(12)
        self.task_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

        # --- the plot -----------------------------------------------------------------
        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.view = self.plot.getViewBox()
        self.view.disableAutoRange()
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
        self.plot.setLabel("bottom", "x", color=theme.foreground)
        self.plot.setLabel("left", "y", color=theme.foreground)
        self.plot_widget.setToolTip(
            "Left-click: add a support point at that x, on the true function (noiseless, for "
            "clarity).\nRight-click near a point: remove it. Fine-tuning reruns at once.")
        self.truth_band = pg.PlotDataItem(connect="finite")
        self.truth_band.setZValue(1)
        self.truth_curve = pg.PlotDataItem(connect="finite")
        self.truth_curve.setZValue(2)
        self.query_points = pg.ScatterPlotItem(size=7, symbol="o")
        self.query_points.setZValue(3)
        self.before_curve = pg.PlotDataItem(connect="finite")
        self.before_curve.setZValue(6)
        self.noise_band = NoiseBand(self.plot, theme.theta)
        self.step_curves: list[pg.PlotDataItem] = []
        self.erm_before_curve = pg.PlotDataItem(connect="finite")
        self.erm_before_curve.setZValue(4)
        self.erm_after_curve = pg.PlotDataItem(connect="finite")
        self.erm_after_curve.setZValue(5)
        self.support_points = pg.ScatterPlotItem(size=11, symbol="o")
        self.support_points.setZValue(20)
        for item in (self.truth_band, self.truth_curve, self.query_points, self.before_curve,
                     self.erm_before_curve, self.erm_after_curve, self.support_points):
            self.plot.addItem(item)
        # two columns at the bottom left, in the room the y range leaves under the curves
        self.legend = SafeLegend(offset=(6, -6), labelTextColor=theme.foreground,
                                    brush=pg.mkBrush(0, 0, 0, 140) if not theme.print_theme
                                    else pg.mkBrush(255, 255, 255, 210),
                                    verSpacing=-8, horSpacing=14, colCount=2)
        self.legend.setParentItem(self.view)
        self.view.sigResized.connect(self._fit_legend)

        # --- comparison ---------------------------------------------------------------
        self.erm_box = QCheckBox("Compare with pretrained (ERM)")
        self.erm_box.setToolTip("Train a model on the mean task loss (no adaptation in training) "
                                "with the same tasks, seed, θ₀ and optimizer, then fine-tune it on "
                                "the same points (dashed). Trains in the background.")
        self.erm_steps = QSpinBox()
        self.erm_steps.setRange(1, 1_000_000)
        self.erm_steps.setSingleStep(100)
        self.erm_steps.setSuffix(" steps")
        self.erm_steps.setToolTip("Training steps of the ERM model")
        self.erm_status = QLabel(" ")
        self.erm_status.setStyleSheet("color: #999;")
        self.mse_label = QLabel(" ")
        for label in (self.erm_status, self.mse_label):  # long texts shrink, never widen the view
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.mse_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table_label = QLabel(" ")
        self.table_label.setTextFormat(Qt.TextFormat.RichText)
        self.table_label.setToolTip("Query MSE over the whole input range (against the true "
                                    "function on the grid) after fine-tuning on the support "
                                    "points shown, with the inner learning rate α")
        erm_row = QHBoxLayout()
        erm_row.addWidget(self.erm_box)
        erm_row.addWidget(self.erm_steps)
        erm_row.addWidget(self.erm_status, 1)
        self.controls = QWidget()  # both rows of controls are hidden in exported figures
        self.controls.setLayout(top)
        self.erm_controls = QWidget()
        self.erm_controls.setLayout(erm_row)
        for row in (top, erm_row):
            row.setContentsMargins(0, 0, 0, 0)
        info = QVBoxLayout()
        info.setSpacing(2)
        info.addWidget(self.erm_controls)
        info.addWidget(self.mse_label)
        bottom = QVBoxLayout()
        bottom.addLayout(info)
        bottom.addWidget(self.table_label)

        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #999;")
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.controls)
        column.addWidget(self.plot_widget, 1)
        column.addLayout(bottom)
        self.stack = QStackedLayout()
        self.stack.addWidget(page)
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self.stack)

        self.task_box.currentIndexChanged.connect(self._on_task_chosen)
        self.draw_button.clicked.connect(self._on_draw_clicked)
        self.reset_button.clicked.connect(self._on_reset_clicked)
        self.steps_spin.valueChanged.connect(self._on_steps_changed)
        self.erm_box.toggled.connect(self._on_erm_toggled)
        self.erm_steps.editingFinished.connect(self._on_erm_steps_edited)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.set_config(config, restarted=True)

    # --- public -------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    @property
    def task_index(self) -> int:
        return self._task_index

    @property
    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The support points ``(x, y)`` (copies)."""
        return self._x_support.copy(), self._y_support.copy()

    @property
    def theta(self) -> np.ndarray:
        return self._theta.copy()

    @property
    def result(self) -> FineTuneResult | None:
        """The meta-learned model's fine-tuning on the current points (None without data)."""
        self._refresh_if_dirty()
        return self._result

    @property
    def pretrained_result(self) -> FineTuneResult | None:
        self._refresh_if_dirty()
        return self._erm_result

    @property
    def view_steps(self) -> int:
        """Fine-tuning steps drawn when the frame has completed its inner loop."""
        return int(self.steps_spin.value())

    @property
    def drawn_steps(self) -> int:
        """Fine-tuning steps drawn now (follows the animation frame)."""
        return int(round(self._fraction * self.view_steps))

    def adapted_prediction(self) -> np.ndarray | None:
        """The prediction after the fine-tuning steps drawn now, on :attr:`grid`."""
        result = self.result
        return None if result is None else result.predictions[self.drawn_steps].copy()

    @property
    def grid(self) -> np.ndarray:
        return self._grid.copy()

    def has_data(self) -> bool:
        return self._family.has_data

    def set_config(self, config: Config, *, restarted: bool = False) -> None:
        """A new config: reload the tasks when they changed; refit the model's curves."""
        old = self._config
        self._config = config
        self._family = make_family(config)
        self._learner = learner_for(config)
        self._erm_learner = learner_for(pretrain_config(config))
        # a restart with the same tasks (Reset) keeps the chosen task and its edited points
        tasks_changed = self._tasks is None or old.task != config.task or old.seed != config.seed
        if not self._family.has_data:
            self._cancel_pretraining()
            self._tasks = None
            self.message.setText(f"The {self._family.label.lower()} family has no data (x, y).\n"
                                 "The function view shows tasks with data: softplus line fitting "
                                 "and sinusoid regression.")
            self.stack.setCurrentIndex(1)
            return
        self.stack.setCurrentIndex(0)
        if self._steps_follow_config:
            self.steps_spin.blockSignals(True)
            self.steps_spin.setValue(min(max(config.inner_steps, 1), MAX_VIEW_STEPS))
            self.steps_spin.blockSignals(False)
        if tasks_changed:
            self._tasks = landscape_tasks(config).to("cpu", torch.float64)
            self._grid = dense_grid(self._family)
            self._fill_task_box()
            params = self._family.params
            self.k_spin.setValue(int(params.get("k_shot", params.get("n_points", 5))))
            self.erm_steps.setValue(max(config.steps, 1))
            self._task_index = min(self._task_index, self._tasks.n - 1)
            self.task_box.blockSignals(True)
            self.task_box.setCurrentIndex(self._task_index)
            self.task_box.blockSignals(False)
            self._fix_y_range()
            self._load_task_points()
        if restarted or self._theta.size != self._family.param_dim:
            self._theta = initial_theta(config)
            self._fraction = 1.0
        self._style_items()
        if self.erm_box.isChecked() and self._erm_key != self._erm_config_key():
            self._start_pretraining()
        self._invalidate()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """θ of the snapshot, and as many fine-tuning steps as its frame has reached."""
        if snapshot.config != self._config:
            self.set_config(snapshot.config)
        if not self._family.has_data:
            return
        if snapshot.record is not None:  # MetaNAS adapts without its pruned operations
            self._learner.algorithm.follow(snapshot.record.diagnostics)
        theta, fraction = self._frame_state(snapshot)
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self._theta.shape or not np.array_equal(theta, self._theta):
            self._theta = theta.copy()
        self._fraction = fraction
        if (snapshot.playing and snapshot.full_speed
                and time.perf_counter() - self._last_refresh < FULL_SPEED_REFRESH_S):
            self._dirty = True  # drawn with a later snapshot (pausing publishes one)
            return
        self._invalidate()

    def set_theta(self, theta: np.ndarray) -> None:
        """Show the model at ``theta`` fully fine-tuned (no snapshot: scripts, exports)."""
        self._theta = np.asarray(theta, dtype=np.float64).copy()
        self._fraction = 1.0
        self._invalidate()

    def set_figure_mode(self, on: bool) -> None:
        """Only the plot and the numbers (for exported figures)."""
        self.controls.setVisible(not on)
        self.erm_controls.setVisible(not on)

    def selected_task(self) -> int:
        return self._task_index

    def select_task(self, index: int | None) -> None:
        """Show task ``index`` (the canvas's numbering), with its own support points."""
        if index is None or self._tasks is None or not 0 <= index < self._tasks.n:
            return
        if index == self._task_index:
            return
        self.task_box.setCurrentIndex(index)  # → _on_task_chosen

    def set_support_points(self, x: np.ndarray, y: np.ndarray | None = None) -> None:
        """Replace the support points; ``y`` defaults to the (noiseless) true function."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = self._truth_at(x) if y is None else np.asarray(y, dtype=np.float64).reshape(-1)
        self._x_support, self._y_support = x.copy(), y.copy()
        self._points_edited()

    def add_support_point(self, x: float, y: float | None = None) -> None:
        """Add a support point at ``x`` (on the true function unless ``y`` is given)."""
        if self._tasks is None:
            return
        yv = float(self._truth_at(np.array([x]))[0]) if y is None else float(y)
        self._x_support = np.append(self._x_support, float(x))
        self._y_support = np.append(self._y_support, yv)
        self._points_edited()

    def remove_support_point(self, index: int) -> None:
        if not 0 <= index < self._x_support.size:
            return
        self._x_support = np.delete(self._x_support, index)
        self._y_support = np.delete(self._y_support, index)
        self._points_edited()

    def nearest_support_point(self, x: float, y: float, radius_px: float = REMOVE_RADIUS_PX) -> int | None:
        """Index of the support point within ``radius_px`` screen pixels of ``(x, y)``, or None."""
        if self._x_support.size == 0:
            return None
        sx, sy = (max(float(v), 1e-300) for v in self.view.viewPixelSize())
        distance = np.hypot((self._x_support - x) / sx, (self._y_support - y) / sy)
        best = int(np.argmin(distance))
        return best if distance[best] <= radius_px else None

    def remove_support_point_near(self, x: float, y: float) -> bool:
        index = self.nearest_support_point(x, y)
        if index is None:
            return False
        self.remove_support_point(index)
        return True

    def draw_random_points(self, k: int | None = None) -> None:
        """K new support points: x uniform over the input range, y on the true function."""
        if self._tasks is None:
            return
        k = self.k_spin.value() if k is None else int(k)
        self._draw_count += 1
        rng = np.random.default_rng([self._config.seed, self._task_index, self._draw_count])
        low, high = self._family.input_range()
        self.set_support_points(np.sort(rng.uniform(low, high, size=k)))

    def reset_points(self) -> None:
        """The task's own support set (with the family's noise, if any)."""
        self._load_task_points()
        self._points_edited()

    def set_pretrained_theta(self, theta: np.ndarray | None) -> None:
        """Use ``theta`` as the pretrained model (None: forget it); shown while the box is on."""
        self._cancel_pretraining()
        self._erm_theta = None if theta is None else np.asarray(theta, dtype=np.float64).copy()
        self._erm_key = self._erm_config_key() if theta is not None else None
        self._erm_result_key = None
        if theta is not None:
            self.erm_status.setText("ERM set")
        self._invalidate()

    def pretraining(self) -> bool:
        """The ERM model is being trained now."""
        return self._workers.busy()

    def shutdown(self) -> None:
        """Stop the ERM thread (bounded wait)."""
        self._cancel_pretraining()
        self._workers.shutdown(STOP_WAIT_MS)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._refresh_if_dirty()

    # --- tasks and points -----------------------------------------------------------------
    def _fill_task_box(self) -> None:
        self.task_box.blockSignals(True)
        self.task_box.clear()
        for i in range(self._tasks.n):
            self.task_box.addItem(f"task {i}: {self._task_formula(i)[4:]}", i)  # without "y = "
        self.task_box.blockSignals(False)

    def _task_formula(self, index: int) -> str:
        t = self._tasks
        if "optima" in t.tensors:
            a, b = (float(v) for v in t["optima"][index])
            return f"y = softplus({a:.2f}·x {'+' if b >= 0 else '−'} {abs(b):.2f})"
        if "amplitude" in t.tensors:
            amplitude, phase = float(t["amplitude"][index]), float(t["phase"][index])
            return f"y = {amplitude:.2f}·sin(x {'−' if phase >= 0 else '+'} {abs(phase):.2f})"
        return ""

    def _task(self) -> TaskBatch:
        return self._tasks.select([self._task_index])

    def _truth_at(self, x: np.ndarray) -> np.ndarray:
        if self._tasks is None:
            return np.full(np.shape(x), np.nan)
        return true_values(self._family, self._task(), np.asarray(x, dtype=np.float64))[0]

    def _load_task_points(self) -> None:
        task = self._task()
        self._x_support = task["x_support"][0].numpy().astype(np.float64).copy()
        self._y_support = task["y_support"][0].numpy().astype(np.float64).copy()
        if "x_query" in task.tensors:
            self._x_query = task["x_query"][0].numpy().astype(np.float64).copy()
            self._y_query = task["y_query"][0].numpy().astype(np.float64).copy()
        else:
            self._x_query = self._y_query = np.zeros(0)
        self._truth = self._truth_at(self._grid)

    def _points_edited(self) -> None:
        self._invalidate()
        self.support_changed.emit((self._x_support.copy(), self._y_support.copy()))

    def _fix_y_range(self) -> None:
        """One y range for every task of the list: curves of different tasks compare at a glance."""
        truth = true_values(self._family, self._tasks, self._grid)
        values = [truth.ravel(), self._tasks["y_support"].numpy().copy().ravel()]
        values = np.concatenate(values)
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
        span = max(high - low, 1.0)
        x0, x1 = self._family.input_range()
        self.view.setRange(xRange=(x0, x1), yRange=(low - 0.45 * span, high + 0.1 * span),
                           padding=0.02)

    # --- the animation frame ---------------------------------------------------------------
    def _frame_state(self, snapshot: Snapshot) -> tuple[np.ndarray, float]:
        """θ to show and the share of the fine-tuning steps reached at the snapshot's frame."""
        record = snapshot.record
        if record is None:
            last = snapshot.history.last_theta
            return (initial_theta(snapshot.config) if last is None else last), 1.0
        frame = snapshot.frame
        state = visible(record, frame)
        if state.updated:
            return record.theta_next, 1.0
        k = record.inner_steps
        if k == 0:
            return record.theta, 1.0
        chosen = int(self._tasks.ids[self._task_index]) if self._tasks is not None else -1
        where = np.flatnonzero(record.task_ids == chosen) if chosen >= 0 else np.zeros(0, int)
        if where.size:
            reached = int(state.path_points[where[0]]) - 1
        elif frame.phase == "sample":
            reached = 0
        elif frame.phase == "inner":
            reached = frame.inner_step
        else:
            reached = k
        return record.theta, min(max(reached / k, 0.0), 1.0)

    # --- computing ----------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._dirty = True
        if self.isVisible():
            self._refresh_if_dirty()

    def _refresh_if_dirty(self) -> None:
        if not self._dirty or self._tasks is None or not self._family.has_data:
            return
        self._dirty = False
        self._last_refresh = time.perf_counter()
        self._compute()
        self._draw()

    def _steps_needed(self) -> int:
        return max(self.view_steps, *TABLE_STEPS)

    def _compute(self) -> None:
        steps = self._steps_needed()
        lr = self._config.inner_lr
        points_key = (self._x_support.tobytes(), self._y_support.tobytes(), self._task_index,
                      self._tasks.n, lr, steps, self._config.task)
        # the whole config: B-SMALL's λ and noise, MetaNAS's temperatures change the adaptation
        key = (self._theta.tobytes(), self._config, self.view_steps, *points_key)
        if key != self._result_key:
            self._result, self._table_result = self._fine_tune(self._learner, self._theta)
            self._result_key = key
            self.adaptation_updated.emit(self._result)
        if self._erm_theta is not None and self.erm_box.isChecked():
            erm_key = (self._erm_theta.tobytes(), self.view_steps, *points_key)
            if erm_key != self._erm_result_key:
                self._erm_result, self._erm_table_result = self._fine_tune(self._erm_learner,
                                                                           self._erm_theta)
                self._erm_result_key = erm_key
        else:
            self._erm_result = self._erm_table_result = None
            self._erm_result_key = None
        self._update_comparison()

    def _fine_tune(self, learner: Learner, theta: np.ndarray
                   ) -> tuple[FineTuneResult, FineTuneResult]:
        """Fine-tuning as ``learner``'s algorithm adapts: the drawn run (its noise band after
        the view's steps) and the run the MSE table reads (the same one when its first steps
        are the drawn ones; MetaNAS's temperature falls over the whole run, so not there)."""
        steps = self._steps_needed()
        stable = learner.algorithm.fine_tune_prefix_stable

        def run(count: int) -> FineTuneResult:
            return fine_tune(learner.family, theta, self._x_support, self._y_support,
                             self._config.inner_lr, count, x_eval=self._grid, x_query=self._grid,
                             y_query=self._truth, learner=learner, band_step=self.view_steps)

        drawn = run(steps if stable else self.view_steps)
        return drawn, (drawn if stable or self.view_steps == steps else run(steps))

    def _update_comparison(self) -> None:
        table = {META_LABEL: {s: float(self._table_result.query_mse[s]) for s in TABLE_STEPS}}
        if self._erm_table_result is not None:
            table[ERM_LABEL] = {s: float(self._erm_table_result.query_mse[s])
                                for s in TABLE_STEPS}
        if table != self.comparison:
            self.comparison = table
            self._render_table()
            self.comparison_updated.emit(table)

    # --- drawing ------------------------------------------------------------------------
    def _model_colour(self) -> str:
        return self.theme.theta  # θ's colour on the canvas; task colours stay for the truth

    def _erm_colour(self) -> str:
        return algorithm_colour("pretrain", 1 if not self.theme.print_theme else 0)

    def _style_items(self) -> None:
        colour = self.theme.task(self._task_index)
        self.truth_band.setPen(pen(colour, 7.0, 0.28))
        self.truth_curve.setPen(pen(colour, 1.6))
        self.support_points.setBrush(pg.mkBrush(colour))
        self.support_points.setPen(pen(self.theme.outline, 1.5))
        self.query_points.setBrush(pg.mkBrush(None))
        self.query_points.setPen(pen(colour, 1.4, 0.9))
        self.before_curve.setPen(pen(self._model_colour(), 1.8, 0.9, dashed=True))
        self.noise_band.set_colour(self._model_colour())
        self.erm_before_curve.setPen(_dotted(self._erm_colour(), 1.8))
        self.erm_after_curve.setPen(pen(self._erm_colour(), 2.4, dashed=True))
        self._ensure_step_curves(self.view_steps)
        self._rebuild_legend()

    def _ensure_step_curves(self, count: int) -> None:
        while len(self.step_curves) < count:
            item = pg.PlotDataItem(connect="finite")
            item.setZValue(7)
            self.plot.addItem(item)
            self.step_curves.append(item)
        while len(self.step_curves) > count:
            self.plot.removeItem(self.step_curves.pop())

    def _rebuild_legend(self) -> None:
        self.legend.clear()
        self._after_sample = pg.PlotDataItem(pen=pen(self._model_colour(), 2.6))
        self._erm_sample = pg.PlotDataItem(pen=pen(self._erm_colour(), 2.4, dashed=True))
        name = algorithm_label(self._config.algorithm)
        self.legend.addItem(self.truth_curve, f"true function (task {self._task_index})")
        self.legend.addItem(self.support_points, "support points")
        if self._x_query.size:
            self.legend.addItem(self.query_points, "query points")
        self.legend.addItem(self.before_curve, f"θ ({name}), before")
        self.legend.addItem(self._after_sample, "after fine-tuning")
        if self._result is not None and self._result.band is not None:
            self.legend.addItem(self.noise_band.legend_sample, self.noise_band.label)
        if self._erm_result is not None:
            self.legend.addItem(self.erm_before_curve, "ERM, before")
            self.legend.addItem(self._erm_sample, "ERM, after")
        self._legend_shape = self._legend_key()
        self._fit_legend()

    def _fit_legend(self, *_args) -> None:
        """Two columns where they fit inside the plot, else one: in a narrow dock the two
        columns ran past the plot's edge and lost their ends ("α = 7.9" lost its digit)."""
        room = self.view.boundingRect().width() - 12
        self.legend.setColumnCount(2)
        if self.legend.boundingRect().width() > room:
            self.legend.setColumnCount(1)

    def _set_legend_text(self, item, text: str) -> None:
        for sample, label in self.legend.items:
            if sample.item is item:
                if label.text != text:
                    label.setText(text)
                    self._fit_legend()
                return

    def _draw(self) -> None:
        result = self._result
        if self._legend_key() != getattr(self, "_legend_shape", None):
            self._rebuild_legend()
        grid = self._grid
        self.truth_band.setData(grid, self._truth)
        self.truth_curve.setData(grid, self._truth)
        self.support_points.setData(self._x_support, self._y_support)
        self.query_points.setData(self._x_query, self._y_query)
        self.before_curve.setData(grid, _finite(result.predictions[0]))
        n = self.view_steps
        self._ensure_step_curves(n)
        drawn = self.drawn_steps
        colour = self._model_colour()
        for j, item in enumerate(self.step_curves, start=1):
            if j > drawn:
                item.setData([], [])
                continue
            newest = j == drawn
            # earlier steps fade: the newest is solid, the oldest nearly transparent
            alpha = 1.0 if newest else 0.15 + 0.45 * (j / max(drawn, 1))
            item.setPen(pen(colour, 2.6 if newest else 1.3, alpha))
            item.setData(grid, _finite(result.predictions[j]))
        band = result.band
        # the band belongs to the adapted model: shown once the drawn steps reach it
        self.noise_band.set_band(grid, band if band is not None and band.step == drawn else None)
        after = "after fine-tuning" if drawn == 0 else \
            f"after {drawn} step{'s' if drawn != 1 else ''} (α = {self._config.inner_lr:g})"
        self._set_legend_text(self._after_sample, after)
        erm = self._erm_result
        if erm is not None:
            self.erm_before_curve.setData(grid, _finite(erm.predictions[0]))
            self.erm_after_curve.setData(grid, _finite(erm.predictions[n]))
            self._set_legend_text(self._erm_sample, f"ERM, after {n} step{'s' if n != 1 else ''}")
        else:
            self.erm_before_curve.setData([], [])
            self.erm_after_curve.setData([], [])
        self.plot.setTitle(f"task {self._task_index}: {self._task_formula(self._task_index)}"
                           f"   ·   {self._x_support.size} support points",
                           color=self.theme.foreground, size="9pt")
        low, high = self._family.input_range()
        mse = result.query_mse
        text = (f"MSE on x ∈ [{low:g}, {high:g}]: {mse[0]:.3g} before → {mse[drawn]:.3g} after "
                f"{drawn} step{'s' if drawn != 1 else ''}")
        self.mse_label.setText(text)
        self.mse_label.setToolTip(text)

    def _legend_key(self) -> tuple:
        return (self._task_index, self._x_query.size > 0, self._erm_result is not None,
                self._config.algorithm, self._result is not None and self._result.band is not None)

    def _render_table(self) -> None:
        head = "".join(f"<th align='right'>&nbsp;{s} step{'s' if s != 1 else ''}</th>"
                       for s in TABLE_STEPS)
        rows = ""
        for name, values in self.comparison.items():
            cells = "".join(f"<td align='right'>&nbsp;{values[s]:.3g}</td>" for s in TABLE_STEPS)
            rows += f"<tr><td>{name}</td>{cells}</tr>"
        self.table_label.setText(
            "<table cellspacing='0' cellpadding='1'>"
            f"<tr><th align='left'>query MSE</th>{head}</tr>{rows}</table>")

    # --- pretraining --------------------------------------------------------------------
    def _erm_config_key(self) -> tuple:
        c = pretrain_config(self._config)
        return (c.task, c.seed, c.theta0, c.outer_optimizer, c.outer_lr, c.meta_batch, c.dtype,
                c.device, int(self.erm_steps.value()))

    def _start_pretraining(self) -> None:
        self._cancel_pretraining()
        self._erm_theta = None
        self._erm_result_key = None
        self._erm_key = self._erm_config_key()
        self._erm_generation += 1
        steps = int(self.erm_steps.value())
        worker = PretrainWorker(pretrain_config(self._config), steps, self._erm_generation, self)
        self._workers.install(worker, (worker.progressed, self._on_pretrain_progressed),
                              (worker.finished, self._on_pretrain_finished),
                              (worker.failed, self._on_pretrain_failed))
        self.erm_status.setText(f"ERM 0/{steps}…")
        worker.start()
        self._invalidate()

    def _cancel_pretraining(self) -> None:
        if self._workers.current is not None:
            self._erm_generation += 1
            if self._erm_theta is None:
                self._erm_key = None
        self._workers.retire()

    @Slot(int, int, int)
    def _on_pretrain_progressed(self, generation: int, done: int, total: int) -> None:
        if generation == self._erm_generation:
            self.erm_status.setText(f"ERM {done}/{total}…")

    @Slot(int, object)
    def _on_pretrain_finished(self, generation: int, theta: np.ndarray) -> None:
        if generation != self._erm_generation:
            return
        self._workers.release(STOP_WAIT_MS)  # it emits last: the worker is ending
        self._erm_theta = np.asarray(theta, dtype=np.float64)
        self._erm_result_key = None
        self.erm_status.setText("ERM ready")
        self._invalidate()

    @Slot(int, str)
    def _on_pretrain_failed(self, generation: int, message: str) -> None:
        if generation != self._erm_generation:
            return
        self._workers.release(STOP_WAIT_MS)
        self._erm_key = None
        self.erm_status.setText("ERM failed")
        self.erm_status.setToolTip(message)
        self.pretraining_failed.emit(message)

    # --- slots --------------------------------------------------------------------------
    @Slot(int)
    def _on_task_chosen(self, index: int) -> None:
        if index < 0 or self._tasks is None:
            return
        self._task_index = index
        self._load_task_points()
        self._style_items()
        self._points_edited()
        self.task_selected.emit(index)

    @Slot()
    def _on_draw_clicked(self) -> None:
        self.draw_random_points()

    @Slot()
    def _on_reset_clicked(self) -> None:
        self.reset_points()

    @Slot(int)
    def _on_steps_changed(self, _value: int) -> None:
        self._steps_follow_config = False
        self._invalidate()

    @Slot(bool)
    def _on_erm_toggled(self, on: bool) -> None:
        if on:
            if self._erm_theta is None or self._erm_key != self._erm_config_key():
                self._start_pretraining()
            else:
                self.erm_status.setText("ERM ready")
        else:
            if self.pretraining():
                self._cancel_pretraining()
                self.erm_status.setText("ERM cancelled")
        self._invalidate()

    @Slot()
    def _on_erm_steps_edited(self) -> None:
        if self.erm_box.isChecked() and self._erm_key != self._erm_config_key():
            self._start_pretraining()

    def _on_scene_clicked(self, event) -> None:
        if self._tasks is None or event.double():
            return
        scene_pos = event.scenePos()
        if not self.view.sceneBoundingRect().contains(scene_pos):
            return
        point = self.view.mapSceneToView(scene_pos)
        if event.button() == Qt.MouseButton.LeftButton:
            low, high = self._family.input_range()
            if low <= point.x() <= high:
                self.add_support_point(point.x())
                event.accept()
        elif event.button() == Qt.MouseButton.RightButton:
            if self.remove_support_point_near(point.x(), point.y()):
                event.accept()


def _dotted(colour: str, width: float):
    p = pen(colour, width)
    p.setDashPattern([1, 3])
    return p


def _finite(values: np.ndarray) -> np.ndarray:
    """NaN where a diverged fine-tuning overflowed, so the curve breaks instead of failing."""
    return np.where(np.isfinite(values), values, np.nan)

