"""Function space of tasks with data (softplus, sinusoid): what the model predicts as it adapts.

For the selected task the view draws the true function, its support and query points, the
model's prediction at θ and after each inner step of fine-tuning on the support points
(animated with the canvas: the frame's inner step says how many are drawn, earlier steps
fade), and optionally a pretrained (ERM) model fine-tuned on the same points, as in the
article's sinusoid demo, with a small table of query MSE after 1, 5 and 10 steps.

Support points are editable: left-click adds one on the true function, right-click near one
removes it, "Draw K random points" samples K anew. Fine-tuning reruns at once on every edit
(1-D inputs on a 200-point grid: a few milliseconds, even for the 1,761-parameter MLP).
While a run plays at full speed the fine-tuning for each new θ happens beside the window
(:class:`~maml_gui.runtime.function_worker.FunctionFitWorker`: one request at a time, the
newest state when it is sent, results of a superseded request dropped); paused, stepping,
animating, on an edit and for scripts it runs here and is drawn at once. The ERM model
trains in its own worker. Both live in a child process where the platform allows, are owned
by this widget and are stopped on close.

The widget is a thin shell: its controls are bound both ways to a
:class:`~maml_gui.view.FunctionState` (task, support points, steps, baseline), the data and
fits come from a Qt-free :class:`~maml_gui.view.function_data.FunctionModel`, and the
drawing is a :class:`~maml_gui.plots.function.FunctionPlot`, the item exports build too.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox,
    QStackedLayout, QVBoxLayout, QWidget,
)

from maml_gui.core.animation import visible
from maml_gui.core.config import Config
from maml_gui.core.function_space import FineTuneResult, pretrain_config
from maml_gui.core.training import initial_theta
from maml_gui.palette import SCREEN, Theme
from maml_gui.plots.function import FunctionPlot, mse_line, plural
from maml_gui.runtime.function_worker import FunctionFitWorker
from maml_gui.runtime.pretrain_worker import PretrainWorker
from maml_gui.runtime.run_controller import Snapshot
from maml_gui.runtime.worker_slot import WorkerSlot
from maml_gui.view import FunctionState, ViewStateError
from maml_gui.view.function_data import (
    BASELINE_LABEL, MAX_VIEW_STEPS, META_LABEL, FunctionPicture,  # noqa: F401
    FitRequest, FunctionFits, FunctionModel, picture_of,
)

ERM_LABEL = BASELINE_LABEL
REMOVE_RADIUS_PX = 14.0  # a right-click this close to a support point removes it
STOP_WAIT_MS = 1000
# At full speed θ changes with every snapshot (~30 Hz): refit beside the window then, at most
# every 0.25 s (paused: always, here). Snapshots reach this view with the side views, every
# 200 ms: so every other one, 2.5 a second. Each refresh costs the window ~15 ms (the curves'
# new paths and a repaint of the view); at every one (5 a second) they made the canvas wait.
FULL_SPEED_REFRESH_S = 0.25


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
    state_changed = Signal(object)
    """The :class:`~maml_gui.view.FunctionState` changed (a control or :meth:`apply_state`)."""

    def __init__(self, config: Config, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self.model = FunctionModel(config)
        self._state = FunctionState()
        self._fraction = 1.0  # share of the fine-tuning steps the current frame has reached
        self._picture: FunctionPicture | None = None
        self._shown_result: FineTuneResult | None = None
        self._erm_key: tuple | None = None
        self._erm_generation = 0
        self._workers = WorkerSlot(self)
        self._fit_slot = WorkerSlot(self)  # fine-tuning beside the window at full speed
        self._fit_generation = 0  # the latest picture asked for; older results are stale
        self._in_flight: tuple[int, FitRequest] | None = None  # sent, result not yet back
        self.fits_in_process: bool | None = None  # None: a child process where possible
        self._fits_beside = True  # False once the worker failed: fine-tune here from then on
        self._dirty = True
        self._last_refresh = -float("inf")
        self._k_for = None  # the tasks K was last set for
        self.comparison: dict[str, dict[int, float]] = {}

        # --- controls -----------------------------------------------------------------
        self.task_box = QComboBox()
        self.task_box.setToolTip("Which task to show (the canvas's task colours)")
        self.task_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.task_box.setMinimumContentsLength(12)
        self.table_steps = QLineEdit()
        self.table_steps.setMaximumWidth(70)
        self.table_steps.setToolTip("Fine-tuning steps of the MSE table's columns, separated by "
                                    "commas (e.g. 1, 5, 10)")
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
        self.steps_spin.setToolTip("Fine-tuning steps drawn (plain gradient descent with the inner "
                                   "learning rate α). Starts at the run's k and follows it until "
                                   "changed here; the animation maps the canvas's k inner steps "
                                   "onto these.")
        # two rows, so the view fits the ~420 px of a side dock
        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("Task:"))
        task_row.addWidget(self.task_box, 1)
        task_row.addWidget(QLabel("MSE at"))
        task_row.addWidget(self.table_steps)
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

        # --- the plot -----------------------------------------------------------------
        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.drawing = FunctionPlot(theme, self.plot_widget.getPlotItem())
        self.drawing.cache_still_items()
        self.plot = self.drawing.plot
        self.plot_widget.setToolTip(
            "Left-click: add a support point at that x, on the true function (noiseless, for "
            "clarity).\nRight-click near a point: remove it. Fine-tuning reruns at once.")

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
        self.controls = QWidget()
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
        self.table_steps.editingFinished.connect(self._on_table_steps_edited)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.set_config(config, restarted=True)

    # --- the drawing's items (tests and scripts reach them here) ------------------------
    @property
    def view(self) -> pg.ViewBox:
        return self.drawing.view

    @property
    def legend(self):
        return self.drawing.legend

    @property
    def step_curves(self) -> list:
        return self.drawing.step_curves

    @property
    def before_curve(self):
        return self.drawing.before_curve

    @property
    def erm_after_curve(self):
        return self.drawing.erm_after_curve

    @property
    def noise_band(self):
        return self.drawing.noise_band

    # --- public -------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.model.config

    @property
    def state(self) -> FunctionState:
        """What the view shows (bound to the controls both ways)."""
        return self._state

    @property
    def task_index(self) -> int:
        return self.model.task_index

    @property
    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The support points ``(x, y)`` (copies)."""
        return self.model.x_support.copy(), self.model.y_support.copy()

    @property
    def theta(self) -> np.ndarray:
        return self.model.theta.copy()

    @property
    def result(self) -> FineTuneResult | None:
        """The meta-learned model's fine-tuning on the current points (None without data)."""
        self._refresh_if_dirty()
        return self._result("meta")

    @property
    def pretrained_result(self) -> FineTuneResult | None:
        self._refresh_if_dirty()
        return self._result("baseline") if self._state.baseline else None

    def _result(self, which: str) -> FineTuneResult | None:
        if self.model.tasks is None:
            return None
        return self.model.result(which, max([self.view_steps, *self._state.steps]),
                                 self.view_steps)

    @property
    def view_steps(self) -> int:
        """Fine-tuning steps drawn when the frame has completed its inner loop."""
        return self.model.view_steps(self._state)

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
        return self.model.grid.copy()

    def has_data(self) -> bool:
        return self.model.has_data

    def _truth_at(self, x: np.ndarray) -> np.ndarray:
        return self.model.truth_at(x)

    def set_config(self, config: Config, *, restarted: bool = False) -> None:
        """A new config: reload the tasks when they changed; refit the model's curves."""
        tasks_changed = self.model.set_config(config, restarted=restarted)
        self._fit_generation += 1  # a fit still computing is for the old config: dropped
        if not self.model.has_data:
            self._cancel_pretraining()
            self.message.setText(f"The {self.model.family.label.lower()} family has no data "
                                 "(x, y).\nThe function view shows tasks with data: softplus "
                                 "line fitting and sinusoid regression.")
            self.stack.setCurrentIndex(1)
            return
        self.stack.setCurrentIndex(0)
        if restarted:
            self._fraction = 1.0
        if tasks_changed or self.task_box.count() == 0:  # the model loads them when made
            self._fill_task_box()
            if self._state.task >= self.model.tasks.n:
                self._state = self._state.replace(task=self.model.task_index)
            self.model.select(self._state.task)
            self.model.apply_points(self._state)
            self.drawing.set_range(self.model.family.input_range(), self.model.y_range())
        self._show_state()
        if self._state.baseline and self._erm_key != self._erm_config_key():
            self._start_pretraining()
        self._invalidate()

    def apply_state(self, state: FunctionState) -> None:
        """Show ``state`` (a session's or preset's): task, points, steps and baseline. A task
        beyond this config's list is ignored (the other settings still apply)."""
        old = self._state
        if self.model.tasks is not None and state.task >= self.model.tasks.n:
            state = state.replace(task=old.task)
        self._set_state(state)
        if self.model.tasks is None:
            return
        if state.task != old.task:
            self.model.select(state.task)
        if (state.task, state.support_points, state.draw) != (
                old.task, old.support_points, old.draw):
            self.model.apply_points(state)
            self._points_edited()
        if state.baseline != old.baseline or state.baseline_steps != old.baseline_steps:
            self._baseline_changed()
        if state.task != old.task:
            self.task_selected.emit(state.task)
        self._invalidate()

    def _set_state(self, state: FunctionState) -> None:
        changed = state != self._state
        self._state = state
        self._show_state()
        if changed:
            self.state_changed.emit(state)

    def _show_state(self) -> None:
        """The controls show the state (without acting on their own signals)."""
        state = self._state
        params = self.model.family.params
        # K stays as typed until used: the task's own K, or the last draw's
        k = state.support_points or (self.k_spin.value() if self.model.tasks is not None and
                                     self._k_for == self.model.config.task else
                                     int(params.get("k_shot", params.get("n_points", 5))))
        self._k_for = self.model.config.task
        values = ((self.task_box, "setCurrentIndex", state.task),
                  (self.k_spin, "setValue", k),
                  (self.steps_spin, "setValue", self.view_steps),
                  (self.erm_box, "setChecked", state.baseline),
                  (self.erm_steps, "setValue", self._baseline_steps()),
                  (self.table_steps, "setText", ", ".join(str(s) for s in state.steps)))
        for widget, setter, value in values:
            widget.blockSignals(True)
            getattr(widget, setter)(value)
            widget.blockSignals(False)
        self.table_steps.setStyleSheet("")

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """θ of the snapshot, and as many fine-tuning steps as its frame has reached."""
        if snapshot.config != self.model.config:
            self.set_config(snapshot.config)
        if not self.model.has_data:
            return
        if snapshot.record is not None:  # MetaNAS adapts without its pruned operations
            self.model.follow(snapshot.record.diagnostics)
        theta, fraction = self._frame_state(snapshot)
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self.model.theta.shape or not np.array_equal(theta, self.model.theta):
            self.model.theta = theta.copy()
        self._fraction = fraction
        self.drawing.set_smooth(not (snapshot.playing and snapshot.full_speed))
        if snapshot.playing and snapshot.full_speed:
            self._dirty = True  # else drawn with a later snapshot (pausing publishes one)
            if time.perf_counter() - self._last_refresh >= FULL_SPEED_REFRESH_S:
                if self._fits_beside:
                    self._refresh_beside()
                else:
                    self._invalidate()
            return
        self._invalidate()

    def set_theta(self, theta: np.ndarray) -> None:
        """Show the model at ``theta`` fully fine-tuned (no snapshot: scripts)."""
        self.model.theta = np.asarray(theta, dtype=np.float64).copy()
        self._fraction = 1.0
        self._invalidate()

    def selected_task(self) -> int:
        return self.model.task_index

    def select_task(self, index: int | None) -> None:
        """Show task ``index`` (the canvas's numbering), with its own support points."""
        if index is None or self.model.tasks is None or not 0 <= index < self.model.tasks.n:
            return
        if index == self.model.task_index:
            return
        self.task_box.setCurrentIndex(index)  # → _on_task_chosen

    def set_support_points(self, x: np.ndarray, y: np.ndarray | None = None) -> None:
        """Replace the support points; ``y`` defaults to the (noiseless) true function."""
        self.model.set_support(x, y)
        self._points_edited()

    def add_support_point(self, x: float, y: float | None = None) -> None:
        """Add a support point at ``x`` (on the true function unless ``y`` is given)."""
        if self.model.tasks is None:
            return
        xs, ys = self.support
        yv = float(self.model.truth_at(np.array([x]))[0]) if y is None else float(y)
        self.model.set_support(np.append(xs, float(x)), np.append(ys, yv))
        self._points_edited()

    def remove_support_point(self, index: int) -> None:
        xs, ys = self.support
        if not 0 <= index < xs.size:
            return
        self.model.set_support(np.delete(xs, index), np.delete(ys, index))
        self._points_edited()

    def nearest_support_point(self, x: float, y: float, radius_px: float = REMOVE_RADIUS_PX) -> int | None:
        """Index of the support point within ``radius_px`` screen pixels of ``(x, y)``, or None."""
        return self.drawing.nearest_support_point(self.model.x_support, self.model.y_support,
                                                  x, y, radius_px)

    def remove_support_point_near(self, x: float, y: float) -> bool:
        index = self.nearest_support_point(x, y)
        if index is None:
            return False
        self.remove_support_point(index)
        return True

    def draw_random_points(self, k: int | None = None) -> None:
        """K new support points: x uniform over the input range, y on the true function
        (the next draw of the state's)."""
        if self.model.tasks is None:
            return
        k = self.k_spin.value() if k is None else int(k)
        self.apply_state(self._state.replace(support_points=k, draw=self._state.draw + 1))

    def reset_points(self) -> None:
        """The task's own support set (with the family's noise, if any)."""
        self.model.load_task_points()
        self._set_state(self._state.replace(support_points=None))
        self._points_edited()

    def set_pretrained_theta(self, theta: np.ndarray | None) -> None:
        """Use ``theta`` as the pretrained model (None: forget it); shown while the box is on."""
        self._cancel_pretraining()
        self.model.baseline_theta = None if theta is None else \
            np.asarray(theta, dtype=np.float64).copy()
        self._erm_key = self._erm_config_key() if theta is not None else None
        if theta is not None:
            self.erm_status.setText("ERM set")
        self._invalidate()

    def pretraining(self) -> bool:
        """The ERM model is being trained now."""
        return self._workers.busy()

    def shutdown(self) -> None:
        """Stop the ERM and fine-tuning workers (bounded wait)."""
        self._cancel_pretraining()
        self._in_flight = None
        self._fit_generation += 1
        self._fit_slot.retire()  # both told to stop first: the two waits overlap
        self._workers.shutdown(STOP_WAIT_MS)
        self._fit_slot.shutdown(STOP_WAIT_MS)

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
        for i in range(self.model.tasks.n):
            self.task_box.addItem(f"task {i}: {self.model.formula(i)[4:]}", i)  # without "y = "
        self.task_box.setCurrentIndex(self.model.task_index)
        self.task_box.blockSignals(False)

    def _points_edited(self) -> None:
        self._invalidate()
        self.support_changed.emit(self.support)

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
        tasks = self.model.tasks
        chosen = int(tasks.ids[self.model.task_index]) if tasks is not None else -1
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

    # --- computing and drawing ----------------------------------------------------------
    def _invalidate(self) -> None:
        self._dirty = True
        self._fit_generation += 1  # what is computing beside shows an older state: dropped
        if self.isVisible():
            self._refresh_if_dirty()

    def _request(self) -> FitRequest:
        """What the current picture is computed from (copies of the model's data)."""
        state = self._state if self.model.baseline_theta is not None else \
            self._state.replace(baseline=False)
        return self.model.request(state, self.view_steps)

    def _refresh_if_dirty(self) -> None:
        """Fine-tune here and draw at once (paused, stepping, edits, scripts)."""
        if not self._dirty or self.model.tasks is None or not self.model.has_data:
            return
        self._dirty = False
        self._last_refresh = time.perf_counter()
        self._fit_generation += 1  # a result still computing beside is stale now
        request = self._request()
        self._draw(request, self.model.fits(request))

    def _refresh_beside(self) -> None:
        """Full speed: send the picture's request to the worker; it is drawn when the result
        comes back. One request at a time: a later θ waits for the result and is sent then,
        so the worker is never asked for pictures nobody will see."""
        if self._in_flight is not None:
            worker = self._fit_slot.current
            if worker is not None and not worker.is_running():  # it died without a word
                self._on_fit_failed(self._in_flight[0], "the fine-tuning worker ended")
            return
        if (not self._dirty or self.model.tasks is None or not self.model.has_data
                or not self.isVisible()):
            return
        self._dirty = False
        self._last_refresh = time.perf_counter()
        self._fit_generation += 1
        request = self._request()
        fits = self.model.cached_fits(request)
        if fits is not None:  # the same θ and points as a picture already computed
            self._draw(request, fits)
            return
        worker = self._fit_slot.current
        if worker is not None and not worker.is_running():  # it ended while idle
            self._on_fit_failed(self._fit_generation, "the fine-tuning worker ended")
            self._invalidate()  # this picture, here
            return
        if worker is None:
            worker = FunctionFitWorker(self, process=self.fits_in_process)
            self._fit_slot.install(worker, (worker.fitted, self._on_fitted),
                                   (worker.failed, self._on_fit_failed))
        self._in_flight = (self._fit_generation, request)
        worker.request(self._fit_generation, request)

    @Slot(int, object)
    def _on_fitted(self, generation: int, fits: FunctionFits) -> None:
        request = self._take_in_flight(generation)
        if request is None:
            return
        if generation == self._fit_generation:  # else a newer picture was drawn meanwhile
            self.model.store(request, fits)
            self._draw(request, fits)
        if time.perf_counter() - self._last_refresh >= FULL_SPEED_REFRESH_S:
            self._refresh_beside()  # a θ that came meanwhile (if any)

    @Slot(int, str)
    def _on_fit_failed(self, generation: int, message: str) -> None:
        """The worker could not fine-tune (or start): fine-tune here from now on, where an
        error reaches the window as before."""
        request = self._take_in_flight(generation)
        if self._fits_beside:  # said once: the view goes on, a little slower
            print(f"maml-gui: function view: {message}; fine-tuning in the window from now on",
                  file=sys.stderr)
        self._fits_beside = False
        self._fit_slot.retire()
        if request is not None and generation == self._fit_generation:
            self._dirty = True
            self._invalidate()

    def _take_in_flight(self, generation: int) -> FitRequest | None:
        if self._in_flight is None or self._in_flight[0] != generation:
            return None
        request, self._in_flight = self._in_flight[1], None
        return request

    def _draw(self, request: FitRequest, fits: FunctionFits) -> None:
        """Draw ``request``'s runs at the current frame."""
        picture = picture_of(request, fits, self._fraction)
        self._picture = picture
        result = fits.meta[0]
        if result is not self._shown_result:
            self._shown_result = result
            self.adaptation_updated.emit(result)
        if picture.mse != self.comparison:
            self.comparison = picture.mse
            self._render_table()
            self.comparison_updated.emit(picture.mse)
        self.drawing.show(picture)
        text = mse_line(picture)
        if text != self.mse_label.text():  # a new text lays the dock out again
            self.mse_label.setText(text)
            self.mse_label.setToolTip(text)

    def _render_table(self) -> None:
        steps = self._state.steps
        head = "".join(f"<th align='right'>&nbsp;{plural(s)}</th>" for s in steps)
        rows = ""
        for name, values in self.comparison.items():
            cells = "".join(f"<td align='right'>&nbsp;{values[s]:.3g}</td>" for s in steps)
            rows += f"<tr><td>{name}</td>{cells}</tr>"
        self.table_label.setText(
            "<table cellspacing='0' cellpadding='1'>"
            f"<tr><th align='left'>query MSE</th>{head}</tr>{rows}</table>")

    # --- pretraining --------------------------------------------------------------------
    def _baseline_steps(self) -> int:
        steps = self._state.baseline_steps
        return max(self.model.config.steps, 1) if steps is None else steps

    def _erm_config_key(self) -> tuple:
        c = pretrain_config(self.model.config)
        return (c.task, c.seed, c.theta0, c.outer_optimizer, c.outer_lr, c.meta_batch, c.dtype,
                c.device, self._baseline_steps())

    def _start_pretraining(self) -> None:
        self._cancel_pretraining()
        self.model.baseline_theta = None
        self._erm_key = self._erm_config_key()
        self._erm_generation += 1
        steps = self._baseline_steps()
        worker = PretrainWorker(pretrain_config(self.model.config), steps, self._erm_generation,
                                self)
        self._workers.install(worker, (worker.progressed, self._on_pretrain_progressed),
                              (worker.finished, self._on_pretrain_finished),
                              (worker.failed, self._on_pretrain_failed))
        self.erm_status.setText(f"ERM 0/{steps}…")
        worker.start()
        self._invalidate()

    def _cancel_pretraining(self) -> None:
        if self._workers.current is not None:
            self._erm_generation += 1
            if self.model.baseline_theta is None:
                self._erm_key = None
        self._workers.retire()

    def _baseline_changed(self) -> None:
        """The baseline was switched on or off, or its training steps changed."""
        if self._state.baseline:
            if self.model.baseline_theta is None or self._erm_key != self._erm_config_key():
                self._start_pretraining()
            else:
                self.erm_status.setText("ERM ready")
        elif self.pretraining():
            self._cancel_pretraining()
            self.erm_status.setText("ERM cancelled")
        self._invalidate()

    @Slot(int, int, int)
    def _on_pretrain_progressed(self, generation: int, done: int, total: int) -> None:
        if generation == self._erm_generation:
            self.erm_status.setText(f"ERM {done}/{total}…")

    @Slot(int, object)
    def _on_pretrain_finished(self, generation: int, theta: np.ndarray) -> None:
        if generation != self._erm_generation:
            return
        self._workers.release(STOP_WAIT_MS)  # it emits last: the worker is ending
        self.model.baseline_theta = np.asarray(theta, dtype=np.float64)
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
        if index < 0 or self.model.tasks is None:
            return
        self.apply_state(self._state.replace(task=index, support_points=None))

    @Slot()
    def _on_draw_clicked(self) -> None:
        self.draw_random_points()

    @Slot()
    def _on_reset_clicked(self) -> None:
        self.reset_points()

    @Slot(int)
    def _on_steps_changed(self, value: int) -> None:
        self._set_state(self._state.replace(view_steps=int(value)))
        self._invalidate()

    @Slot(bool)
    def _on_erm_toggled(self, on: bool) -> None:
        changes = {"baseline": on}
        if int(self.erm_steps.value()) != self._baseline_steps():  # typed, not yet confirmed
            changes["baseline_steps"] = int(self.erm_steps.value())
        self.apply_state(self._state.replace(**changes))

    @Slot()
    def _on_erm_steps_edited(self) -> None:
        self.apply_state(self._state.replace(baseline_steps=int(self.erm_steps.value())))

    @Slot()
    def _on_table_steps_edited(self) -> None:
        text = self.table_steps.text()
        try:
            steps = [int(part) for part in text.replace(",", " ").split()]
            state = self._state.replace(steps=steps)
        except (ValueError, ViewStateError) as exc:
            # kept as typed, in red, with the reason: the table keeps its last good columns
            self.table_steps.setStyleSheet("color: #E07070;")
            self.table_steps.setToolTip(f"Not used: {exc}" if isinstance(exc, ViewStateError)
                                        else f"Not used: {text!r} is not a list of integers")
            return
        self.table_steps.setToolTip("Fine-tuning steps of the MSE table's columns")
        self.apply_state(state)

    def _on_scene_clicked(self, event) -> None:
        if self.model.tasks is None or event.double():
            return
        scene_pos = event.scenePos()
        if not self.view.sceneBoundingRect().contains(scene_pos):
            return
        point = self.view.mapSceneToView(scene_pos)
        if event.button() == Qt.MouseButton.LeftButton:
            low, high = self.model.family.input_range()
            if low <= point.x() <= high:
                self.add_support_point(point.x())
                event.accept()
        elif event.button() == Qt.MouseButton.RightButton:
            if self.remove_support_point_near(point.x(), point.y()):
                event.accept()
