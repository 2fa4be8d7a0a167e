"""MetaNAS's view: the operation probabilities of every hidden layer, as bars.

The bars show softmax(a/T) averaged over the meta-batch's tasks at the animation's inner step
(T falling from t_max to t_min, so they sharpen through the inner loop), or softmax(a) of θ at
T = 1 between meta-steps. Pruned operations are grey. Below, layer 1's probabilities over
meta-steps and the active parameter count.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from maml_gui.palette import task_colour
from maml_gui.widgets.method_panel import MethodPanel, run_series

PRUNED_COLOUR = "#5A5A5A"


class MetaNASView(MethodPanel):
    """Operation bars per layer and their history, for a MetaNAS run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.ops: tuple[str, ...] = ()
        self.bars: list[pg.BarGraphItem] = []
        self.bar_plots: list[pg.PlotItem] = []
        self.history_curves: list[pg.PlotDataItem] = []

    def set_ops(self, ops: tuple[str, ...], layers: int) -> None:
        """One bar chart per hidden layer over ``ops``, and the history plot."""
        self.ops = tuple(ops)
        self.graphics.clear()
        self.bars, self.bar_plots, self.history_curves = [], [], []
        ticks = [[(o, name) for o, name in enumerate(self.ops)]]
        for layer in range(layers):
            plot = self.graphics.addPlot(row=0, col=layer, title=f"layer {layer + 1}")
            plot.setYRange(0, 1)
            plot.setXRange(-0.6, len(self.ops) - 0.4)
            plot.getAxis("bottom").setTicks(ticks)
            plot.setLabel("left", "probability")
            bar = pg.BarGraphItem(x=np.arange(len(self.ops)), height=np.zeros(len(self.ops)),
                                  width=0.7, brushes=[task_colour(o) for o in range(len(self.ops))])
            plot.addItem(bar)
            self.bars.append(bar)
            self.bar_plots.append(plot)
        history = self.graphics.addPlot(row=1, col=0, colspan=max(layers, 1),
                                        title="layer 1 over meta-steps (T = 1)")
        history.setYRange(0, 1)
        history.setLabel("bottom", "meta-step")
        history.addLegend(offset=(5, 5))
        for o, name in enumerate(self.ops):
            self.history_curves.append(history.plot(pen=pg.mkPen(task_colour(o), width=2), name=name))

    def show_records(self, records, inner_step: int | None = None, history=None) -> None:
        """Bars of the latest record (at ``inner_step`` of its inner loop, else θ at T = 1);
        layer 1's probabilities over the whole run from ``history`` (else ``records``)."""
        if not records or not self.bars:
            return
        record = records[-1]
        d = record.diagnostics
        pruned = np.asarray(d["pruned"]).astype(bool)
        temps = np.asarray(d["temperatures"])
        if inner_step is None:
            probabilities, title = np.asarray(d["arch_weights"]), "θ, T = 1"
        else:
            j = int(np.clip(inner_step, 0, d["arch_path"].shape[-1] - 1))
            probabilities = np.asarray(d["arch_path"])[..., j].mean(axis=0)
            temperature = temps[min(max(j - 1, 0), len(temps) - 1)]
            title = f"inner step {j}, T = {temperature:.3g}" if j else \
                f"before adaptation, T = {temps[0]:.3g}"
        for layer, (bar, plot) in enumerate(zip(self.bars, self.bar_plots)):
            brushes = [PRUNED_COLOUR if pruned[layer, o] else task_colour(o)
                       for o in range(len(self.ops))]
            bar.setOpts(height=probabilities[layer], brushes=brushes)
            plot.setTitle(f"layer {layer + 1} · {title}")
        steps, values = run_series(history, records, ("arch_weights",))
        layer1 = values["arch_weights"][:, 0]
        for o, curve in enumerate(self.history_curves):
            curve.setData(steps, layer1[:, o])
        names = [f"L{layer + 1} {self.ops[o]}" for layer, o in zip(*np.nonzero(pruned))]
        winners = ", ".join(f"L{layer + 1}: {self.ops[int(np.argmax(p))]}"
                            for layer, p in enumerate(np.asarray(d["arch_weights"])))
        self.summary.setText(
            f"leading operation {winners}   ·   pruned: {', '.join(names) or 'none'}   ·   "
            f"active parameters {int(d['active_params']):,}"
            + ("   ·   architecture frozen (warm-up)" if float(d["arch_frozen"]) else ""))
