"""Loss over meta-steps as one reusable pyqtgraph item: mean query loss before and after
adaptation, and the worst task's.

Three curves made once and updated in place. Cheap at 30 updates a second with 100,000 steps:
the plot clips to the visible x-range and downsamples by peaks (the PlotItem's settings:
PlotItem.addItem overrides per-curve ones), pens are 1 px wide (wider antialiased pens cost
5-20x more to draw on zig-zag curves). The window's
:class:`~maml_gui.widgets.loss_curves.LossCurves` is a thin shell around one; the trace
figure builds its own (:mod:`maml_gui.plots.trace`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from maml_gui.core.history import RunHistory
from maml_gui.palette import Theme
from maml_gui.plots.items import pen, plain_tick_labels

# name -> (legend label, RunHistory column)
CURVES = {
    "before": ("mean loss before adaptation", "loss_before"),
    "after": ("mean loss after adaptation", "loss_after"),
    "worst": ("worst task after adaptation", "worst_after"),
}


class LossCurvesPlot:
    """The loss curves on one ``pg.PlotItem`` (made here unless given)."""

    def __init__(self, theme: Theme, plot: pg.PlotItem | None = None):
        self.theme = theme
        self.plot = plot if plot is not None else pg.PlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
        # an SI prefix on a log axis reads as nonsense ("2·10²" meaning 0.2)
        plain_tick_labels(self.plot.getAxis("left"))
        self.plot.setLabel("bottom", "meta-step", color=theme.foreground)
        self.plot.setLabel("left", "query loss", color=theme.foreground)
        self.legend = self.plot.addLegend(offset=(-6, 6), labelTextColor=theme.foreground,
                                          brush=pg.mkBrush(0, 0, 0, 120) if not theme.print_theme
                                          else pg.mkBrush(255, 255, 255, 200))
        colours = {"before": ("#9A9A9A", True), "after": (theme.foreground, False),
                   "worst": (theme.aggregate, False)}
        self.curves: dict[str, pg.PlotDataItem] = {}
        for name, (label, _column) in CURVES.items():
            colour, dashed = colours[name]
            curve = pg.PlotDataItem(pen=pen(colour, 1.0, dashed=dashed), connect="finite",
                                    name=label)
            self.plot.addItem(curve)
            self.curves[name] = curve

    def show_history(self, history: RunHistory) -> None:
        """Plot ``history``'s loss columns."""
        # copies: history columns are views that decimation rewrites in place
        steps = history.steps.astype(np.float64)
        for name, (_label, column) in CURVES.items():
            self.curves[name].setData(steps, np.array(getattr(history, column), dtype=np.float64))

    def clear(self) -> None:
        for curve in self.curves.values():
            curve.setData([], [])

    def set_log_y(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self.plot.enableAutoRange(y=True)


def summary_text(history: RunHistory) -> str:
    """The latest meta-step's losses in words (blank before the first step)."""
    if not len(history.steps):
        return " "
    return (f"step {int(history.steps[-1]) + 1}: {history.loss_before[-1]:.4g} → "
            f"{history.loss_after[-1]:.4g} (worst {history.worst_after[-1]:.4g})")


__all__ = ["CURVES", "LossCurvesPlot", "summary_text"]
