"""Loss over meta-steps: mean query loss before and after adaptation, and the worst task's.

A thin shell (the log-scale box, the summary line) around a
:class:`~maml_gui.plots.loss_curves.LossCurvesPlot`, which says why it stays cheap at 30
updates a second; an unchanged history is not redrawn, nor one in a hidden tab.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from maml_gui.core.history import RunHistory
from maml_gui.palette import SCREEN, Theme
from maml_gui.plots.loss_curves import LossCurvesPlot, summary_text


class LossCurves(QWidget):
    """Meta-training loss curves with a log-scale option."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._shown_key: tuple | None = None
        self._pending: RunHistory | None = None  # arrived while hidden in a shown window

        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.drawing = LossCurvesPlot(theme, self.plot_widget.getPlotItem())
        self.plot, self.legend, self.curves = (self.drawing.plot, self.drawing.legend,
                                               self.drawing.curves)

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
        self.drawing.show_history(history)
        self.summary.setText(summary_text(history))

    def clear(self) -> None:
        self._shown_key = None
        self._pending = None
        self.drawing.clear()
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
        self.drawing.set_log_y(on)
