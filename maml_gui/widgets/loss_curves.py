"""Loss over meta-steps: mean query loss before and after adaptation, and the worst task's.

Three pyqtgraph curves made once and updated in place. Cheap at 30 updates a second with
100,000 steps: the plot clips to the visible x-range and downsamples by peaks (the
PlotItem's settings: PlotItem.addItem overrides per-curve ones), pens are 1 px wide (wider
antialiased pens cost 5-20x more to draw on zig-zag curves), and an unchanged history is
not redrawn.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from maml_gui.core.history import RunHistory
from maml_gui.palette import SCREEN, Theme
from maml_gui.plots.items import pen

# name -> (legend label, RunHistory column)
CURVES = {
    "before": ("mean loss before adaptation", "loss_before"),
    "after": ("mean loss after adaptation", "loss_after"),
    "worst": ("worst task after adaptation", "worst_after"),
}


class LossCurves(QWidget):
    """Meta-training loss curves with a log-scale option."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._shown_key: tuple | None = None
        self._pending: RunHistory | None = None  # arrived while hidden in a shown window

        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
        # an SI prefix on a log axis reads as nonsense ("2·10²" meaning 0.2)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
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

        self.log_box = QCheckBox("log y")
        self.log_box.setToolTip("Logarithmic loss axis (losses that reach 0 leave gaps)")
        self.log_box.toggled.connect(self._on_log_toggled)
        self.summary = QLabel(" ")
        self.summary.setToolTip("The latest meta-step's losses")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(bar)

    # --- public -------------------------------------------------------------------------
    @property
    def log_y(self) -> bool:
        return self.log_box.isChecked()

    def set_log_y(self, on: bool) -> None:
        self.log_box.setChecked(on)

    def show_history(self, history: RunHistory | None) -> None:
        """Plot ``history``'s loss columns (skipped when it has not changed since last time)."""
        if history is None:
            self.clear()
            return
        if self.window().isVisible() and not self.isVisible():
            # in a hidden tab or closed dock: draw when shown (a widget that was never
            # shown at all, e.g. for an export, is updated at once)
            self._pending = history
            return
        self._pending = None
        rows = len(history.steps)
        key = (id(history), history.total_steps, rows)
        if key == self._shown_key:
            return
        self._shown_key = key
        # copies: history columns are views that decimation rewrites in place
        steps = history.steps.astype(np.float64)
        for name, (_label, column) in CURVES.items():
            self.curves[name].setData(steps, np.array(getattr(history, column), dtype=np.float64))
        if rows:
            self.summary.setText(f"step {int(history.steps[-1]) + 1}: "
                                 f"{history.loss_before[-1]:.4g} → {history.loss_after[-1]:.4g}"
                                 f" (worst {history.worst_after[-1]:.4g})")
        else:
            self.summary.setText(" ")

    def clear(self) -> None:
        self._shown_key = None
        self._pending = None
        for curve in self.curves.values():
            curve.setData([], [])
        self.summary.setText(" ")

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) data of curve ``name`` (``before``, ``after``, ``worst``), unlogged."""
        curve = self.curves[name]
        return curve.xData, curve.yData

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.show_history(self._pending)

    # --- slots --------------------------------------------------------------------------
    @Slot(bool)
    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self.plot.enableAutoRange(y=True)
