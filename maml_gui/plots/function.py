"""The function view as one reusable pyqtgraph item: a task's true function, its support and
query points, the model before and after each fine-tuning step, the pretrained baseline, and
a legend.

A :class:`FunctionPlot` draws a :class:`~maml_gui.view.function_data.FunctionPicture`; it
owns no worker and no controls. The window's
:class:`~maml_gui.widgets.function_view.FunctionView` is a thin shell around one, and every
function-view export builds its own (:mod:`maml_gui.export.views`). :attr:`FunctionPlot.noise_band`
draws a stochastic model's noise band (B-SMALL's): the picture's ``band``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from maml_gui.core.algorithms import algorithm_label
from maml_gui.palette import Theme, algorithm_colour
from maml_gui.plots.items import SafeLegend, pen, set_antialias
from maml_gui.plots.noise_band import NoiseBand
from maml_gui.plots.table import TableData
from maml_gui.view.function_data import FunctionPicture


def _curve(z: float) -> pg.PlotDataItem:
    """A curve that breaks at non-finite values, drawn at depth ``z``."""
    item = pg.PlotDataItem(connect="finite")
    item.setZValue(z)
    return item


def _dotted(colour: str, width: float):
    p = pen(colour, width)
    p.setDashPattern([1, 3])
    return p


def finite(values: np.ndarray) -> np.ndarray:
    """NaN where a diverged fine-tuning overflowed, so the curve breaks instead of failing."""
    return np.where(np.isfinite(values), values, np.nan)


def plural(n: int, word: str = "step") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class FunctionPlot:
    """Every item of the function view on one ``pg.PlotItem`` (made here unless given).

    Parameters
    ----------
    theme : screen or publication colours.
    plot : the plot item to draw on (a ``PlotWidget``'s, or None for a new one).
    """

    def __init__(self, theme: Theme, plot: pg.PlotItem | None = None):
        self.theme = theme
        self.plot = plot if plot is not None else pg.PlotItem()
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
        self.truth_band = _curve(z=1)
        self.truth_curve = _curve(z=2)
        self.query_points = pg.ScatterPlotItem(size=7, symbol="o")
        self.query_points.setZValue(3)
        self.before_curve = _curve(z=6)
        self.noise_band = NoiseBand(self.plot, self.model_colour())
        # plain curves, not PlotDataItems: at full speed each of the (up to 100) steps is set
        # every refresh, and a PlotDataItem's setData costs twice its inner curve's
        self.step_curves: list[pg.PlotCurveItem] = []
        self.erm_before_curve = _curve(z=4)
        self.erm_after_curve = _curve(z=5)
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
        self.view.sigResized.connect(self.fit_legend)
        self._legend_shape: tuple | None = None
        self._after_sample = self._erm_sample = None
        # what each item was last given: at full speed a refresh changes θ's curves only, and
        # setData, setPen and setTitle each cost a re-layout or a new path even when equal
        self._data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._step_pens: list[tuple | None] = []
        self._title = ""
        self.smooth = True

    def cache_still_items(self) -> None:
        """Keep the items that stay still while θ moves as pixmaps of the screen, repainted
        only when they change: the truth and its band, the points, the axes, the legend's
        box. At full speed a repaint then strokes θ's curves and copies the rest (measured on
        the sinusoid preset's view: about half the paint time). For the window only: an
        export must draw vectors. Text and legend samples stay uncached: drawn into a pixmap
        of their own they came out visibly different (the samples' wide pens were clipped);
        the items cached here differ from direct drawing by at most one level in a few
        pixels."""
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        for item in (self.truth_band.curve, self.truth_curve.curve, self.query_points,
                     self.support_points, self.legend, self.plot.getAxis("left"),
                     self.plot.getAxis("bottom")):
            item.setCacheMode(mode)

    def set_smooth(self, on: bool) -> None:
        """Antialias θ's curves (on) or not: off while a run plays at full speed, as on the
        canvas (see :meth:`LandscapePlot.set_smooth`); exports antialias whatever this says."""
        if on == self.smooth:
            return
        self.smooth = on
        # the curves that change with θ (the baseline's follow the support points)
        set_antialias([self.before_curve, self.erm_before_curve, self.erm_after_curve,
                       *self.step_curves], on)

    # --- colours ------------------------------------------------------------------------
    def model_colour(self) -> str:
        return self.theme.theta  # θ's colour on the canvas; task colours stay for the truth

    def baseline_colour(self) -> str:
        return algorithm_colour("pretrain", 1 if not self.theme.print_theme else 0)

    def set_range(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.view.setRange(xRange=x_range, yRange=y_range, padding=0.02)

    # --- drawing ------------------------------------------------------------------------
    def show(self, picture: FunctionPicture) -> None:
        """Draw ``picture``: every curve, the points, the legend and the title."""
        if self._shape(picture) != self._legend_shape:
            self._style(picture)
        grid, empty = picture.grid, np.zeros(0)
        self.noise_band.set_band(grid, picture.band)
        self._set_data(self.truth_band, grid, picture.truth)
        self._set_data(self.truth_curve, grid, picture.truth)
        self._set_data(self.support_points, picture.x_support, picture.y_support)
        self._set_data(self.query_points, picture.x_query, picture.y_query)
        self._set_data(self.before_curve, grid, finite(picture.predictions[0]))
        self._ensure_step_curves(picture.view_steps)
        drawn = picture.drawn
        for j, item in enumerate(self.step_curves, start=1):
            if j > drawn:
                self._set_data(item, empty, empty)
                continue
            newest = j == drawn
            # earlier steps fade: the newest is solid, the oldest nearly transparent
            alpha = 1.0 if newest else 0.15 + 0.45 * (j / max(drawn, 1))
            style = (self.model_colour(), 2.6 if newest else 1.3, alpha)
            if self._step_pens[j - 1] != style:
                self._step_pens[j - 1] = style
                item.setPen(pen(*style))
            self._set_data(item, grid, finite(picture.predictions[j]))
        after = "after fine-tuning" if drawn == 0 else \
            f"after {plural(drawn)} (α = {picture.inner_lr:g})"
        self._set_legend_text(self._after_sample, after)
        n = picture.view_steps
        if picture.baseline is not None:
            self._set_data(self.erm_before_curve, grid, finite(picture.baseline[0]))
            self._set_data(self.erm_after_curve, grid, finite(picture.baseline[n]))
            self._set_legend_text(self._erm_sample, f"ERM, after {plural(n)}")
        else:
            self._set_data(self.erm_before_curve, empty, empty)
            self._set_data(self.erm_after_curve, empty, empty)
        title = (f"task {picture.task}: {picture.formula}   ·   "
                 f"{plural(picture.x_support.size, 'support point')}")
        if title != self._title:
            self._title = title
            self.plot.setTitle(title, color=self.theme.foreground, size="9pt")

    def _set_data(self, item, x: np.ndarray, y: np.ndarray) -> None:
        """``item.setData(x, y)`` unless it already shows these values."""
        last = self._data.get(id(item))
        if (last is not None and np.array_equal(last[0], x)
                and np.array_equal(last[1], y, equal_nan=True)):
            return
        self._data[id(item)] = (np.array(x, dtype=np.float64), np.array(y, dtype=np.float64))
        item.setData(x, y)

    def _style(self, picture: FunctionPicture) -> None:
        colour = self.theme.task(picture.task)
        self.truth_band.setPen(pen(colour, 7.0, 0.28))
        self.truth_curve.setPen(pen(colour, 1.6))
        self.support_points.setBrush(pg.mkBrush(colour))
        self.support_points.setPen(pen(self.theme.outline, 1.5))
        self.query_points.setBrush(pg.mkBrush(None))
        self.query_points.setPen(pen(colour, 1.4, 0.9))
        self.before_curve.setPen(pen(self.model_colour(), 1.8, 0.9, dashed=True))
        self.erm_before_curve.setPen(_dotted(self.baseline_colour(), 1.8))
        self.erm_after_curve.setPen(pen(self.baseline_colour(), 2.4, dashed=True))
        self.noise_band.set_colour(self.model_colour())
        self._rebuild_legend(picture)

    def _ensure_step_curves(self, count: int) -> None:
        while len(self.step_curves) < count:
            item = pg.PlotCurveItem(connect="finite", antialias=self.smooth)
            item.setZValue(7)
            self.plot.addItem(item)
            self.step_curves.append(item)
            self._step_pens.append(None)
        while len(self.step_curves) > count:
            item = self.step_curves.pop()
            self._step_pens.pop()
            self._data.pop(id(item), None)
            self.plot.removeItem(item)

    def _rebuild_legend(self, picture: FunctionPicture) -> None:
        self.legend.clear()
        self._after_sample = pg.PlotDataItem(pen=pen(self.model_colour(), 2.6))
        self._erm_sample = pg.PlotDataItem(pen=pen(self.baseline_colour(), 2.4, dashed=True))
        name = algorithm_label(picture.algorithm)
        self.legend.addItem(self.truth_curve, f"true function (task {picture.task})")
        self.legend.addItem(self.support_points, "support points")
        if picture.x_query.size:
            self.legend.addItem(self.query_points, "query points")
        self.legend.addItem(self.before_curve, f"θ ({name}), before")
        self.legend.addItem(self._after_sample, "after fine-tuning")
        if picture.band is not None:
            self.legend.addItem(self.noise_band.legend_sample, self.noise_band.label)
        if picture.baseline is not None:
            self.legend.addItem(self.erm_before_curve, "ERM, before")
            self.legend.addItem(self._erm_sample, "ERM, after")
        self._legend_shape = self._shape(picture)
        self.fit_legend()

    @staticmethod
    def _shape(picture: FunctionPicture) -> tuple:
        """What the legend lists depends on."""
        return (picture.task, picture.x_query.size > 0, picture.baseline is not None,
                picture.algorithm, picture.band is not None)

    def fit_legend(self, *_args) -> None:
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
                    self.fit_legend()
                return

    def nearest_support_point(self, x_support: np.ndarray, y_support: np.ndarray, x: float,
                              y: float, radius_px: float) -> int | None:
        """Index of the support point within ``radius_px`` screen pixels of ``(x, y)``."""
        if x_support.size == 0:
            return None
        sx, sy = (max(float(v), 1e-300) for v in self.view.viewPixelSize())
        distance = np.hypot((x_support - x) / sx, (y_support - y) / sy)
        best = int(np.argmin(distance))
        return best if distance[best] <= radius_px else None


def mse_line(picture: FunctionPicture) -> str:
    """The query MSE before and after the steps drawn, in words."""
    low, high = picture.input_range
    mse, drawn = picture.query_mse, picture.drawn
    return (f"MSE on x ∈ [{low:g}, {high:g}]: {mse[0]:.3g} before → {mse[drawn]:.3g} after "
            f"{plural(drawn)}")


def mse_table(mse: dict[str, dict[int, float]], steps: list[int]) -> TableData:
    """The query-MSE table: one row per model, one column per number of steps."""
    return TableData(headers=["query MSE", *(plural(s) for s in steps)],
                     rows=[[name, *(f"{values[s]:.3g}" for s in steps)]
                           for name, values in mse.items()])


__all__ = ["FunctionPlot", "finite", "mse_line", "mse_table", "plural"]
