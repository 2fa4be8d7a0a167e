"""A stochastic model's prediction band (B-SMALL's noise): a filled band between mean ± 2 std
and the mean of the noise draws, as one group of pyqtgraph items on a plot."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsPathItem

from maml_gui.core.function_space import BAND_WIDTH, PredictionBand
from maml_gui.plots.items import pen


class NoiseBand:
    """The band's edges, fill and mean curve on ``plot`` (hidden until :meth:`set_band`)."""

    def __init__(self, plot: pg.PlotItem, colour: str, *, z: float = 3.0):
        self.low = pg.PlotCurveItem()
        self.high = pg.PlotCurveItem()
        # one closed polygon (low forward, high back): a FillBetweenItem listens to both
        # curves' signals and crashed the interpreter's exit about one run in two
        self.fill = QGraphicsPathItem()
        self.fill.setPen(pg.mkPen(None))
        self.mean = pg.PlotCurveItem()
        for item, offset in ((self.fill, 0.0), (self.low, 0.1), (self.high, 0.1), (self.mean, 0.2)):
            item.setZValue(z + offset)
            plot.addItem(item)
        self.label = f"noise band (mean ± {BAND_WIDTH:g} std)"
        # what a legend shows for the band: a legend cannot draw a FillBetweenItem (it reads
        # a PlotDataItem's options), so a wide translucent line that is never plotted stands in
        self.legend_sample = pg.PlotDataItem()
        self.set_colour(colour)
        self._drawn = True  # until set_band empties and hides everything
        self.set_band(None, None)

    def set_colour(self, colour: str) -> None:
        self.low.setPen(pen(colour, 1.0, 0.5))
        self.high.setPen(pen(colour, 1.0, 0.5))
        fill = pg.mkColor(colour)
        fill.setAlphaF(0.22)
        self.fill.setBrush(pg.mkBrush(fill))
        self.mean.setPen(pen(colour, 1.4, 0.85, dashed=True))
        self.legend_sample.setPen(pen(colour, 9.0, 0.3))

    def set_band(self, x: np.ndarray | None, band: PredictionBand | None) -> None:
        """Draw ``band`` over inputs ``x``; None hides it (a deterministic model)."""
        shown = band is not None and x is not None
        if not shown and not self._drawn:
            return  # already hidden and empty (every refresh of a deterministic model)
        self._drawn = shown
        if shown:
            low, high = _finite(band.low), _finite(band.high)
            self.low.setData(x, low)
            self.high.setData(x, high)
            self.mean.setData(x, _finite(band.mean))
            path = pg.arrayToQPath(np.concatenate([x, x[::-1]]), np.concatenate([low, high[::-1]]))
            path.closeSubpath()
            self.fill.setPath(path)
        else:
            for curve in (self.low, self.high, self.mean):
                curve.setData([], [])
            self.fill.setPath(pg.QtGui.QPainterPath())
        for item in (self.fill, self.low, self.high, self.mean):
            item.setVisible(shown)

    @property
    def visible(self) -> bool:
        return self.fill.isVisible()


def _finite(values: np.ndarray) -> np.ndarray:
    """Non-finite values (a diverged model) drawn as gaps would break the fill: clip to 0."""
    return np.where(np.isfinite(values), values, 0.0)


__all__ = ["NoiseBand"]
