"""TreeMAML's view: the task tree per inner step and the gradients' cosine distances.

Left, an icicle dendrogram: one column per inner step, one coloured block per cluster over
its member tasks (ordered so every cluster is contiguous), splitting step by step. Right, the
cosine distances 1 − cos∠(gₘ, gₘ′) of the task gradients at the selected inner step, with
the step's clusters outlined (the cuts). The inner step follows the animation.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from maml_gui.palette import task_colour
from maml_gui.widgets.method_panel import MethodPanel

RECONSTRUCTION_NOTE = ("TreeMAML's update rule is a reconstruction from the paper's text "
                       "(no code of the authors is public).")


def task_order(labels: np.ndarray) -> np.ndarray:
    """Tasks sorted by their cluster at every step, so each cluster is a contiguous run."""
    keys = (np.arange(labels.shape[0]),) + tuple(labels[:, j] for j in
                                                 range(labels.shape[1] - 1, -1, -1))
    return np.lexsort(keys)  # the last key (step 1's label) sorts first


def cluster_runs(labels: np.ndarray, order: np.ndarray) -> list[tuple[int, int, int]]:
    """(start row, length, label) of every cluster of one step, in ``order``."""
    runs, start = [], 0
    ordered = labels[order]
    for row in range(1, len(ordered) + 1):
        if row == len(ordered) or ordered[row] != ordered[start]:
            runs.append((start, row - start, int(ordered[start])))
            start = row
    return runs


class TreeView(MethodPanel):
    """The tree and the cosine-distance heatmap of a TreeMAML run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, note=RECONSTRUCTION_NOTE)
        self.tree_plot = self.graphics.addPlot(title="task tree (columns: inner steps)")
        self.tree_plot.setLabel("bottom", "inner step")
        self.tree_plot.setLabel("left", "task")
        self.tree_plot.invertY(True)
        self.heat_plot = self.graphics.addPlot(title="gradient cosine distance")
        self.heat_plot.invertY(True)
        self.heat_plot.setAspectLocked(True)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.heat_plot.addItem(self.heatmap)
        self.bars: list[pg.BarGraphItem] = []
        self.outlines: list[pg.PlotCurveItem] = []
        self.step = 0
        self.order = np.zeros(0, dtype=np.int64)

    def show_record(self, record, inner_step: int | None = None) -> None:
        """Draw a TreeMAML step record; ``inner_step`` (0-based) selects the heatmap's step."""
        labels = np.asarray(record.diagnostics.get("cluster_labels", np.zeros((0, 0))), dtype=int)
        distances = record.diagnostics.get("grad_cosine_distances")
        if labels.size == 0 or distances is None:
            return
        n, k = labels.shape
        self.order = task_order(labels)
        self.step = int(np.clip(inner_step if inner_step is not None else k - 1, 0, k - 1))
        for item in self.bars:
            self.tree_plot.removeItem(item)
        for item in self.outlines:
            self.heat_plot.removeItem(item)
        self.bars, self.outlines = [], []
        for j in range(k):
            for start, length, label in cluster_runs(labels[:, j], self.order):
                colour = task_colour(label)
                bar = pg.BarGraphItem(x0=[j + 0.05], width=[0.9], y0=[start - 0.45],
                                      height=[length - 0.1], brush=pg.mkBrush(colour),
                                      pen=pg.mkPen("#FFFFFF" if j == self.step else colour,
                                                   width=2 if j == self.step else 1))
                self.tree_plot.addItem(bar)
                self.bars.append(bar)
        self.tree_plot.getAxis("left").setTicks([[(row, str(int(t)))
                                                  for row, t in enumerate(self.order)]])
        self.tree_plot.getAxis("bottom").setTicks([[(j + 0.5, str(j + 1)) for j in range(k)]])
        self.tree_plot.setXRange(0, k, padding=0.02)
        self.tree_plot.setYRange(-0.5, n - 0.5, padding=0.02)
        matrix = np.asarray(distances)[..., self.step][np.ix_(self.order, self.order)]
        self.heatmap.setImage(matrix, levels=(0.0, 2.0), autoLevels=False)
        self.heatmap.setRect(-0.5, -0.5, n, n)
        for start, length, _label in cluster_runs(labels[:, self.step], self.order):
            x0, x1 = start - 0.5, start + length - 0.5
            outline = pg.PlotCurveItem([x0, x1, x1, x0, x0], [x0, x0, x1, x1, x0],
                                       pen=pg.mkPen("#FFFFFF", width=2))
            self.heat_plot.addItem(outline)
            self.outlines.append(outline)
        self.heat_plot.setTitle(f"gradient cosine distance at inner step {self.step + 1} "
                                "(outlines: its clusters)")
        clusters = [len(np.unique(labels[:, j])) for j in range(k)]
        self.summary.setText(
            f"clusters per inner step: {' → '.join(map(str, clusters))}   ·   post-adaptation "
            f"query loss {record.meta_loss_after:.4g}")
