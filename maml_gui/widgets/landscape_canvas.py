"""The live loss-landscape canvas: heatmap + contours, θ, tasks' inner paths, arrows, trail.

Everything is a pyqtgraph item created once and updated in place (``setData``/``setImage``).
Surfaces come from a landscape worker (debounced, stale results dropped); levels of
the colour map stay fixed while only θ or the resolution changes, so colours never jump.
For models with more than two parameters the canvas shows a plane (PCA of the trajectory,
seeded random directions, or two parameter axes) and says which in its title.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from maml_gui.core.animation import visible
from maml_gui.core.config import Config
from maml_gui.core.contours import contour_levels, contour_segments
from maml_gui.core.landscape import (
    LandscapeError, LandscapeEvaluator, Plane, Surface, axes_plane, landscape_tasks, pca_plane, random_plane,
    surface_names,
)
from maml_gui.core.tasks import make_family
from maml_gui.core.training import initial_theta
from maml_gui.palette import LANDSCAPE_COLORMAP, SCREEN, Theme
from maml_gui.runtime.landscape_worker import LandscapeRequest, make_landscape_worker
from maml_gui.runtime.run_controller import Snapshot
from maml_gui.widgets.plot_items import ArrowSet, SafeLegend, pen

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

COARSE, FINE = 48, 176  # grid sizes for 2-parameter surfaces: a quick first look, then detail
COARSE_PLANE, FINE_PLANE = 20, 40  # an MLP surface costs ~0.25 ms per point
DEBOUNCE_MS = 30
REFIT_SECONDS = 4.0  # the PCA plane's shortest refit interval at full speed
PCA_POINTS = 160  # points the live PCA plane is fitted to (evenly spaced along the path)
ARROW_FRACTION = 0.18  # the longest meta-gradient arrow's length as a share of the view's diagonal
MAX_LEGEND_TASKS = 8
MAX_SYMBOL_TASKS = 8


def surface_title(name: str) -> str:
    kind, _, index = name.partition(":")
    return {"meta": "meta-objective (after adaptation)", "mean": "mean task loss",
            "task": f"task {index} loss", "imaml": f"task {index}: iMAML regularised"}[kind]


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

    def __init__(self, config: Config, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._config = config
        self._generation = 0
        self._shown = _Shown()
        self._plane: Plane | None = None
        self._plane_steps = 0
        self._snapshot: Snapshot | None = None
        self._interactive = True
        self._highlight: int | None = None
        self._anchor: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._last_request_key: tuple | None = None
        self._finest = 0  # the finest resolution of the latest request
        self._trail_cache: tuple[tuple | None, np.ndarray] = (None, np.zeros((0, 2)))
        self._drawn: tuple | None = None  # what show_snapshot last drew
        self._plane_time = 0.0
        self._figure_mode = False  # exports: only the plot, no controls or readouts

        self.surface_box = QComboBox()
        self.surface_box.setToolTip("Which surface the heatmap shows")
        self.log_box = QCheckBox("log colour scale")
        self.log_box.setToolTip("Colour by log₁₀ of the loss: shows detail in flat, low regions")
        self.plane_box = QComboBox()
        self.plane_box.addItems(["pca", "random", "axes"])
        self.plane_box.setToolTip("For models with more than 2 parameters: the plane shown.\n"
                                  "pca: the top two principal directions of θ's path and the inner "
                                  "steps; random: seeded filter-normalised directions; axes: θ₁, θ₂")
        self.fit_button = QPushButton("Fit view")
        self.fit_button.setToolTip("Reset zoom to the tasks' region (or refit the plane)")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Surface:"))
        bar.addWidget(self.surface_box, 1)
        bar.addWidget(self.log_box)
        self.plane_label = QLabel("plane:")
        bar.addWidget(self.plane_label)
        bar.addWidget(self.plane_box)
        bar.addWidget(self.fit_button)

        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=False, y=False)
        self.plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
        self.view = self.plot.getViewBox()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(LANDSCAPE_COLORMAP))
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get(LANDSCAPE_COLORMAP),
                                          interactive=False, width=14)
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        self.colour_bar.axis.enableAutoSIPrefix(False)
        self.colour_bar.axis.setPen(theme.foreground)
        self.colour_bar.axis.setTextPen(theme.foreground)
        self.contours = pg.PlotCurveItem(connect="pairs", pen=pen(theme.contour, 1.0, 0.45))
        self.contours.setZValue(-5)
        self.plot.addItem(self.contours)
        self.trail = pg.PlotDataItem(pen=pen(theme.trail, 2.0), shadowPen=pen(theme.outline, 4.0, 0.5),
                                     connect="finite")
        self.trail.setZValue(5)
        self.plot.addItem(self.trail)
        self.paths: list[pg.PlotDataItem] = []
        self.optima: list[pg.TargetItem] = []
        self.task_arrows: list[ArrowSet] = []
        self.aggregate_arrow = ArrowSet(self.plot, theme.aggregate, width=3.5, z=30)
        self.theta_handle = pg.TargetItem(pos=(0, 0), size=16, movable=True, symbol="o",
                                          pen=pen(theme.outline, 2.0), brush=theme.theta,
                                          label="θ", labelOpts={"color": theme.foreground,
                                                                "offset": (8, -14),
                                                                # readable on dark heatmap colours
                                                                **({"fill": pg.mkBrush(255, 255, 255, 210)}
                                                                   if theme.print_theme else {})})
        self.theta_handle.setZValue(40)
        self.plot.addItem(self.theta_handle)
        self.legend = SafeLegend(offset=(8, 8), labelTextColor=theme.foreground,
                                    brush=pg.mkBrush(0, 0, 0, 110) if not theme.print_theme
                                    else pg.mkBrush(255, 255, 255, 200))
        self.legend.setParentItem(self.plot.getViewBox())

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

        self.worker = make_landscape_worker(self)
        weakref.finalize(self, self.worker.stop)  # ends the thread even without closeEvent
        self.worker.surface_ready.connect(self._on_surface_ready)
        self.worker.failed.connect(self._on_surface_failed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._send_request)

        self.surface_box.currentIndexChanged.connect(self._on_surface_chosen)
        self.log_box.toggled.connect(self._on_log_toggled)
        self.plane_box.currentTextChanged.connect(self._on_plane_method_changed)
        self.fit_button.clicked.connect(self.fit_view)
        self.view.sigRangeChanged.connect(self._on_range_changed)
        self.theta_handle.sigPositionChangeFinished.connect(self._on_theta_dropped)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.set_config(config, restarted=True)

    # --- public ---------------------------------------------------------------------
    @property
    def surface_name(self) -> str:
        return self.surface_box.currentData() or "mean"

    @property
    def shown_surface(self) -> Surface | None:
        return self._shown.surface

    @property
    def highlighted_task(self) -> int | None:
        return self._highlight

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

    def set_interactive(self, interactive: bool) -> None:
        """Handles can be dragged only while paused (dragging restarts the run)."""
        self._interactive = interactive
        # TargetItem has no setter: its drag handler reads the attribute
        self.theta_handle.movable = interactive and self._plane is None
        for marker in self.optima:
            marker.movable = interactive and self._family.movable_optima and self._plane is None

    def highlight_task(self, index: int | None) -> None:
        """Draw task ``index``'s path thicker and the others faded (None: all equal)."""
        self._highlight = index
        for i, item in enumerate(self.paths):
            colour = self.theme.task(i)
            faded = index is not None and i != index
            item.setPen(pen(colour, 4.0 if i == index else 2.0, 0.35 if faded else 1.0))
            if item.opts.get("symbol") is not None:
                item.setSymbolBrush(pg.mkBrush(colour) if not faded else pg.mkBrush(colour + "55"))

    def set_config(self, config: Config, *, restarted: bool = False) -> None:
        """A new config: rebuild per-task items if the tasks changed, and recompute."""
        old = self._config
        self._config = config
        self._family = make_family(config.task)
        tasks_changed = restarted or old.task != config.task or old.seed != config.seed
        if tasks_changed:
            self._tasks = landscape_tasks(config)
            self._rebuild_task_items()
        self._refresh_surface_choices()
        if restarted:
            self._plane = None
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
        self._maybe_refit_plane(snapshot)
        drawn = (snapshot.run_id, record.step, snapshot.frame_index, id(self._plane),
                 snapshot.history.total_steps)
        if drawn == self._drawn:
            return  # e.g. a paused run republishing the same state
        self._drawn = drawn
        state = visible(record, snapshot.frame)
        theta = record.theta_next if state.updated else record.theta
        trail_uv = self._trail_uv(snapshot)
        if not state.updated:
            trail_uv = trail_uv[:-1]
        self.trail.setData(trail_uv[:, 0], trail_uv[:, 1]) if len(trail_uv) else self.trail.setData([], [])
        theta_uv = self._to_plane(theta[None])[0]
        self.theta_handle.blockSignals(True)
        self.theta_handle.setPos(*_finite_or(theta_uv, (0.0, 0.0)))
        self.theta_handle.blockSignals(False)
        paths = record.paths
        base_uv = self._to_plane(record.theta[None])[0]
        # one projection for every task's path: per-task calls cost more than the drawing
        paths_uv = self._to_plane(paths.reshape(-1, paths.shape[-1])).reshape(*paths.shape[:2], 2)
        for i, item in enumerate(self.paths):
            if i >= record.n_tasks:
                item.setData([], [])
                continue
            uv = paths_uv[i, : int(state.path_points[i])]
            item.setData(uv[:, 0], uv[:, 1])
        self._draw_arrows(record, state, base_uv)
        anchor = record.theta_next if state.updated else record.theta
        weights = record.diagnostics.get("task_weights_next" if state.updated else "task_weights")
        self._set_dependencies(anchor, weights)
        self.status.setText("diverged" if record.diverged else "")

    def fit_view(self) -> None:
        """Zoom to where the tasks are (2 parameters) or to θ's projected path (planes)."""
        if self._plane is None:
            xmin, xmax, ymin, ymax = self._family.default_view(self._tasks)
        else:
            points = [self._to_plane(np.atleast_2d(self._theta0))]
            if self._snapshot is not None and len(self._snapshot.history.thetas):
                points.append(self._trail_uv(self._snapshot))
                if self._snapshot.record is not None:
                    p = self._snapshot.record.paths
                    points.append(self._to_plane(p.reshape(-1, p.shape[-1])))
            uv = np.concatenate(points)
            uv = uv[np.all(np.isfinite(uv), axis=1)]
            low, high = uv.min(axis=0), uv.max(axis=0)
            span = np.maximum(high - low, 1.0)
            xmin, ymin = low - 0.35 * span
            xmax, ymax = high + 0.35 * span
        self.view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
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
            dim = self._family.param_dim
            self.plane_box.setVisible(dim > 2)
            self.plane_label.setVisible(dim > 2)
        margin = 0 if on else 4
        self.layout().setContentsMargins(margin, margin, margin, margin)

    def shutdown(self) -> None:
        """Stop the debounce timer and the landscape thread (bounded wait)."""
        self._debounce.stop()
        self.worker.stop()
        self.worker.wait(1000)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- items per task ---------------------------------------------------------------
    def _rebuild_task_items(self) -> None:
        for item in [*self.paths, *self.optima]:
            self.plot.removeItem(item)
        for arrows in self.task_arrows:
            self.plot.removeItem(arrows.curve)
        self.legend.clear()
        n = self._family.tasks_per_step() if self._family.pool_size() is None else self._tasks.n
        self.paths, self.optima, self.task_arrows = [], [], []
        self._drawn = None
        # with many tasks, points on every path cost more to draw than they tell: lines only
        for i in range(n):
            colour = self.theme.task(i)
            symbols = {"symbol": "o", "symbolSize": 6, "symbolBrush": colour,
                       "symbolPen": pen(self.theme.outline, 1.0)}
            if n > MAX_SYMBOL_TASKS:
                # plain curves without outlines: a quarter of the cost for 25 paths 30 times a second
                item = pg.PlotCurveItem(pen=pen(colour, 1.5), connect="finite", clickable=True)
            else:
                item = pg.PlotDataItem(pen=pen(colour, 2.0), connect="finite", **symbols,
                                       shadowPen=pen(self.theme.outline, 4.0, 0.5))
                item.setCurveClickable(True, width=8)
            item.setZValue(10)
            item.sigClicked.connect(self._on_path_clicked)
            item.task_index = i
            self.plot.addItem(item)
            self.paths.append(item)
            if n <= MAX_SYMBOL_TASKS:
                self.task_arrows.append(ArrowSet(self.plot, colour, width=2.0, z=25))
            if i < MAX_LEGEND_TASKS:
                self.legend.addItem(item, f"task {i}")
        if n > MAX_SYMBOL_TASKS:  # many tasks: their arrows in one neutral colour, one item
            self.task_arrows.append(ArrowSet(self.plot, "#BBBBBB" if not self.theme.print_theme
                                             else "#555555", width=1.5, z=25))
        if n > MAX_LEGEND_TASKS:
            self.legend.addItem(pg.PlotDataItem(pen=pen("#888888")), f"… {n} tasks")
        self.legend.addItem(self.trail, "θ trail")
        self.legend.addItem(self.aggregate_arrow.curve, "meta-gradient")
        optima = self._family.optima(self._tasks)
        if optima is not None:
            for i, point in enumerate(optima.detach().cpu().numpy().astype(np.float64, copy=True)):
                marker = pg.TargetItem(pos=(0, 0), size=13, symbol="star", movable=False,
                                       pen=pen(self.theme.outline, 1.5), brush=self.theme.task(i))
                marker.setZValue(35)
                marker.task_index = i
                marker.optimum = point
                marker.setToolTip(f"task {i}'s optimum (drag while paused to move the task)")
                marker.sigPositionChangeFinished.connect(self._on_optimum_dropped)
                self.plot.addItem(marker)
                self.optima.append(marker)
        self.highlight_task(self._highlight if self._highlight is not None and
                            self._highlight < n else None)

    def _place_optima(self) -> None:
        for marker in self.optima:
            uv = self._to_plane(np.asarray(marker.optimum, dtype=np.float64)[None])[0]
            marker.blockSignals(True)
            marker.setPos(*uv)
            marker.blockSignals(False)

    def _show_theta0(self) -> None:
        theta_uv = self._to_plane(np.atleast_2d(self._theta0))[0]
        self.theta_handle.blockSignals(True)
        self.theta_handle.setPos(*_finite_or(theta_uv, (0.0, 0.0)))
        self.theta_handle.blockSignals(False)
        self.trail.setData([], [])
        for item in self.paths:
            item.setData([], [])
        for arrows in self.task_arrows:
            arrows.clear()
        self.aggregate_arrow.clear()
        self._place_optima()
        self._set_dependencies(self._theta0, None)
        self.status.setText("")

    def _draw_arrows(self, record, state, base_uv: np.ndarray) -> None:
        """Arrows −s·gᵢ from θ, one scale s for all: the longest arrow gets a fixed share of the
        view. Directions and relative sizes are what matter; the step itself is the trail."""
        aggregate_tip = self._to_plane((record.theta - record.meta_grad)[None])[0]
        task_tips = self._to_plane(record.theta - record.task_meta_grads)
        lengths = np.hypot(*(np.vstack([task_tips, aggregate_tip[None]]) - base_uv).T)
        longest = float(np.nanmax(lengths)) if np.any(np.isfinite(lengths)) else 0.0
        (x0, x1), (y0, y1) = self.view.viewRange()
        scale = ARROW_FRACTION * math.hypot(x1 - x0, y1 - y0) / longest if longest > 0 else 0.0
        if not math.isfinite(scale):
            scale = 0.0
        shown = np.flatnonzero(state.task_grads[: record.n_tasks]) if scale > 0 else []
        tips = base_uv + scale * (task_tips - base_uv)
        if len(self.task_arrows) == 1 and len(self.paths) > MAX_SYMBOL_TASKS:
            self.task_arrows[0].set_arrows(np.repeat(base_uv[None], len(shown), 0), tips[shown])
        else:
            for i, arrows in enumerate(self.task_arrows):
                if i in shown:
                    arrows.set_arrows(base_uv[None], tips[i][None])
                else:
                    arrows.clear()
        if state.aggregate and scale > 0:
            self.aggregate_arrow.set_arrows(base_uv[None],
                                            (base_uv + scale * (aggregate_tip - base_uv))[None])
        else:
            self.aggregate_arrow.clear()
        self._arrow_scale = scale

    # --- planes ---------------------------------------------------------------------
    @staticmethod
    def _path_points(snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray]:
        """θ's trail with the latest inner-loop points (what PCA fits), and the current θ."""
        record = snapshot.record
        thetas = snapshot.history.thetas
        # an evenly spaced subset first: the MLP's whole trail is ~30 MB to copy
        keep = np.unique(np.linspace(0, len(thetas) - 1, min(len(thetas), PCA_POINTS)).astype(int))
        points = np.concatenate([thetas[keep], record.paths.reshape(-1, record.paths.shape[-1])])
        return points[np.all(np.isfinite(points), axis=1)], thetas[-1]

    def _ensure_plane(self, points: np.ndarray, centre: np.ndarray | None = None) -> None:
        """Choose the plane for >2 parameters, through ``centre`` (default: the last point)."""
        dim = self._family.param_dim
        self.plane_box.setVisible(dim > 2 and not self._figure_mode)
        self.plane_label.setVisible(dim > 2 and not self._figure_mode)
        if dim == 2:
            self._plane = None
            return
        centre = points[-1] if centre is None else centre
        method = self.plane_box.currentText()
        if method == "axes":
            self._plane = axes_plane(centre)
        elif method == "pca" and len(points) >= 3 and np.ptp(points, axis=0).max() > 0:
            self._plane = pca_plane(points, centre, max_points=PCA_POINTS)
        else:  # PCA needs a path: until there is one, a seeded random plane
            self._plane = random_plane(self._family, centre, seed=self._config.seed)

    def _maybe_refit_plane(self, snapshot: Snapshot) -> None:
        """Refit the PCA plane as the trajectory grows (by half since the last fit), at most
        every few seconds while running at full speed: each refit means a new surface."""
        if self._family.param_dim == 2 or self.plane_box.currentText() != "pca":
            return
        steps = snapshot.history.total_steps
        due = (self._plane is None or self._plane.method != "pca"
               or steps >= max(1.5 * self._plane_steps, self._plane_steps + 10))
        if not due or steps < 3:
            return
        now = time.perf_counter()
        if snapshot.playing and snapshot.full_speed and now - self._plane_time < REFIT_SECONDS:
            return
        self._plane_time = now
        self._ensure_plane(*self._path_points(snapshot))
        self._plane_steps = steps
        self._place_optima()
        self.fit_view()

    def _trail_uv(self, snapshot: Snapshot) -> np.ndarray:
        """θ's trail in plane coordinates, projecting only the rows added since last time."""
        thetas = snapshot.history.thetas
        if self._plane is None:
            return thetas[:, :2]
        key = (snapshot.run_id, id(snapshot.history), snapshot.history.decimations, id(self._plane))
        cached_key, cached = self._trail_cache
        # the last row is θ after the newest step: it is rewritten by the next step, so redo it
        start = max(len(cached) - 1, 0) if cached_key == key and len(cached) <= len(thetas) else 0
        uv = np.concatenate([cached[:start], self._to_plane(thetas[start:])]) if start else \
            self._to_plane(thetas)
        self._trail_cache = (key, uv)
        return uv

    def _to_plane(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if self._plane is None:
            return points[:, :2]
        if len(points) == 0:
            return np.zeros((0, 2))
        uv = self._plane.coordinates(np.nan_to_num(points, nan=0.0, posinf=0.0, neginf=0.0))
        uv[~np.all(np.isfinite(points), axis=1)] = np.nan
        return uv

    @Slot(str)
    def _on_plane_method_changed(self, _method: str) -> None:
        if self._snapshot is not None and self._snapshot.record is not None:
            self._ensure_plane(*self._path_points(self._snapshot))
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

    def _display_values(self, z: np.ndarray) -> tuple[np.ndarray, str]:
        """Values to colour by, and the colour bar's label."""
        if not self.log_box.isChecked():
            return z, "loss"
        finite = z[np.isfinite(z)]
        low = float(finite.min()) if finite.size else 0.0
        if low > 0:
            return np.log10(z), "log₁₀ loss"
        span = float(finite.max() - low) if finite.size else 1.0
        shift = 1e-3 * span if span > 0 else 1e-12
        return np.log10(z - low + shift), "log₁₀(loss − min + δ)"

    def _render_surface(self) -> None:
        surface = self._shown.surface
        if surface is None:
            return
        values, bar_label = self._display_values(surface.z)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            self.image.clear()
            self.contours.setData([], [])
            return
        levels_key = (surface.name, self._config.task, self._config.algorithm,
                      self._config.hot_values(), self.log_box.isChecked(), id(self._plane),
                      round(surface.x[0], 9), round(surface.x[-1], 9),
                      round(surface.y[0], 9), round(surface.y[-1], 9))
        if levels_key != self._shown.levels_key or self._shown.levels is None:
            # Losses far from the tasks can be orders of magnitude larger than near them:
            # saturate the top 3% rather than let them flatten everything else into one colour.
            low, high = np.percentile(finite, [0.5, 97.0])
            if not high > low:
                high = low + 1e-12
            self._shown.levels = (float(low), float(high))
            self._shown.levels_key = levels_key
        low, high = self._shown.levels
        display = np.where(np.isfinite(values), values, high)
        dx = (surface.x[-1] - surface.x[0]) / (len(surface.x) - 1)
        dy = (surface.y[-1] - surface.y[0]) / (len(surface.y) - 1)
        self.image.setImage(display, autoLevels=False, levels=(low, high))
        self.image.setRect(QRectF(surface.x[0] - dx / 2, surface.y[0] - dy / 2,
                                  surface.x[-1] - surface.x[0] + dx,
                                  surface.y[-1] - surface.y[0] + dy))
        self.colour_bar.setLevels((low, high))
        self.colour_bar.axis.setLabel(bar_label, color=self.theme.foreground)
        levels = contour_levels(np.clip(values, low, high), 12)
        segments, _ = contour_segments(surface.x, surface.y, values, levels)
        self.contours.setData(segments[:, 0], segments[:, 1]) if len(segments) else self.contours.setData([], [])
        title = surface.label
        if self._plane is not None:
            title += f"<br>{self._plane.title}"
        self.plot.setTitle(title, color=self.theme.foreground, size="9pt")
        names = self._family.axis_names or ("u (plane direction 1)", "v (plane direction 2)")
        self.plot.setLabel("bottom", names[0], color=self.theme.foreground)
        self.plot.setLabel("left", names[1], color=self.theme.foreground)
        self.status.setText(f"{len(surface.x)}² grid")

    # --- interaction ----------------------------------------------------------------
    @Slot(int)
    def _on_surface_chosen(self, _index: int) -> None:
        self._schedule()

    @Slot(bool)
    def _on_log_toggled(self, _on: bool) -> None:
        self._render_surface()

    def _on_range_changed(self, *_args) -> None:
        for arrows in [*self.task_arrows, self.aggregate_arrow]:
            arrows.redraw()
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
        self.task_selected.emit(None if index == self._highlight else index)

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


def _finite_or(point: np.ndarray, fallback: tuple[float, float]) -> tuple[float, float]:
    return (float(point[0]), float(point[1])) if np.all(np.isfinite(point)) else fallback
