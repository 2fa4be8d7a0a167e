"""The comparison's plots as one reusable pyqtgraph item: every variant's trail, current
meta-gradient arrow and θ over the shared mean loss (overlay, with contours and a colour
bar), or one panel per variant on its own meta-objective (small multiples, axes linked);
the meta-step in the titles.

A :class:`ComparisonPlot` draws a :class:`~maml_gui.runtime.comparison_controller.
ComparisonSnapshot`'s variants and histories and the surfaces it is given; it owns no worker
and no controls. The window's :class:`~maml_gui.widgets.comparison_view.ComparisonView` is a
thin shell around one (its landscape worker supplies the surfaces), and comparison exports
build their own and compute the surfaces in the calling thread
(:meth:`ComparisonPlot.compute_surfaces_now`). :func:`metrics_rows` gives the metrics table
both show.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF

from maml_gui.core.comparison import Variant, metrics_for
from maml_gui.core.contours import contour_levels, contour_segments
from maml_gui.core.landscape import LandscapeError, LandscapeEvaluator, landscape_tasks, pca_plane
from maml_gui.core.tasks import make_family
from maml_gui.core.training import initial_theta
from maml_gui.palette import LANDSCAPE_COLORMAP, Theme, algorithm_colour
from maml_gui.plots.items import ArrowSet, pen, place_legend, plain_tick_labels, set_antialias
from maml_gui.plots.table import TableData
from maml_gui.view.projection import TrailCache, evenly_spaced, plane_coordinates

ARROW_FRACTION = 0.15
LAYOUTS = ("overlay", "small multiples")
METRIC_COLUMNS = ("variant", "meta-loss after", "worst task", "cos to MAML", "ms / step",
                  "grad evals / step", "steps to target")
HINT = "Choose the variants above, then press “Start comparison”"


def variant_shade(variants: list[Variant], index: int) -> int:
    """How many variants before ``index`` share its algorithm (their colours' shade)."""
    return len([v for v in variants[:index]
                if v.config.algorithm == variants[index].config.algorithm])


def variant_colour(variants: list[Variant], index: int) -> str:
    return algorithm_colour(variants[index].config.algorithm, variant_shade(variants, index))


def overrides_text(variant: Variant) -> str:
    """A variant's settings as the editor's text (``inner_lr=0.05, inner_steps=3``)."""
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in variant.overrides.items())


def default_target(snapshot) -> float | None:
    """Half way (in |loss|) from the first variant's first post-adaptation loss: the first
    step's, not the latest, so a comparison drawn after the run (an export) gets the target
    of the window that watched it from the start."""
    first = snapshot.histories[0].loss_after if snapshot.histories else np.zeros(0)
    if not len(first) or not np.isfinite(first[0]):
        return None
    loss = float(first[0])
    return loss - 0.5 * abs(loss)


def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def metrics_rows(snapshot, target: float | None) -> tuple[list[str], list[list[str]], list[str]]:
    """The metrics table: headers (the target in the last: "—" below then reads "not reached
    yet"), one row of texts per variant, and each variant's colour."""
    if snapshot is None:
        return list(METRIC_COLUMNS), [], []
    rows, colours = [], []
    variants = list(snapshot.variants)
    for index, (variant, history) in enumerate(zip(variants, snapshot.histories)):
        row = metrics_for(variant.label, history, target)
        rows.append([row.label + ("  (diverged)" if row.diverged else ""), _fmt(row.meta_loss),
                     _fmt(row.worst_loss), _fmt(row.maml_cosine, 4),
                     _fmt(1000 * row.seconds_per_step, 3), _fmt(row.evaluations_per_step, 4),
                     "—" if row.steps_to_target is None else str(row.steps_to_target)])
        colours.append(variant_colour(variants, index))
    suffix = f" ≤ {target:.3g}" if target is not None else ""
    return [*METRIC_COLUMNS[:-1], METRIC_COLUMNS[-1] + suffix], rows, colours


def metrics_table(snapshot, target: float | None, theme: Theme) -> TableData:
    """:func:`metrics_rows` as a painted table's data (variant names in their colours)."""
    headers, rows, colours = metrics_rows(snapshot, target)
    return TableData(headers=headers, rows=rows,
                     colours=[[colour] + [None] * (len(row) - 1)
                              for row, colour in zip(rows, colours)],
                     swatches=colours)


class ComparisonPlot:
    """The overlay and the small multiples in one ``pg.GraphicsLayout`` (:attr:`root`);
    :meth:`set_layout` shows one of them."""

    def __init__(self, theme: Theme, *, layout: str = "overlay"):
        self.theme = theme
        self.root = pg.GraphicsLayout()
        self.overlay_plot = pg.PlotItem()
        self.multiples = pg.GraphicsLayout()
        # both children of the root, the shown one in its only cell: switching layouts
        # rebuilds nothing
        for item in (self.overlay_plot, self.multiples):
            item.setParentItem(self.root)
        self._placed: object | None = None
        self.variants: list[Variant] = []
        self.snapshot = None
        self.plane = None
        self._plane_steps = 0
        self.range = (0.0, 1.0, 0.0, 1.0)
        self.overlay_title = ""
        self.colour_bar: pg.ColorBarItem | None = None
        self.overlay_image = self.overlay_contours = None
        self.smooth = True
        self.trails: list = []
        self.trail_caches: list[TrailCache] = []
        self.arrows: list[ArrowSet] = []
        self.markers: list = []
        self.panels: list[pg.PlotItem] = []
        self.panel_images: list[pg.ImageItem] = []
        self.panel_trails: list = []
        self.panel_arrows: list[ArrowSet] = []
        # before the first start: say what to do rather than show an empty 0–1 plot
        self.overlay_plot.hideAxis("left")
        self.overlay_plot.hideAxis("bottom")
        self.hint = pg.TextItem(HINT, color=theme.foreground, anchor=(0.5, 0.5))
        self.overlay_plot.addItem(self.hint)
        self.hint.setPos(0.5, 0.5)
        self.layout = ""
        self.set_layout(layout)

    def set_layout(self, layout: str) -> None:
        """``overlay`` or ``small multiples``."""
        self.layout = layout
        shown, hidden = ((self.multiples, self.overlay_plot) if layout == "small multiples"
                         else (self.overlay_plot, self.multiples))
        grid = self.root.layout
        if self._placed is not shown:
            while grid.count():
                grid.removeAt(0)
            grid.addItem(shown, 0, 0)
            self._placed = shown
        hidden.setVisible(False)
        shown.setVisible(True)

    # --- building -----------------------------------------------------------------------
    def build(self, variants: list[Variant]) -> None:
        """Make the items for ``variants`` (they share tasks and θ₀)."""
        theme = self.theme
        config = variants[0].config
        self.variants = list(variants)
        self.family = make_family(config)
        self.tasks = landscape_tasks(config)
        self.theta0 = initial_theta(config)
        self.plane, self._plane_steps, self.snapshot = None, 0, None
        plot = self.overlay_plot
        plot.clear()  # the start hint too
        plot.showAxis("left")
        plot.showAxis("bottom")
        if plot.legend is not None:
            plot.legend.scene().removeItem(plot.legend)
            plot.legend = None
        self.multiples.clear()
        plot.addLegend(offset=(8, 8), labelTextColor=theme.foreground,
                       brush=pg.mkBrush(0, 0, 0, 120) if not theme.print_theme
                       else pg.mkBrush(255, 255, 255, 210))
        self.overlay_image = self._add_image(plot)
        self.overlay_contours = pg.PlotCurveItem(connect="pairs", pen=pen(theme.contour, 1.0, 0.45))
        self.overlay_contours.setZValue(-5)
        plot.addItem(self.overlay_contours)
        if self.colour_bar is None:
            self.colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get(LANDSCAPE_COLORMAP),
                                              interactive=False, width=14)
            self.colour_bar.setImageItem(self.overlay_image, insert_in=plot)
            plain_tick_labels(self.colour_bar.axis)
            self.colour_bar.axis.setPen(theme.foreground)
            self.colour_bar.axis.setTextPen(theme.foreground)
            self.colour_bar.axis.setLabel("mean loss", color=theme.foreground)
        else:
            self.colour_bar.setImageItem(self.overlay_image)
        self.smooth = True  # new items are antialiased (pyqtgraph's configured default)
        self.trails, self.arrows, self.markers = [], [], []
        self.trail_caches = [TrailCache() for _ in variants]
        self.panels, self.panel_images, self.panel_trails, self.panel_arrows = [], [], [], []
        columns = 3 if len(variants) > 4 else 2
        for index, variant in enumerate(variants):
            colour = variant_colour(self.variants, index)
            trail = plot.plot(pen=pen(colour, 2.5), name=variant.label,
                              shadowPen=pen(theme.outline, 4.5, 0.5))
            trail.setZValue(10)
            self.trails.append(trail)
            self.arrows.append(ArrowSet(plot, colour, width=3.0))
            marker = pg.ScatterPlotItem(size=10, brush=colour, pen=pen(theme.outline, 1.5))
            marker.setZValue(30)
            plot.addItem(marker)
            self.markers.append(marker)
            panel = self.multiples.addPlot(row=index // columns, col=index % columns,
                                           title=variant.label)
            if self.panels:
                panel.setXLink(self.panels[0])
                panel.setYLink(self.panels[0])
            self.panels.append(panel)
            self.panel_images.append(self._add_image(panel))
            panel_trail = panel.plot(pen=pen(colour, 2.5), shadowPen=pen(theme.outline, 4.5, 0.5))
            panel_trail.setZValue(10)
            self.panel_trails.append(panel_trail)
            self.panel_arrows.append(ArrowSet(panel, colour, width=3.0))
        names = self.family.axis_names or ("u (PCA direction 1)", "v (PCA direction 2)")
        for item in (plot, *self.panels):
            item.setMenuEnabled(False)
            item.setLabel("bottom", names[0], color=theme.foreground)
            item.setLabel("left", names[1], color=theme.foreground)
            for axis in ("left", "bottom"):
                item.getAxis(axis).setTextPen(theme.foreground)
                item.getAxis(axis).setPen(theme.foreground)
                # "a (x0.001)" on one panel of a small multiple read as another unit
                plain_tick_labels(item.getAxis(axis))
            item.titleLabel.setAttr("color", theme.foreground)
        self._fit()
        self.overlay_title = ("mean task loss (what every method starts from)"
                              if self.family.param_dim == 2
                              else "trails on the PCA plane of all variants' paths")
        plot.setTitle(self.overlay_title, size="9pt", color=theme.foreground)

    @staticmethod
    def _add_image(plot: pg.PlotItem) -> pg.ImageItem:
        image = pg.ImageItem(axisOrder="row-major")
        image.setColorMap(pg.colormap.get(LANDSCAPE_COLORMAP))
        image.setZValue(-10)
        plot.addItem(image)
        return image

    def _fit(self) -> None:
        if self.family.param_dim == 2:
            self._set_range(tuple(float(v) for v in self.family.default_view(self.tasks)))
        else:
            self._set_range(range_around(np.zeros((1, 2))))

    def _set_range(self, view_range: tuple[float, float, float, float]) -> None:
        xmin, xmax, ymin, ymax = view_range
        for plot in (self.overlay_plot, *self.panels[:1]):
            plot.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        self.range = view_range

    # --- the PCA plane (models with more than two parameters) ---------------------------
    def plane_due(self, steps: int) -> bool:
        """The plane should be fitted again: the trails grew by half since the last fit."""
        return self.family.param_dim != 2 and steps >= 3 and \
            steps >= max(1.5 * self._plane_steps, self._plane_steps + 10)

    def forget_plane(self) -> None:
        """Draw on no plane until the next fit (a run of the same variants started again)."""
        self.plane, self._plane_steps = None, 0

    def use_plane(self, fitted: tuple | None, steps: int) -> None:
        """Draw on ``fitted`` (:func:`fit_plane`'s plane and view range) from now on, as
        fitted at meta-step ``steps``; None (no spread yet) keeps the plane."""
        if fitted is not None:
            self.plane, view_range = fitted
            self._plane_steps = steps
            self._set_range(view_range)

    # --- surfaces -----------------------------------------------------------------------
    def surface_jobs(self) -> list[tuple[int | None, object, str]]:
        """The backgrounds to compute: ``(index, config, surface)`` with index None for the
        overlay's shared mean loss, else variant ``index``'s own meta-objective. None on
        planes through bigger models (trails only there)."""
        if self.family.param_dim != 2 or not self.variants:
            return []
        return [(None, self.variants[0].config, "mean")] + [
            (index, variant.config, "mean" if variant.config.algorithm == "pretrain" else "meta")
            for index, variant in enumerate(self.variants)]

    def compute_surfaces_now(self, resolution: int) -> None:
        """Compute and draw every background in the calling thread (figures: written only
        once everything is drawn; the window uses a landscape worker instead)."""
        xmin, xmax, ymin, ymax = self.range
        for index, config, name in self.surface_jobs():
            evaluator = LandscapeEvaluator(config, self.tasks, dtype=torch.float32)
            try:
                surface = evaluator.grid(name, (xmin, xmax), (ymin, ymax), resolution)
            except LandscapeError:
                continue  # e.g. a variant without a meta surface: its panel stays plain
            self.show_surface(index, surface)

    def show_surface(self, index: int | None, surface) -> None:
        """Draw a surface on the overlay (``index`` None) or on variant ``index``'s panel."""
        if index is None:
            _show_image(self.overlay_image, surface, self.overlay_contours, self.colour_bar)
        elif index < len(self.panel_images):
            _show_image(self.panel_images[index], surface)

    def set_smooth(self, on: bool) -> None:
        """Antialiased lines (on), or plain ones while the variants train at full speed: see
        :meth:`LandscapePlot.set_smooth` (exports antialias whatever this says)."""
        if on == self.smooth:
            return
        self.smooth = on
        set_antialias([*self.trails, *self.panel_trails, self.overlay_contours,
                       *(a.curve for a in [*self.arrows, *self.panel_arrows])], on)

    # --- the snapshot -------------------------------------------------------------------
    def _project(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(points)
        if self.family.param_dim == 2:
            return points[:, :2]
        if self.plane is None:
            return np.zeros((len(points), 2))
        return plane_coordinates(self.plane, points)

    def show_snapshot(self, snapshot, *, place_legend_now: bool = True,
                      only_shown: bool = False, refit: bool = True) -> None:
        """Draw ``snapshot``: trails, θ markers, arrows, the step count; the legend moves to
        where the trails are not when ``place_legend_now``; ``only_shown``: the layout not
        shown is left as it was (the window redraws it when it is chosen); ``refit``: fit the
        PCA plane again here when it is due (False: the caller fits it elsewhere, see
        :func:`fit_plane`, and hands it to :meth:`use_plane`)."""
        self.snapshot = snapshot
        if refit and self.plane_due(snapshot.steps):
            self.use_plane(fit_plane(snapshot.histories), snapshot.steps)
        (x0, x1), (y0, y1) = self.overlay_plot.getViewBox().viewRange()
        diagonal = math.hypot(x1 - x0, y1 - y0)
        overlay = not only_shown or self.layout != "small multiples"
        multiples = not only_shown or self.layout == "small multiples"
        for index, history in enumerate(snapshot.histories):
            trail = self.trail_caches[index].project(
                history, self._project, (snapshot.run_id, id(self.plane))) \
                if len(history.thetas) else np.zeros((0, 2))
            trails = [self.trails[index]] * overlay + [self.panel_trails[index]] * multiples
            arrows = [self.arrows[index]] * overlay + [self.panel_arrows[index]] * multiples
            for item in trails:
                item.setData(trail[:, 0], trail[:, 1]) if len(trail) else item.setData([], [])
            record = history.latest
            if record is None:
                start = self._project(self.theta0)[0]
                self.markers[index].setData([start[0]], [start[1]])
                for item in arrows:
                    item.clear()
                continue
            theta = self._project(record.theta_next)[0]
            self.markers[index].setData([theta[0]], [theta[1]])
            direction = self._project(record.theta_next - record.meta_grad)[0] - theta
            length = float(np.hypot(*direction))
            for item in arrows:
                if np.isfinite(length) and length > 0 and not record.diverged:
                    tip = theta + ARROW_FRACTION * diagonal * direction / length
                    item.set_arrows(theta[None], tip[None])
                else:
                    item.clear()
        self._show_step(snapshot.steps, overlay=overlay, multiples=multiples)
        if place_legend_now:
            # where the trails are not (they all start at θ₀, often in a corner)
            points = [item.getData() for item in self.trails]
            points = [np.column_stack(xy) for xy in points if xy[0] is not None and len(xy[0])]
            place_legend(self.overlay_plot.legend, self.overlay_plot.getViewBox(),
                         np.concatenate(points) if points else np.zeros((0, 2)))

    def _show_step(self, steps: int, *, overlay: bool = True, multiples: bool = True) -> None:
        """The meta-step count in the plots' titles (the window and figures alike), in the
        overlay's and the panels' (each a relayout: only those of the layout drawn)."""
        title = self.overlay_title + f"  ·  meta-step {steps}"
        if overlay and self.overlay_plot.titleLabel.text != title:
            self.overlay_plot.setTitle(title, size="9pt", color=self.theme.foreground)
        for panel, variant in zip(self.panels if multiples else (), self.variants):
            text = f"{variant.label} · meta-step {steps}"
            if panel.titleLabel.text != text:
                panel.setTitle(text, size="9pt", color=self.theme.foreground)


def fit_plane(histories) -> tuple | None:
    """The PCA plane through the variants' trails (``histories``' θs, evenly spaced rows of
    each, its last included: a plane and a view range need no more, and the MLP's four whole
    trails are ~60 MB to copy) and the view range around them; None while they have no
    spread. Touches no item: the window runs it in a thread at full speed (a fit took up to
    70 ms of a frame there)."""
    trails = [evenly_spaced(h.thetas) for h in histories if len(h.thetas)]
    if not trails:
        return None
    points = np.concatenate(trails)
    points = points[np.all(np.isfinite(points), axis=1)]
    if not len(points) or np.ptp(points, axis=0).max() <= 0:
        return None
    plane = pca_plane(points, points[-1], max_points=200)
    return plane, range_around(plane_coordinates(plane, points))


def range_around(uv: np.ndarray) -> tuple[float, float, float, float]:
    """``(xmin, xmax, ymin, ymax)`` around the points ``uv``, with a margin."""
    low, high = uv.min(0), uv.max(0)
    span = np.maximum(high - low, 1.0)
    (xmin, ymin), (xmax, ymax) = low - 0.3 * span, high + 0.3 * span
    return float(xmin), float(xmax), float(ymin), float(ymax)


def _show_image(image: pg.ImageItem, surface, contours: pg.PlotCurveItem | None = None,
                colour_bar: pg.ColorBarItem | None = None) -> None:
    z = surface.z
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return
    low, high = np.percentile(finite, [0.5, 97.0])
    high = max(high, low + 1e-12)
    if contours is not None:
        levels = contour_levels(np.clip(z, low, high), 12)
        segments, _ = contour_segments(surface.x, surface.y, z, levels)
        contours.setData(segments[:, 0], segments[:, 1]) if len(segments) else \
            contours.setData([], [])
    if colour_bar is not None:
        colour_bar.setLevels((low, high))
    dx = (surface.x[-1] - surface.x[0]) / (len(surface.x) - 1)
    dy = (surface.y[-1] - surface.y[0]) / (len(surface.y) - 1)
    image.setImage(np.where(np.isfinite(z), z, high), autoLevels=False, levels=(low, high))
    image.setRect(QRectF(surface.x[0] - dx / 2, surface.y[0] - dy / 2,
                         surface.x[-1] - surface.x[0] + dx, surface.y[-1] - surface.y[0] + dy))


__all__ = ["ComparisonPlot", "LAYOUTS", "METRIC_COLUMNS", "default_target", "metrics_rows",
           "metrics_table", "overrides_text", "variant_colour", "variant_shade"]
