"""The live loss-landscape canvas: a thin shell (controls, landscape worker, readouts) around
a :class:`~maml_gui.plots.landscape.LandscapePlot`, which draws everything.

Every item is created once and updated in place (``setData``/``setImage``).
Surfaces come from a landscape worker (debounced, stale results dropped); levels of
the colour map stay fixed while only θ or the resolution changes, so colours never jump.
For models with more than two parameters the canvas shows a plane (PCA of the trajectory,
seeded random directions, or two parameter axes) and says which in its title.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QMenu, QPushButton, QSpinBox, QToolButton,
    QVBoxLayout, QWidget,
)

from maml_gui.core.animation import visible
from maml_gui.core.config import Config
from maml_gui.core.landscape import (
    PLANE_GRID, PLANE_GRID_COARSE, LandscapeError, LandscapeEvaluator, Plane, Surface,
    landscape_tasks, surface_names,
)
from maml_gui.core.tasks import make_family
from maml_gui.core.training import initial_theta
from maml_gui.palette import SCREEN, Theme
from maml_gui.plots.landscape import LandscapePlot, surface_title
from maml_gui.runtime.landscape_worker import LandscapeRequest, make_landscape_worker
from maml_gui.runtime.worker_slot import WorkerSlot
from maml_gui.runtime.run_controller import Snapshot
from maml_gui.runtime.view_model import ViewModel
from maml_gui.view import MAX_PLANE_SEED, LandscapeState
from maml_gui.view.projection import REFIT_SECONDS, Projection, fit_range, path_points

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

COARSE, FINE = 48, 176  # grid sizes for 2-parameter surfaces: a quick first look, then detail
# a plane through an MLP: 16² first (tens of ms), then 64² (a few hundred ms); the heatmap
# spans the same rectangle at both, so the coarse one shows upscaled under the same axes
COARSE_PLANE, FINE_PLANE = PLANE_GRID_COARSE, PLANE_GRID
DEBOUNCE_MS = 30


@dataclass
class _Shown:
    """The geometry currently on screen (to draw paths, read out values)."""

    surface: Surface | None = None
    levels_key: tuple | None = None
    levels: tuple[float, float] | None = None


class LandscapeCanvas(QWidget):
    """Heatmap, contours and the algorithm's geometry for the current snapshot."""

    theta_dragged = Signal(object)
    """The θ handle was dropped at a new position: the new θ₀ (numpy vector)."""
    optimum_dragged = Signal(int, object)
    """Task ``i``'s optimum marker was dropped at plane point ``(x, y)``."""
    landscape_failed = Signal(str)
    """A surface could not be computed: a readable reason."""
    task_selected = Signal(object)
    """A task's path was clicked: its index, or None."""
    _plane_fitted = Signal()
    """The fitter thread finished a plane (emitted there; queued to this object's thread)."""

    def __init__(self, config: Config, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._config = config
        self._generation = 0
        self._shown = _Shown()
        self._plane_steps = 0
        self._snapshot: Snapshot | None = None
        self._interactive = True
        self._started = False
        self._anchor: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._last_request_key: tuple | None = None
        self._finest = 0  # the finest resolution of the latest request
        self._drawn: tuple | None = None  # what show_snapshot last drew
        self._plane_time = 0.0
        self._fitter: ThreadPoolExecutor | None = None  # made for the first full-speed refit
        self._plane_fit: tuple | None = None  # (snapshot, decimations, future) while fitting
        self._figure_mode = False  # exports: only the plot, no controls or readouts
        self._legend_fields: dict[int, str] = {}  # legend entry's item → its view-state field

        self.surface_box = QComboBox()
        self.surface_box.setToolTip("Which surface the heatmap shows")
        # may shrink below its longest title, so the plane's controls fit beside it
        self.surface_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.surface_box.setMinimumContentsLength(8)
        self.log_box = QCheckBox("log scale")  # short: the bar must fit a 1366-pixel window
        self.log_box.setToolTip("Colour by log₁₀ of the loss: shows detail in flat, low regions")
        self.plane_box = QComboBox()
        self.plane_box.addItems(["pca", "random", "axes"])
        self.plane_box.setToolTip("For models with more than 2 parameters: the plane shown.\n"
                                  "pca: the top two principal directions of θ's path and the inner "
                                  "steps; random: seeded filter-normalised directions; axes: θ₁, θ₂")
        self.seed_box = QSpinBox()
        self.seed_box.setPrefix("seed ")  # no separate label: the bar must fit 1366 pixels
        self.seed_box.setRange(0, MAX_PLANE_SEED)
        self.seed_box.setKeyboardTracking(False)  # one new plane per number typed, not per digit
        # sized for a few digits, not for the range's ten (the text scrolls for longer seeds)
        self.seed_box.setFixedWidth(self.seed_box.fontMetrics().horizontalAdvance("seed 00000")
                                    + 30)
        self.seed_box.setToolTip(LandscapeState.field("plane_seed").help
                                 + "\nUntil you change it: the config's seed")
        self.show_button = QToolButton()
        self.show_button.setText("Show")
        self.show_button.setToolTip("Which items the landscape draws")
        self.show_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        show_menu = QMenu(self.show_button)
        show_menu.setToolTipsVisible(True)
        self.show_actions = {}
        for name in LandscapeState.DRAWN:
            field = LandscapeState.field(name)
            action = show_menu.addAction(field.label)
            action.setCheckable(True)
            action.setChecked(field.default)
            action.setToolTip(field.help)
            action.toggled.connect(partial(self._on_show_toggled, name))
            self.show_actions[name] = action
        self.show_button.setMenu(show_menu)
        self.fit_button = QPushButton("Fit view")
        self.fit_button.setToolTip("Reset zoom to the tasks' region (or refit the plane)")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Surface:"))
        bar.addWidget(self.surface_box, 1)
        bar.addWidget(self.log_box)
        self.plane_label = QLabel("plane:")
        bar.addWidget(self.plane_label)
        bar.addWidget(self.plane_box)
        bar.addWidget(self.seed_box)
        bar.addWidget(self.show_button)
        bar.addWidget(self.fit_button)

        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.drawing = LandscapePlot(theme, self.plot_widget.getPlotItem())
        self.drawing.cache_still_items()
        self.drawing.hold_arrow_scale = True
        # the controls write the view state here; observers subscribe to model.changed
        self.model = ViewModel(LandscapeState(surface="mean", log_scale=False), self)
        self.model.changed.connect(self._on_state_changed)
        self.projection = Projection(make_family(config), "pca", config.seed)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(" ")
        self.status.setStyleSheet("color: #999;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.plot_widget, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.readout, 1)
        footer.addWidget(self.status)
        layout.addLayout(footer)
        self._control_bar, self._footer = bar, footer

        self._workers = WorkerSlot(self)  # ends the worker even without closeEvent
        self.worker = worker = make_landscape_worker(self)
        self._workers.install(worker, (worker.surface_ready, self._on_surface_ready),
                              (worker.failed, self._on_surface_failed))
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._send_request)

        self.surface_box.currentIndexChanged.connect(self._on_surface_chosen)
        self.log_box.toggled.connect(self._on_log_toggled)
        self.plane_box.currentTextChanged.connect(self._on_plane_method_changed)
        self.seed_box.valueChanged.connect(self._on_seed_chosen)
        self.fit_button.clicked.connect(self.fit_view)
        self.view.sigRangeChanged.connect(self._on_range_changed)
        self.theta_handle.sigPositionChangeFinished.connect(self._on_theta_dropped)
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # queued even when the fit is done before its callback is added (it then runs here)
        self._plane_fitted.connect(self._on_plane_fitted, Qt.ConnectionType.QueuedConnection)
        self.set_config(config, restarted=True)

    # --- the drawing's items (tests and scripts reach them here) ----------------------
    plot = property(lambda self: self.drawing.plot)
    view = property(lambda self: self.drawing.view)
    image = property(lambda self: self.drawing.image)
    colour_bar = property(lambda self: self.drawing.colour_bar)
    contours = property(lambda self: self.drawing.contours)
    trail = property(lambda self: self.drawing.trail)
    paths = property(lambda self: self.drawing.paths)
    optima = property(lambda self: self.drawing.optima)
    task_arrows = property(lambda self: self.drawing.task_arrows)
    aggregate_arrow = property(lambda self: self.drawing.aggregate_arrow)
    theta_handle = property(lambda self: self.drawing.theta_handle)
    legend = property(lambda self: self.drawing.legend)

    @property
    def _plane(self) -> Plane | None:
        return self.projection.plane

    # --- public ---------------------------------------------------------------------
    @property
    def surface_name(self) -> str:
        return self.surface_box.currentData() or "mean"

    @property
    def param_dim(self) -> int:
        """Parameters of the model whose landscape is shown."""
        return self._family.param_dim

    @property
    def shown_surface(self) -> Surface | None:
        return self._shown.surface

    @property
    def highlighted_task(self) -> int | None:
        return self.drawing.highlighted

    @property
    def plane(self) -> Plane | None:
        return self._plane

    def landscape_complete(self) -> bool:
        """The newest surface has arrived at its finest resolution, and nothing is pending."""
        surface = self._shown.surface
        return (not self._debounce.isActive() and self.worker.idle() and surface is not None
                and len(surface.x) == self._finest)

    def set_surface(self, name: str) -> None:
        index = self.surface_box.findData(name)
        if index < 0:
            raise LandscapeError(f"no surface {name!r} here")
        self.surface_box.setCurrentIndex(index)

    def set_log_scale(self, on: bool) -> None:
        self.log_box.setChecked(on)

    @property
    def state(self) -> LandscapeState:
        """What the canvas shows, as a view state (the plotted range included)."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        return self.model.state.replace(range=[x0, x1, y0, y1])

    def apply_state(self, state: LandscapeState) -> None:
        """Show ``state``: its plane and plane seed, surface (:class:`LandscapeError` if this
        config has no such surface, after the rest is applied), colour scale, range, selected
        task and drawn items."""
        self.model.update(plane_seed=state.plane_seed)  # first: a random plane is drawn with it
        self.plane_box.setCurrentText(state.plane)
        self.set_log_scale(state.log_scale_for(self.param_dim))
        if state.range:
            x0, x1, y0, y1 = state.range
            self.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.drawing.apply_state(state)  # a selected task this config lacks is dropped here
        self.model.update(selected_task=self.drawing.highlighted,
                          **{name: getattr(state, name) for name in LandscapeState.DRAWN})
        if state.surface:
            self.set_surface(state.surface)

    def set_interactive(self, interactive: bool) -> None:
        """Handles can be dragged only while paused (dragging restarts the run)."""
        self._interactive = interactive
        # TargetItem has no setter: its drag handler reads the attribute
        self.theta_handle.movable = interactive and self._plane is None
        for marker in self.optima:
            marker.movable = interactive and self._family.movable_optima and self._plane is None

    def highlight_task(self, index: int | None) -> None:
        """Draw task ``index``'s path thicker and the others faded (None: all equal)."""
        self.drawing.highlight_task(index)
        self.model.update(selected_task=index)

    def set_config(self, config: Config, *, restarted: bool = False) -> None:
        """A new config: rebuild per-task items if the tasks changed, and recompute."""
        old = self._config
        self._config = config
        # the model trained, not only the task family: B-SMALL and MetaNAS add parameters
        family_changed = make_family(old).param_dim != make_family(config).param_dim
        self._family = make_family(config)
        self.projection.family = self._family
        self.projection.seed = self.model.state.plane_seed_for(config.seed)
        self._show_seed()
        tasks_changed = restarted or old.task != config.task or old.seed != config.seed
        if tasks_changed:
            self._tasks = landscape_tasks(config)
            self._rebuild_task_items()
        if family_changed or (restarted and not self._started):
            # the MLP's loss spans decades: a linear scale shows one flat colour around θ
            self.log_box.setChecked(self._family.param_dim > 2)
        self._started = True
        self._refresh_surface_choices()
        if restarted:
            self._plane_fit = None  # a fit of the old run's trail is of no use
            self.projection.plane = None
            self._plane_steps = 0
            self._snapshot = None
            self._theta0 = initial_theta(config)
            self._ensure_plane(np.atleast_2d(self._theta0))
            self._show_theta0()
            if tasks_changed:
                self.fit_view()
        self._schedule()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Draw the run at ``snapshot``'s frame (called up to ~30 times a second)."""
        self._snapshot = snapshot
        record = snapshot.record
        if record is None:
            self._show_theta0()
            return
        if self._plane_fit is not None and self._plane_fit[2].done():
            self._use_fitted_plane()
        self._maybe_refit_plane(snapshot)
        # smooth lines cost more than the rest of a frame: not while it trains at full speed
        if self.drawing.set_smooth(not (snapshot.playing and snapshot.full_speed)):
            self._drawn = None  # the trail through every step again, e.g. on pausing
        drawn = (snapshot.run_id, record.step, snapshot.frame_index, id(self._plane),
                 snapshot.history.total_steps)
        if drawn == self._drawn:
            return  # e.g. a paused run republishing the same state
        self._drawn = drawn
        self.drawing.show_snapshot(snapshot, self.projection)
        updated = visible(record, snapshot.frame).updated
        anchor = record.theta_next if updated else record.theta
        weights = record.diagnostics.get("task_weights_next" if updated else "task_weights")
        self._set_dependencies(anchor, weights)
        self._keep_theta_clear()
        self.status.setText("diverged" if record.diverged else "")

    def _keep_theta_clear(self) -> None:
        """Move the legend (to another corner) only when it hides θ or an optimum: it must not
        jump about while the run animates, nor cover the points being watched."""
        if self.drawing.legend_covers(self.drawing.markers()):
            self.drawing.place_legend()

    def fit_view(self) -> None:
        """Zoom to where the tasks are (2 parameters) or to θ's projected path (planes)."""
        xmin, xmax, ymin, ymax = fit_range(self.projection, self._tasks, self._theta0,
                                           self._snapshot)
        self.view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        self.drawing.place_legend()
        self._schedule()

    def set_figure_mode(self, on: bool) -> None:
        """Hide the control bar and the readouts, and drop the margins (for exported figures)."""
        self._figure_mode = on
        for bar in (self._control_bar, self._footer):
            for i in range(bar.count()):
                widget = bar.itemAt(i).widget()
                if widget is not None:
                    widget.setVisible(not on)
        if not on:
            self._show_plane_controls()
        margin = 0 if on else 4
        self.layout().setContentsMargins(margin, margin, margin, margin)

    def shutdown(self) -> None:
        """Stop the debounce timer, the plane fitter and the landscape thread (bounded wait)."""
        self._debounce.stop()
        self._plane_fit = None
        if self._fitter is not None:
            self._fitter.shutdown(wait=True, cancel_futures=True)  # one fit: ≤ ~0.1 s
            self._fitter = None
        self._workers.shutdown()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- items per task ---------------------------------------------------------------
    def _rebuild_task_items(self) -> None:
        n = self._family.tasks_per_step() if self._family.pool_size() is None else self._tasks.n
        optima = self._family.optima(self._tasks)
        self._drawn = None
        self.drawing.set_tasks(n, None if optima is None else
                               optima.detach().cpu().numpy().astype(np.float64, copy=True),
                               on_path_clicked=self._on_path_clicked,
                               on_optimum_dropped=self._on_optimum_dropped)
        self.show_actions["optima"].setEnabled(bool(self.optima))  # e.g. sine tasks have none
        self._legend_fields = self._legend_entries()
        self._sync_legend(LandscapeState.DRAWN)

    def _sync_legend(self, names) -> None:
        """Legend entries draw a crossed-out eye while their group (one of ``names``) is
        hidden; their sample items are not on the plot, so they follow the state here."""
        state = self.model.state
        for sample, _label in self.legend.items:
            name = self._legend_fields.get(id(sample.item))
            if name in names:
                sample.item.setVisible(getattr(state, name))
                sample.update()

    def _legend_entries(self) -> dict[int, str]:
        """Which view-state field each legend entry's item belongs to (by the item's id)."""
        fields: dict[int, str] = {}
        for sample, label in self.legend.items:
            item, text = sample.item, label.text
            if item is self.trail:
                fields[id(item)] = "trail"
            elif item in self.paths or "inner steps" in text:
                fields[id(item)] = "paths"
            elif text.startswith("task optimum"):
                fields[id(item)] = "optima"
            elif text.startswith("−meta-gradient"):
                fields[id(item)] = "arrows"
        return fields

    def _place_optima(self) -> None:
        self.drawing.place_optima(self.projection)

    def _show_theta0(self) -> None:
        self.drawing.set_smooth(True)
        self.drawing.show_theta0(self._theta0, self.projection)
        self._set_dependencies(self._theta0, None)
        self.status.setText("")

    # --- planes ---------------------------------------------------------------------
    def _ensure_plane(self, points: np.ndarray, centre: np.ndarray | None = None) -> None:
        """Choose the plane for >2 parameters, through ``centre`` (default: the last point)."""
        self.projection.method = self.plane_box.currentText()
        self._show_plane_controls()
        self.projection.fit(points, centre)

    def _show_plane_controls(self) -> None:
        """The plane's controls only where there is a plane; its seed only where it is used."""
        planes = self._family.param_dim > 2 and not self._figure_mode
        seeded = planes and self.plane_box.currentText() == "random"
        for widget, shown in ((self.plane_box, planes), (self.plane_label, planes),
                              (self.seed_box, seeded)):
            widget.setVisible(shown)

    def _show_seed(self) -> None:
        """The seed box shows the plane's seed (the config's until one is chosen)."""
        self.seed_box.blockSignals(True)
        self.seed_box.setValue(self.model.state.plane_seed_for(self._config.seed))
        self.seed_box.blockSignals(False)

    def _maybe_refit_plane(self, snapshot: Snapshot) -> None:
        """Refit the PCA plane as the trajectory grows (by half since the last fit), at most
        every few seconds while running at full speed: each refit means a new surface.

        At full speed the fit and the projection of the trail onto the new plane (tens of
        ms for the MLP's trail) run in a thread, and the plane changes when they are done:
        the frames meanwhile are drawn on the old plane."""
        if self._family.param_dim == 2 or self.plane_box.currentText() != "pca":
            return
        steps = snapshot.history.total_steps
        due = (self._plane is None or self._plane.method != "pca"
               or steps >= max(1.5 * self._plane_steps, self._plane_steps + 10))
        if not due or steps < 3 or self._plane_fit is not None:
            return
        now = time.perf_counter()
        if snapshot.playing and snapshot.full_speed:
            if now - self._plane_time >= REFIT_SECONDS:
                self._plane_time = now
                self._fit_plane_beside(snapshot)
            return
        self._plane_time = now
        self._ensure_plane(*path_points(snapshot))
        self._plane_steps = steps
        self._place_optima()
        self.fit_view()

    def _fit_plane_beside(self, snapshot: Snapshot) -> None:
        """Fit the plane and project the trail in the fitter thread (see above)."""
        if self._fitter is None:
            self._fitter = ThreadPoolExecutor(1, thread_name_prefix="maml-gui plane fit")
        points, centre = path_points(snapshot)  # copies
        history = snapshot.history
        # rows the next steps never rewrite (a decimation does: then the result is dropped)
        thetas = history.thetas[: max(len(history.thetas) - 1, 0)]
        projection = self.projection
        self._plane_fit = (snapshot, history.decimations, self._fitter.submit(
            _fit_and_project, projection, points, centre, thetas))
        self._plane_fit[2].add_done_callback(lambda _future: self._plane_fitted.emit())

    @Slot()
    def _on_plane_fitted(self) -> None:
        current = self._snapshot
        if current is not None and current.playing and current.full_speed:
            # the next frame switches planes (see show_snapshot): switched here, among the
            # posted events, the switch, that frame and their paint came back to back
            return
        if self._use_fitted_plane():
            self.show_snapshot(current)

    def _use_fitted_plane(self) -> bool:
        """Switch to the plane fitted beside; False when it is stale (or none is pending)."""
        if self._plane_fit is None:
            return False  # the run restarted or the canvas shut down meanwhile
        snapshot, decimations, future = self._plane_fit
        self._plane_fit = None
        current = self._snapshot
        if (future.cancelled() or future.exception() is not None or current is None
                or current.run_id != snapshot.run_id or current.history is not snapshot.history
                or snapshot.history.decimations != decimations
                or self.plane_box.currentText() != "pca"):
            return False  # stale: the next due snapshot fits again
        plane, trail_uv = future.result()
        self.projection.use_plane(plane, snapshot, trail_uv)
        self._plane_steps = snapshot.history.total_steps
        self._place_optima()
        self._drawn = None
        self.fit_view()
        return True

    def _to_plane(self, points: np.ndarray) -> np.ndarray:
        return self.projection.to_plane(points)

    @Slot(str)
    def _on_plane_method_changed(self, method: str) -> None:
        self.model.update(plane=method)
        self._refit_plane()

    def _refit_plane(self) -> None:
        """A new plane (method or seed changed) through the current path; a new surface."""
        if self._snapshot is not None and self._snapshot.record is not None:
            self._ensure_plane(*path_points(self._snapshot))
        else:
            self._ensure_plane(np.atleast_2d(self._theta0))
        self._plane_steps = self._snapshot.history.total_steps if self._snapshot else 0
        self._place_optima()
        if self._snapshot is not None:
            self.show_snapshot(self._snapshot)
        self.fit_view()

    # --- surfaces -------------------------------------------------------------------
    def _refresh_surface_choices(self) -> None:
        current = self.surface_box.currentData()
        names = surface_names(self._tasks.n, self._config.algorithm)
        self.surface_box.blockSignals(True)
        self.surface_box.clear()
        for name in names:
            self.surface_box.addItem(surface_title(name), name)
        index = self.surface_box.findData(current) if current else -1
        if index < 0:
            index = self.surface_box.findData("meta" if "meta" in names else "mean")
        self.surface_box.setCurrentIndex(index)
        self.surface_box.blockSignals(False)
        self.model.update(surface=self.surface_name)

    def _set_dependencies(self, anchor: np.ndarray, weights: np.ndarray | None) -> None:
        """θ (iMAML's anchor) and TR-MAML's weights change the surface: recompute if they do."""
        kind = self.surface_name.split(":")[0]
        changed = False
        if kind == "imaml" and (self._anchor is None or not np.array_equal(anchor, self._anchor)):
            changed = True
        if kind == "meta" and self._config.algorithm == "tr_maml" and weights is not None and (
                self._weights is None or not np.array_equal(weights, self._weights)):
            changed = True
        self._anchor = np.asarray(anchor, dtype=np.float64)
        self._weights = weights
        if changed:
            self._schedule()

    def _schedule(self) -> None:
        self._debounce.start()

    def _request(self, resolutions: tuple[int, ...] | None = None,
                 dtype: torch.dtype = torch.float32) -> LandscapeRequest | None:
        """The landscape request for what is on screen now (None if the view is empty)."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        if not (x1 > x0 and y1 > y0):
            return None
        plane = self._plane
        if resolutions is None:
            resolutions = (COARSE, FINE) if plane is None else (COARSE_PLANE, FINE_PLANE)
        anchor = self._anchor if self._anchor is not None else self._theta0
        weights = self._weights if self._config.algorithm == "tr_maml" else None
        return LandscapeRequest(
            generation=self._generation + 1, config=self._config, tasks=self._tasks,
            surface=self.surface_name, xrange=(x0, x1), yrange=(y0, y1),
            resolutions=resolutions, plane=plane, anchor=anchor, weights=weights, dtype=dtype)

    @Slot()
    def _send_request(self) -> None:
        request = self._request()
        if request is None:
            return
        key = (request.surface, request.config, request.xrange, request.yrange,
               id(request.plane), None if request.anchor is None else request.anchor.tobytes(),
               None if request.weights is None else request.weights.tobytes())
        if key == self._last_request_key:
            return
        self._last_request_key = key
        self._generation = request.generation
        self._finest = request.resolutions[-1]
        self.worker.request(request)

    def compute_landscape_now(self, resolution: int = FINE, dtype: torch.dtype = torch.float64) -> Surface:
        """Compute and show the current surface in this thread (exports and scripts).

        Pending worker results are made stale, so they cannot replace this one.
        """
        self._debounce.stop()
        request = self._request((resolution,), dtype)
        if request is None:
            raise LandscapeError("the view is empty: nothing to compute")
        self._generation = request.generation
        self._last_request_key = None
        self._finest = resolution
        surface = LandscapeEvaluator(request.config, request.tasks, weights=request.weights,
                                     dtype=dtype).grid(request.surface, request.xrange,
                                                       request.yrange, resolution,
                                                       plane=request.plane, anchor=request.anchor)
        self._shown.surface = surface
        self._render_surface()
        return surface

    def full_surface(self) -> Surface | None:
        """The current surface at its full grid (what exports write, never the coarse first
        look): the one shown when it is complete, else computed now in this thread and shown.
        None when nothing can be computed (an empty view)."""
        if self.landscape_complete():
            return self._shown.surface
        if self._request() is None:
            return None
        return self.compute_landscape_now(FINE if self._plane is None else FINE_PLANE)

    @Slot(int, object)
    def _on_surface_ready(self, generation: int, surface: Surface) -> None:
        if generation != self._generation:
            return  # a newer request is on its way
        self._shown.surface = surface
        self._render_surface()

    @Slot(int, str)
    def _on_surface_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.status.setText("surface unavailable")
            self.landscape_failed.emit(message)

    def _render_surface(self) -> None:
        surface = self._shown.surface
        if surface is None:
            return
        log_scale = self.log_box.isChecked()
        levels_key = (surface.name, self._config.task, self._config.algorithm,
                      self._config.hot_values(), log_scale, id(self._plane),
                      round(surface.x[0], 9), round(surface.x[-1], 9),
                      round(surface.y[0], 9), round(surface.y[-1], 9))
        levels = self._shown.levels if levels_key == self._shown.levels_key else None
        # levels stay fixed while only θ or the resolution changes, so colours never jump
        used = self.drawing.show_surface(
            surface, log_scale, levels, axis_names=self._family.axis_names,
            plane_title=self._plane.title if self._plane is not None else "")
        if used is None:
            return
        self._shown.levels, self._shown.levels_key = used, levels_key
        self.status.setText(f"{len(surface.x)}² grid")

    # --- interaction ----------------------------------------------------------------
    @Slot(int)
    def _on_surface_chosen(self, _index: int) -> None:
        self.model.update(surface=self.surface_name)
        self._schedule()

    @Slot(int)
    def _on_seed_chosen(self, seed: int) -> None:
        self.model.update(plane_seed=seed)

    def _on_show_toggled(self, name: str, on: bool) -> None:
        self.model.update(**{name: on})

    def _on_legend_clicked(self, item) -> None:
        """pyqtgraph hides a legend entry's own item when it is clicked; here the click shows
        or hides that entry's whole group through the view state, as the Show menu does."""
        name = self._legend_fields.get(id(item))
        shown = getattr(self.model.state, name) if name else True
        if name is None or item.isVisible() == shown:
            item.setVisible(shown)  # e.g. θ's entry: nothing to hide
            return
        self.model.update(**{name: not shown})

    @Slot(object, object)
    def _on_state_changed(self, state: LandscapeState, names: list[str]) -> None:
        """The view state changed (a control, a session, a script): draw what it says."""
        drawn = [name for name in names if name in LandscapeState.DRAWN]
        if drawn:
            self.drawing.apply_state(state)
            for name in drawn:
                action = self.show_actions[name]
                action.blockSignals(True)
                action.setChecked(getattr(state, name))
                action.blockSignals(False)
            self._sync_legend(drawn)
        if "plane_seed" in names:
            self._show_seed()
            seed = state.plane_seed_for(self._config.seed)
            if seed != self.projection.seed:
                self.projection.seed = seed
                if self._plane is not None and self._plane.method == "random":
                    self._refit_plane()

    @Slot(bool)
    def _on_log_toggled(self, on: bool) -> None:
        self.model.update(log_scale=on)
        self._render_surface()

    def _on_range_changed(self, *_args) -> None:
        self.drawing.redraw_arrows()
        self.drawing.place_legend()  # a zoom or a resize moves what the legend may hide
        self._schedule()

    def _on_theta_dropped(self, *_args) -> None:
        if not self._interactive:
            return
        pos = self.theta_handle.pos()
        self.theta_dragged.emit(np.array([pos.x(), pos.y()], dtype=np.float64))

    def _on_optimum_dropped(self, marker) -> None:
        if not self._interactive:
            return
        pos = marker.pos()
        self.optimum_dragged.emit(marker.task_index, (pos.x(), pos.y()))

    def _on_path_clicked(self, item, *_args) -> None:
        index = getattr(item, "task_index", None)
        self.task_selected.emit(None if index == self.drawing.highlighted else index)

    def _on_mouse_moved(self, scene_pos) -> None:
        surface = self._shown.surface
        if surface is None or not self.view.sceneBoundingRect().contains(scene_pos):
            self.readout.setText(" ")
            return
        point = self.view.mapSceneToView(scene_pos)
        x, y = point.x(), point.y()
        value = _bilinear(surface, x, y)
        names = self._family.axis_names or ("u", "v")
        text = f"{names[0]} = {x:.4g}   {names[1]} = {y:.4g}"
        if value is not None:
            text += f"   {surface_title(surface.name)} = {value:.5g}"
        self.readout.setText(text)


def _fit_and_project(projection: Projection, points: np.ndarray, centre: np.ndarray,
                     thetas: np.ndarray) -> tuple[Plane, np.ndarray]:
    """The fitter thread's job: a plane for ``points`` through ``centre``, and the plane
    coordinates of ``thetas`` (numpy's BLAS releases the GIL: the window keeps drawing)."""
    plane = projection.fitted(points, centre)
    trail = Projection(projection.family)
    trail.plane = plane
    return plane, trail.to_plane(thetas)


def _bilinear(surface: Surface, x: float, y: float) -> float | None:
    xs, ys, z = surface.x, surface.y, surface.z
    if not (xs[0] <= x <= xs[-1] and ys[0] <= y <= ys[-1]):
        return None
    c = min(int(np.searchsorted(xs, x) - 1), len(xs) - 2)
    r = min(int(np.searchsorted(ys, y) - 1), len(ys) - 2)
    c, r = max(c, 0), max(r, 0)
    tx = (x - xs[c]) / (xs[c + 1] - xs[c])
    ty = (y - ys[r]) / (ys[r + 1] - ys[r])
    top = z[r, c] * (1 - tx) + z[r, c + 1] * tx
    bottom = z[r + 1, c] * (1 - tx) + z[r + 1, c + 1] * tx
    value = top * (1 - ty) + bottom * ty
    return float(value) if np.isfinite(value) else None
