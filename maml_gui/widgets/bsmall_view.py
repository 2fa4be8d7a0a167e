"""B-SMALL's view: log ρ of every weight per layer, and sparsity, KL and masked loss over time.

Top: one heatmap per weight matrix of log ρ (clamped to [−10, 10]) at the current θ, with
the threshold contour log ρ = 3 (weights above it drop out). Bottom: the fraction of dropped
weights per layer over meta-steps; the KL term λ·KL against the data term; the masked and the
full post-adaptation losses.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtWidgets import QWidget

from maml_gui.core.tasks.svdo_sinusoid import LOG_RHO_THRESHOLD, SVDOSinusoid
from maml_gui.palette import task_colour
from maml_gui.widgets.method_panel import MethodPanel, run_losses_after, run_series


class BSmallView(MethodPanel):
    """log ρ heatmaps and the sparsity / KL / masked-loss curves of a B-SMALL run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: SVDOSinusoid | None = None
        self.images: list[pg.ImageItem] = []
        self.contours: list[pg.IsocurveItem] = []
        self.heat_plots: list[pg.PlotItem] = []
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.sparsity_plot = self.loss_plot = self.kl_plot = None

    def set_model(self, model: SVDOSinusoid) -> None:
        """Build one heatmap per weight matrix of ``model``, and the curve plots."""
        self.model = model
        self.graphics.clear()
        self.images, self.contours, self.heat_plots, self.curves = [], [], [], {}
        lut = pg.colormap.get("viridis").getLookupTable(nPts=256)
        widths = model.widths
        for i in range(model.n_layers):
            plot = self.graphics.addPlot(row=0, col=i, title=f"log ρ, W{i + 1} "
                                         f"({widths[i + 1]}×{widths[i]})")
            plot.invertY(True)
            image = pg.ImageItem(axisOrder="row-major")
            image.setLookupTable(lut)
            plot.addItem(image)
            contour = pg.IsocurveItem(level=LOG_RHO_THRESHOLD, pen=pg.mkPen("#FF4040", width=2))
            contour.setParentItem(image)
            self.images.append(image)
            self.contours.append(contour)
            self.heat_plots.append(plot)
        self.sparsity_plot = self.graphics.addPlot(row=1, col=0, title="dropped weights (log ρ > 3)")
        self.sparsity_plot.setLabel("bottom", "meta-step")
        self.sparsity_plot.setYRange(0, 1)
        self.sparsity_plot.addLegend(offset=(5, 5))
        for i in range(model.n_layers):
            self.curves[f"W{i + 1}"] = self.sparsity_plot.plot(
                pen=pg.mkPen(task_colour(i), width=2), name=f"W{i + 1}")
        self.curves["all"] = self.sparsity_plot.plot(pen=pg.mkPen("#FFFFFF", width=2), name="all")
        self.kl_plot = self.graphics.addPlot(row=1, col=1, title="objective terms")
        self.kl_plot.setLabel("bottom", "meta-step")
        self.kl_plot.addLegend(offset=(5, 5))
        self.curves["data"] = self.kl_plot.plot(pen=pg.mkPen(task_colour(1), width=2),
                                                name="data (MSE after adaptation)")
        self.curves["kl"] = self.kl_plot.plot(pen=pg.mkPen(task_colour(0), width=2), name="λ·KL(θ)")
        self.loss_plot = self.graphics.addPlot(row=1, col=2, title="post-adaptation loss")
        self.loss_plot.setLabel("bottom", "meta-step")
        self.loss_plot.addLegend(offset=(5, 5))
        self.curves["full"] = self.loss_plot.plot(pen=pg.mkPen(task_colour(3), width=2), name="full")
        self.curves["masked"] = self.loss_plot.plot(pen=pg.mkPen(task_colour(2), width=2,
                                                                 style=pg.QtCore.Qt.PenStyle.DashLine),
                                                    name="masked (log ρ < 3)")

    def show_records(self, records, lam: float, history=None) -> None:
        """Draw the latest of ``records`` (oldest first); the curves cover the whole run from
        ``history``'s thinned series (:class:`RunHistory`), else ``records`` alone."""
        if self.model is None or not records:
            return
        record = records[-1]
        theta = torch.tensor(np.asarray(record.theta), dtype=torch.float64)  # a copy: records are read-only
        with torch.no_grad():
            flat = self.model.flat_log_rho(theta).numpy().copy()
        widths = self.model.widths
        start = 0
        for i, (image, contour) in enumerate(zip(self.images, self.contours)):
            size = widths[i + 1] * widths[i]
            block = flat[start:start + size].reshape(widths[i + 1], widths[i])
            start += size
            image.setImage(block, levels=(-10.0, 10.0), autoLevels=False)
            contour.setData(block.T)  # IsocurveItem takes column-major data
        series = run_series(history, records, ("sparsity", "sparsity_per_layer", "kl",
                                            "masked_meta_loss_after"))
        steps, values = series
        per_layer = values["sparsity_per_layer"]
        for i in range(per_layer.shape[1]):
            self.curves[f"W{i + 1}"].setData(steps, per_layer[:, i])
        self.curves["all"].setData(steps, values["sparsity"])
        self.curves["kl"].setData(steps, lam * values["kl"])
        self.curves["masked"].setData(steps, values["masked_meta_loss_after"])
        loss_steps, loss_after = run_losses_after(history, records)
        self.curves["data"].setData(loss_steps, loss_after)
        self.curves["full"].setData(loss_steps, loss_after)
        d = record.diagnostics
        layers = ", ".join(f"W{i + 1} {100 * v:.0f} %" for i, v in enumerate(d["sparsity_per_layer"]))
        active = int(round((1 - float(d["sparsity"])) * flat.size))
        self.summary.setText(
            f"sparsity {100 * float(d['sparsity']):.1f} % ({layers}); active weights "
            f"{active:,} of {flat.size:,}   ·   loss after adaptation: full "
            f"{record.meta_loss_after:.4g}, masked {float(np.mean(d['masked_loss_after'])):.4g}")

