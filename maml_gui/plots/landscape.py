"""The landscape as one reusable pyqtgraph item: heatmap, contours, colour bar, θ's trail, the
tasks' inner paths, meta-gradient arrows, task optima, θ, and a legend that names them all.

A :class:`LandscapePlot` draws a view state (:class:`~maml_gui.view.LandscapeState`), a
training snapshot and a surface grid; it owns no worker and no controls. The window's
:class:`~maml_gui.widgets.landscape_canvas.LandscapeCanvas` is a thin shell around one (as
pyqtgraph's ``PlotWidget`` is around a ``PlotItem``), and every landscape export builds its
own (:mod:`maml_gui.export.figure`), so a figure never depends on the live window.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

from maml_gui.core.animation import visible
from maml_gui.core.contours import contour_levels, contour_segments
from maml_gui.core.landscape import Surface
from maml_gui.palette import LANDSCAPE_COLORMAP, Theme
from maml_gui.plots.cluster_arrows import LEGEND_TEXT as CLUSTER_LEGEND
from maml_gui.plots.cluster_arrows import ClusterArrows
from maml_gui.plots.items import (
    LEGEND_MARGIN, LEGEND_OFFSET, ArrowSet, SafeLegend, pen, place_legend, plain_tick_labels,
    set_antialias,
)
from maml_gui.plots.task_paths import TaskPaths
from maml_gui.view import LandscapeState
from maml_gui.view.projection import Projection, colour_levels, display_values

ARROW_FRACTION = 0.18  # the longest arrow's greatest length, as a share of the view's diagonal
MAX_LEGEND_TASKS = 4  # more tasks get one legend line: a tall legend hides the paths
MAX_SYMBOL_TASKS = 8
OPTIMUM_SIZE = 20  # ★ in pixels: big enough to see and to match to its task's colour
THETA_SIZE = 16


def surface_title(name: str) -> str:
    kind, _, index = name.partition(":")
    return {"meta": "meta-objective (after adaptation)", "mean": "mean task loss",
            "task": f"task {index} loss", "imaml": f"task {index}: iMAML regularised"}[kind]


class LandscapePlot:
    """Every item of the landscape on one ``pg.PlotItem`` (made here unless given).

    Parameters
    ----------
    theme : screen or publication colours.
    plot : the plot item to draw on (a ``PlotWidget``'s, or None for a new one).
    """

    def __init__(self, theme: Theme, plot: pg.PlotItem | None = None):
        self.theme = theme
        self.plot = plot if plot is not None else pg.PlotItem()
        self.plot.showGrid(x=False, y=False)
        self.plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
            # "(x0.001)" beside an axis reads as a unit; plain tick labels say the values
            plain_tick_labels(self.plot.getAxis(axis))
        self.view = self.plot.getViewBox()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(LANDSCAPE_COLORMAP))
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get(LANDSCAPE_COLORMAP),
                                          interactive=False, width=14)
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        plain_tick_labels(self.colour_bar.axis)
        # pyqtgraph fixes this axis at 45 pixels: "loss" then overlaps ticks such as 0.0800.
        # Sized from its text instead, the label always sits beside the tick labels.
        self.colour_bar.axis.setWidth(None)
        self.colour_bar.axis.setPen(theme.foreground)
        self.colour_bar.axis.setTextPen(theme.foreground)
        self.contours = pg.PlotCurveItem(connect="pairs", pen=pen(theme.contour, 1.0, 0.45))
        self.contours.setZValue(-5)
        self.plot.addItem(self.contours)
        self.trail = pg.PlotDataItem(pen=pen(theme.trail, 2.0), shadowPen=pen(theme.outline, 4.0, 0.5),
                                     connect="finite")
        self.trail.setZValue(5)
        self.plot.addItem(self.trail)
        # per task (up to MAX_SYMBOL_TASKS), or one TaskPaths item for them all
        self.paths: list[pg.PlotDataItem | TaskPaths] = []
        self.optima: list[pg.TargetItem] = []
        self.task_arrows: list[ArrowSet] = []
        self.aggregate_arrow = ArrowSet(self.plot, theme.aggregate, width=3.5, z=30)
        self.cluster_arrows = ClusterArrows(self.plot, theme)  # TreeMAML's pooled steps
        self.theta_handle = pg.TargetItem(pos=(0, 0), size=THETA_SIZE, movable=True, symbol="o",
                                          pen=pen(theme.outline, 2.0), brush=theme.theta,
                                          label="θ", labelOpts={"color": theme.foreground,
                                                                "offset": (8, -14),
                                                                # readable on dark heatmap colours
                                                                **({"fill": pg.mkBrush(255, 255, 255, 210)}
                                                                   if theme.print_theme else {})})
        self.theta_handle.setZValue(40)
        self.plot.addItem(self.theta_handle)
        self.legend = SafeLegend(offset=(LEGEND_OFFSET, LEGEND_OFFSET),
                                 labelTextColor=theme.foreground,
                                 brush=pg.mkBrush(0, 0, 0, 110) if not theme.print_theme
                                 else pg.mkBrush(255, 255, 255, 200))
        self.legend.setParentItem(self.view)
        self.arrow_scale = 0.0
        # keep a round arrow scale while it fits (the live canvas: no flicker from frame to
        # frame); a figure starts from the window's scale or rounds afresh
        self.hold_arrow_scale = False
        self.highlighted: int | None = None
        self.state = LandscapeState()
        self.n_tasks = 0
        self.smooth = True
        self._legend_labels: dict[str, object] = {}
        self._legend_samples: list[pg.PlotDataItem] = []

    @property
    def _many_paths(self) -> TaskPaths | None:
        """The one item drawing every task's path, when there are too many for an item each."""
        return self.paths[0] if self.paths and isinstance(self.paths[0], TaskPaths) else None

    # --- tasks ------------------------------------------------------------------------
    def set_tasks(self, n: int, optima: np.ndarray | None, *, on_path_clicked=None,
                  on_optimum_dropped=None) -> None:
        """Rebuild the per-task items for ``n`` tasks, their optima (``(n, D)`` or None) and
        the legend."""
        for item in [*self.paths, *self.optima]:
            self.plot.removeItem(item)
        for arrows in self.task_arrows:
            self.plot.removeItem(arrows.curve)
        self.legend.clear()
        self._legend_samples = []
        self.paths, self.optima, self.task_arrows = [], [], []
        self.n_tasks = n
        self.cluster_arrows.set_tasks(n)
        self._legend_labels.pop("clusters", None)
        if n > MAX_SYMBOL_TASKS:
            # with many tasks, points on every path cost more to draw than they tell: lines
            # only, every task's in one item (one update and one paint per frame, not n)
            item = TaskPaths([pen(self.theme.task(i), 1.5) for i in range(n)])
            item.setZValue(10)
            if on_path_clicked is not None:
                item.sigClicked.connect(on_path_clicked)
            self.plot.addItem(item)
            self.paths.append(item)
        for i in range(n if n <= MAX_SYMBOL_TASKS else 0):
            colour = self.theme.task(i)
            symbols = {"symbol": "o", "symbolSize": 6, "symbolBrush": colour,
                       "symbolPen": pen(self.theme.outline, 1.0)}
            item = pg.PlotDataItem(pen=pen(colour, 2.0), connect="finite", **symbols,
                                   shadowPen=pen(self.theme.outline, 4.0, 0.5))
            item.setCurveClickable(True, width=8)
            item.setZValue(10)
            if on_path_clicked is not None:
                item.sigClicked.connect(on_path_clicked)
            item.task_index = i
            self.plot.addItem(item)
            self.paths.append(item)
            self.task_arrows.append(ArrowSet(self.plot, colour, width=2.0, z=25))
            if n <= MAX_LEGEND_TASKS:
                self.legend.addItem(item, f"task {i}")
        if n > MAX_SYMBOL_TASKS:  # many tasks: their arrows in one neutral colour, one item
            self.task_arrows.append(ArrowSet(self.plot, "#BBBBBB" if not self.theme.print_theme
                                             else "#555555", width=1.5, z=25))
        if n > MAX_LEGEND_TASKS:
            self._legend_sample(pen(self.theme.task(0), 2.0), None,
                                f"{n} tasks' inner steps (a colour each)")
        self.legend.addItem(self.trail, "θ trail")
        self._legend_sample(None, "o", "θ (drag: θ₀)", brush=self.theme.theta,
                            symbol_pen=pen(self.theme.outline, 1.5))
        for i, point in enumerate([] if optima is None else np.asarray(optima)):
            colour = self.theme.task(i)
            marker = pg.TargetItem(pos=(0, 0), size=OPTIMUM_SIZE, symbol="star", movable=False,
                                   pen=pg.mkPen(QColor(colour).darker(170), width=1.8),
                                   brush=colour)
            marker.setZValue(35)
            marker.task_index = i
            # a copy: the task tensors may later move to shared memory (a worker process)
            marker.optimum = np.array(point, dtype=np.float64, copy=True)
            marker.setToolTip(f"task {i}'s optimum (drag while paused to move the task)")
            if on_optimum_dropped is not None:
                marker.sigPositionChangeFinished.connect(on_optimum_dropped)
            self.plot.addItem(marker)
            self.optima.append(marker)
        if self.optima:
            self._legend_sample(None, "star", "task optimum",
                                brush=self.theme.task(0), size=12,
                                symbol_pen=pg.mkPen(QColor(self.theme.task(0)).darker(170)))
        self._legend_labels["arrows"] = self._legend_sample(
            pen(self.theme.aggregate, 3.0), None, "−meta-gradient")
        self.highlight_task(self.highlighted if self.highlighted is not None
                            and self.highlighted < n else None)
        self._apply_antialias()
        self.apply_state(self.state)

    def _legend_sample(self, line_pen, symbol, label, *, brush=None, size=10, symbol_pen=None):
        """A legend entry drawn by a sample item that is not on the plot."""
        sample = pg.PlotDataItem(pen=line_pen, symbol=symbol, symbolBrush=brush,
                                 symbolSize=size, symbolPen=symbol_pen)
        _sync_sample_symbol(sample)
        self._legend_samples.append(sample)
        self.legend.addItem(sample, label)
        return self.legend.items[-1][1]

    def highlight_task(self, index: int | None) -> None:
        """Draw task ``index``'s path thicker and the others faded (None: all equal)."""
        self.highlighted = index
        if self._many_paths is not None:
            self._many_paths.set_pens([
                pen(self.theme.task(i), 4.0 if i == index else 2.0,
                    0.35 if index is not None and i != index else 1.0)
                for i in range(self._many_paths.n_tasks)])
            return
        for i, item in enumerate(self.paths):
            colour = self.theme.task(i)
            faded = index is not None and i != index
            item.setPen(pen(colour, 4.0 if i == index else 2.0, 0.35 if faded else 1.0))
            if item.opts.get("symbol") is not None:
                item.setSymbolBrush(pg.mkBrush(colour) if not faded else pg.mkBrush(colour + "55"))
                _sync_sample_symbol(item)

    def apply_state(self, state: LandscapeState) -> None:
        """Show or hide the item groups as ``state`` says (trail, paths, arrows, optima,
        legend) and highlight its selected task."""
        self.state = state
        self.trail.setVisible(state.trail)
        for item in self.paths:
            item.setVisible(state.paths)
        for arrows in [*self.task_arrows, self.aggregate_arrow]:
            arrows.curve.setVisible(state.arrows)
        self.cluster_arrows.set_visible(state.paths)  # steps of the inner paths
        for marker in self.optima:
            marker.setVisible(state.optima)
        self.legend.setVisible(state.legend)
        if state.selected_task != self.highlighted and (
                state.selected_task is None or state.selected_task < self.n_tasks):
            self.highlight_task(state.selected_task)

    def cache_still_items(self) -> None:
        """Keep the items that stay still while θ moves (the heatmap, its contours, the axes
        and the colour bar's axis) as pixmaps of the screen, redrawn only when they change:
        each frame then copies them instead of scaling the heatmap and replaying the tick
        labels (~2 ms a frame). For the window only: exports draw vectors (Qt draws cached
        items directly when rendering to an image, SVG or PDF)."""
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        for item in (self.image, self.contours, self.plot.getAxis("left"),
                     self.plot.getAxis("bottom"), self.colour_bar.axis):
            item.setCacheMode(mode)

    def set_smooth(self, on: bool) -> bool:
        """Draw the lines antialiased and θ's trail through every step (on), or not: while a
        run plays at full speed smooth strokes cost most of a frame on one core (25 task
        arrows 5 ms, the trail 3 ms), so the canvas turns this off then (lines drawn plain,
        the trail through one point per pixel) and back on when the run pauses or animates.
        Exports are smooth whatever this says (pyqtgraph's export options antialias).
        Returns whether it changed (the trail then needs drawing again)."""
        if on == self.smooth:
            return False
        self.smooth = on
        self._apply_antialias()
        return True

    def _apply_antialias(self) -> None:
        on = self.smooth
        self.cluster_arrows.antialias = on
        arrows = [*self.task_arrows, self.aggregate_arrow, *self.cluster_arrows.arrow_sets()]
        many = self._many_paths
        if many is not None:
            many.antialias = on
            many.update()
        set_antialias([self.contours, self.trail, *(a.curve for a in arrows),
                       *(item for item in self.paths if item is not many)], on)

    # --- drawing ----------------------------------------------------------------------
    def place_optima(self, projection: Projection) -> None:
        for marker in self.optima:
            uv = projection.to_plane(marker.optimum[None])[0]
            marker.blockSignals(True)
            marker.setPos(*uv)
            marker.blockSignals(False)

    def set_theta(self, uv: np.ndarray) -> None:
        self.theta_handle.blockSignals(True)
        self.theta_handle.setPos(*_finite_or(uv, (0.0, 0.0)))
        self.theta_handle.blockSignals(False)

    def show_theta0(self, theta0: np.ndarray, projection: Projection) -> None:
        """θ₀ before training: no trail, paths or arrows."""
        self.set_theta(projection.to_plane(np.atleast_2d(theta0))[0])
        self.trail.setData([], [])
        for item in self.paths:
            item.clear() if item is self._many_paths else item.setData([], [])
        for arrows in self.task_arrows:
            arrows.clear()
        self.aggregate_arrow.clear()
        self.cluster_arrows.clear()
        self.place_optima(projection)

    def show_snapshot(self, snapshot, projection: Projection) -> None:
        """Draw the run at ``snapshot``'s frame (a record is required)."""
        record = snapshot.record
        state = visible(record, snapshot.frame)
        theta = record.theta_next if state.updated else record.theta
        trail_uv = projection.trail(snapshot)
        if not state.updated:
            trail_uv = trail_uv[:-1]
        if not self.smooth:
            trail_uv = trail_uv[pixel_steps(trail_uv, self.view.viewPixelSize())]
        self.trail.setData(trail_uv[:, 0], trail_uv[:, 1]) if len(trail_uv) else self.trail.setData([], [])
        self.set_theta(projection.to_plane(theta[None])[0])
        paths = record.paths
        base_uv = projection.to_plane(record.theta[None])[0]
        # one projection for every task's path: per-task calls cost more than the drawing
        paths_uv = projection.to_plane(paths.reshape(-1, paths.shape[-1])).reshape(*paths.shape[:2], 2)
        if self._many_paths is not None:
            self._many_paths.set_paths(paths_uv[: record.n_tasks],
                                       state.path_points[: record.n_tasks])
        for i, item in enumerate(self.paths if self._many_paths is None else ()):
            if i >= record.n_tasks:
                item.setData([], [])
                continue
            uv = paths_uv[i, : int(state.path_points[i])]
            item.setData(uv[:, 0], uv[:, 1])
        if self.cluster_arrows.show(record, state.path_points, projection) and \
                "clusters" not in self._legend_labels:
            self._legend_labels["clusters"] = self._legend_sample(
                pen(self.theme.task(0), 3.0), None, CLUSTER_LEGEND)
        self._draw_arrows(record, state, base_uv, projection)

    def _draw_arrows(self, record, state, base_uv: np.ndarray, projection: Projection) -> None:
        """Arrows −s·gᵢ from θ, one scale s for all: the longest arrow gets a fixed share of the
        view. Directions and relative sizes are what matter; the step itself is the trail."""
        aggregate_tip = projection.to_plane((record.theta - record.meta_grad)[None])[0]
        task_tips = projection.to_plane(record.theta - record.task_meta_grads)
        lengths = np.hypot(*(np.vstack([task_tips, aggregate_tip[None]]) - base_uv).T)
        longest = float(np.nanmax(lengths)) if np.any(np.isfinite(lengths)) else 0.0
        (x0, x1), (y0, y1) = self.view.viewRange()
        exact = ARROW_FRACTION * math.hypot(x1 - x0, y1 - y0) / longest if longest > 0 else 0.0
        # the round scale stays while it fits (no flicker where the exact one hovers at a
        # step of the series): the longest arrow between 2/3 and all of its share
        keep = self.hold_arrow_scale and self.arrow_scale > 0 and \
            self.arrow_scale <= exact <= 1.5 * self.arrow_scale
        scale = self.arrow_scale if keep else round_scale(exact) if math.isfinite(exact) else 0.0
        shown = np.flatnonzero(state.task_grads[: record.n_tasks]) if scale > 0 else []
        tips = base_uv + scale * (task_tips - base_uv)
        if self._many_paths is not None:
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
        label = self._legend_labels.get("arrows")
        text = f"−meta-gradient ×{scale:.3g}"
        if scale > 0 and label is not None and label.text != text:
            # the legend says how long an arrow is: lengths in the plot are gradients × s
            # (compared as text: a rebuilt legend has the entry without its scale)
            label.setText(text)
        self.arrow_scale = scale
        if state.aggregate and scale > 0:
            self._place_theta_label(aggregate_tip - base_uv)

    def _place_theta_label(self, away: np.ndarray) -> None:
        """Put the θ label on the side away from the mean meta-gradient arrow, which it would
        otherwise hide (the arrow starts at θ)."""
        if not np.all(np.isfinite(away)):
            return
        label = self.theta_handle.label()
        if label is None:
            return
        x = -10.0 if away[0] > 0 else 10.0
        y = -12.0 if away[1] > 0 else 12.0  # the offset's y is in view units: up is positive
        if (label.offset.x(), label.offset.y()) != (x, y):
            label.offset = pg.Point(x, y)
            label.setAnchor((1.0 if x < 0 else 0.0, 0.5))
            label.viewTransformChanged()

    def redraw_arrows(self) -> None:
        """Recompute arrow heads for the current zoom and size."""
        for arrows in [*self.task_arrows, self.aggregate_arrow]:
            arrows.redraw()
        self.cluster_arrows.redraw()

    def show_surface(self, surface: Surface, log_scale: bool, levels: tuple[float, float] | None,
                     *, plane_title: str = "", axis_names: tuple[str, str] | None = None
                     ) -> tuple[float, float] | None:
        """Draw ``surface`` (heatmap, contours, colour bar, title, axis labels) with colour
        ``levels`` (None: from this surface). Returns the levels used (None: nothing finite)."""
        values, bar_label = display_values(surface.z, log_scale)
        if levels is None:
            levels = colour_levels(values)
        if levels is None:
            self.image.clear()
            self.contours.setData([], [])
            return None
        low, high = levels
        display = np.where(np.isfinite(values), values, high)
        dx = (surface.x[-1] - surface.x[0]) / (len(surface.x) - 1)
        dy = (surface.y[-1] - surface.y[0]) / (len(surface.y) - 1)
        self.image.setImage(display, autoLevels=False, levels=(low, high))
        self.image.setRect(QRectF(surface.x[0] - dx / 2, surface.y[0] - dy / 2,
                                  surface.x[-1] - surface.x[0] + dx,
                                  surface.y[-1] - surface.y[0] + dy))
        if tuple(self.colour_bar.levels()) != (low, high):  # set again, its axis is redrawn
            self.colour_bar.setLevels((low, high))
        contour = contour_levels(np.clip(values, low, high), 12)
        segments, _ = contour_segments(surface.x, surface.y, values, contour)
        self.contours.setData(segments[:, 0], segments[:, 1]) if len(segments) else self.contours.setData([], [])
        names = axis_names or ("u (plane direction 1)", "v (plane direction 2)")
        colour = self.theme.foreground
        bar_axis = self.colour_bar.axis
        _set_text(bar_axis.labelText, bar_label,
                  lambda text: bar_axis.setLabel(text, color=colour))
        _set_text(self.plot.titleLabel.text,
                  surface.label + (f"<br>{plane_title}" if plane_title else ""),
                  lambda text: self.plot.setTitle(text, color=colour, size="9pt"))
        for side, name in zip(("bottom", "left"), names):
            axis = self.plot.getAxis(side)
            _set_text(axis.labelText, name,
                      lambda text, side=side: self.plot.setLabel(side, text, color=colour))
        return levels

    # --- the legend -------------------------------------------------------------------
    def drawn_points(self) -> np.ndarray:
        """Every drawn point in plot coordinates: θ's trail, the inner paths, the optima, θ."""
        points = []
        for item in [self.trail, *self.paths]:
            x, y = item.getData()
            if x is not None and len(x):
                points.append(np.column_stack([x, y]))
        for marker in [*self.optima, self.theta_handle]:
            points.append(np.array([[marker.pos().x(), marker.pos().y()]]))
        uv = np.concatenate(points) if points else np.zeros((0, 2))
        return uv[np.all(np.isfinite(uv), axis=1)]

    def legend_covers(self, points: np.ndarray) -> int:
        """How many of ``points`` the legend (with a margin) hides where it is now."""
        rect = self.legend.mapRectToItem(self.view, self.legend.boundingRect())
        if rect.isEmpty() or not len(points):
            return 0
        rect = rect.adjusted(-LEGEND_MARGIN, -LEGEND_MARGIN, LEGEND_MARGIN, LEGEND_MARGIN)
        top_left = self.view.mapToView(rect.topLeft())
        bottom_right = self.view.mapToView(rect.bottomRight())
        x0, x1 = sorted((top_left.x(), bottom_right.x()))
        y0, y1 = sorted((top_left.y(), bottom_right.y()))
        inside = ((points[:, 0] >= x0) & (points[:, 0] <= x1)
                  & (points[:, 1] >= y0) & (points[:, 1] <= y1))
        return int(np.count_nonzero(inside))

    def markers(self) -> np.ndarray:
        """θ and the task optima: what the legend must never hide."""
        return np.array([[m.pos().x(), m.pos().y()] for m in [self.theta_handle, *self.optima]])

    def place_legend(self) -> None:
        """Move the legend to the plot corner that hides the fewest drawn points (θ's trail,
        the inner paths, the optima, θ; θ and each optimum count as many as all the rest)."""
        place_legend(self.legend, self.view, self.drawn_points(), self.markers())


def _set_text(shown: str, text: str, setter) -> None:
    """``setter(text)`` unless ``shown`` (what the title or label shows now, whoever set it:
    an exported figure writes its own title) is already ``text``: set again, even unchanged,
    a title or label re-lays the plot out and redraws its axes from scratch (about 10 ms of
    the repaint after each new surface at full speed)."""
    if shown != text:
        setter(text)


def pixel_steps(points: np.ndarray, pixel_size: tuple[float, float]) -> np.ndarray:
    """Which rows of a polyline ``points`` ``(N, 2)`` start a new screen pixel (``pixel_size``:
    data units per pixel along x and y): the first and last rows, every non-finite row (it
    breaks the line) and the rows either side of it, and each row whose pixel differs from
    the row before. Drawn through these rows only, the line is at most a pixel off, and a
    slow run's trail of thousands of tiny steps costs what its length in pixels does."""
    keep = np.ones(len(points), dtype=bool)
    if len(points) > 2:
        with np.errstate(invalid="ignore"):
            cells = np.floor(points / np.maximum(np.asarray(pixel_size, float), 1e-300))
        broken = ~np.all(np.isfinite(points), axis=1)
        keep[1:-1] = np.any(cells[1:-1] != cells[:-2], axis=1) | broken[1:-1] | broken[2:] \
            | broken[:-2]
    return keep


def round_scale(scale: float) -> float:
    """``scale`` rounded down to 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten.

    The legend prints the arrows' scale: a round number reads better than ×0.5137, and it
    changes less often than the exact one, which changed the legend's text (and so its layout)
    on every frame. The longest arrow is then 75–100 % of its share (the series' steps are at
    most 4/3 apart)."""
    if not scale > 0:
        return 0.0
    decade = 10.0 ** math.floor(math.log10(scale))
    mantissa = scale / decade
    # the tolerance keeps an exact 2.0 at 2 rather than rounding it down to 1.5
    return decade * max(m for m in ROUND_MANTISSAS if m <= mantissa * (1 + 1e-12))


ROUND_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def _sync_sample_symbol(item: pg.PlotDataItem) -> None:
    """The legend draws a PlotDataItem's symbol from its scatter's options, which pyqtgraph
    fills only once there is data: set them now, so a legend before training (or a sample
    that is never plotted) shows the real colour, not pyqtgraph's default grey-blue."""
    opts = item.opts
    if opts.get("symbol") is None:
        return
    item.scatter.setSymbol(opts["symbol"], update=False)
    item.scatter.setSize(opts["symbolSize"], update=False)
    item.scatter.setPen(pg.mkPen(opts["symbolPen"]), update=False)
    item.scatter.setBrush(pg.mkBrush(opts["symbolBrush"]), update=False)


def _finite_or(point: np.ndarray, fallback: tuple[float, float]) -> tuple[float, float]:
    return (float(point[0]), float(point[1])) if np.all(np.isfinite(point)) else fallback


__all__ = ["ARROW_FRACTION", "LandscapePlot", "MAX_LEGEND_TASKS", "MAX_SYMBOL_TASKS",
           "pixel_steps", "round_scale", "surface_title"]
