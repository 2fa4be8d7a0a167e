"""The meta-RL view (NoRML, and DR / MAML-RL on the point robot).

Top left: the plane with the start (0, 0) and the goal (1, 0), and for a few action rotations
the noise-free path of the policy before adaptation (dashed) and after its one inner step
(solid), drawn point by point while a meta-step is animated. Top right: NoRML's learned
advantage A_ψ(s′ = d, s = 0, a) over actions a for one observed displacement d, with the
circle of actions that rotation could have turned into d. Bottom: the offset e as bars, and the
mean return before and after adaptation over the recent meta-steps.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from maml_gui.core.algorithms.norml import ADVANTAGE_DISPLACEMENT
from maml_gui.core.tasks.point_robot import BOUND, GOAL
from maml_gui.palette import SCREEN, task_colour
from maml_gui.widgets.method_panel import MethodPanel

BEFORE_COLOUR = "#9A9A9A"


def latest_with(records, key: str):
    """The newest record whose diagnostics hold ``key`` (demonstrations come every few steps)."""
    for record in reversed(records):
        if key in record.diagnostics:
            return record
    return None


class NoRMLView(MethodPanel):
    """Trajectories, A_ψ, the offset bars and the return curves of a meta-RL run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary.setWordWrap(True)  # two long lines: a dock narrower than them must not clip
        self.names: list[str] = []
        self.has_advantage = False
        self.pre_paths: list[pg.PlotDataItem] = []
        self.post_paths: list[pg.PlotDataItem] = []
        self.plane = self.advantage_plot = self.offset_plot = self.return_plot = None
        self.advantage_image: pg.ImageItem | None = None
        self.bars: pg.BarGraphItem | None = None
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.advantage_range: tuple[float, float] | None = None
        self.angles = ""

    def set_model(self, names: list[str], learned: bool, rotations: int) -> None:
        """Shape the plots: ``names`` of the policy parameters (the bars of e), whether the
        run has an A_ψ and an offset (NoRML) and how many rotations are demonstrated."""
        self.names, self.has_advantage = list(names), learned
        self.advantage_range = None
        self.graphics.clear()
        self.curves = {}
        self.plane = self.graphics.addPlot(row=0, col=0, title="paths")
        self.plane.setAspectLocked(True)
        self.plane.setRange(xRange=(-BOUND, BOUND), yRange=(-BOUND, BOUND), padding=0.02)
        self.plane.addLegend(offset=(5, 5))
        box = pg.PlotDataItem([-BOUND, BOUND, BOUND, -BOUND, -BOUND],
                              [-BOUND, -BOUND, BOUND, BOUND, -BOUND], pen=pg.mkPen("#606060", width=1))
        self.plane.addItem(box)
        self.pre_paths, self.post_paths = [], []
        for i in range(rotations):
            colour = task_colour(i)
            self.pre_paths.append(self.plane.plot(
                pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)))
            self.post_paths.append(self.plane.plot(
                pen=pg.mkPen(colour, width=2.5), symbol="o", symbolSize=4, symbolBrush=colour,
                symbolPen=None))
        self.plane.plot([0.0], [0.0], pen=None, symbol="o", symbolSize=12, symbolBrush=None,
                        symbolPen=pg.mkPen(SCREEN.foreground, width=2), name="start")
        self.plane.plot([GOAL[0]], [GOAL[1]], pen=None, symbol="star", symbolSize=16,
                        symbolBrush="#FFD700", name="goal")
        self.advantage_plot = self.graphics.addPlot(row=0, col=1)
        self.advantage_plot.setAspectLocked(True)
        self.advantage_plot.setLabel("bottom", "action aₓ")
        self.advantage_plot.setLabel("left", "action a_y")
        self.advantage_image = pg.ImageItem(axisOrder="row-major")
        self.advantage_image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.advantage_plot.setRange(xRange=(-BOUND, BOUND), yRange=(-BOUND, BOUND), padding=0.02)
        self.advantage_plot.addItem(self.advantage_image)
        radius = float(np.hypot(*ADVANTAGE_DISPLACEMENT))
        turn = np.linspace(-np.pi, np.pi, 121)
        self.advantage_plot.plot(radius * np.cos(turn), radius * np.sin(turn),
                                 pen=pg.mkPen("#FF6060", width=1.5, style=Qt.PenStyle.DashLine))
        self.offset_plot = self.graphics.addPlot(row=1, col=0, title="offset e")
        axis = self.offset_plot.getAxis("bottom")
        axis.setTicks([list(enumerate(self._short_names()))])
        small = QFont()
        small.setPointSizeF(max(6.0, 0.75 * small.pointSizeF()))  # seven names in a narrow dock
        axis.setStyle(tickFont=small)
        self.offset_plot.addLine(y=0, pen=pg.mkPen("#808080"))
        self.bars = pg.BarGraphItem(x=np.arange(len(self.names)), height=np.zeros(len(self.names)),
                                    width=0.7, brush=task_colour(4))
        self.offset_plot.addItem(self.bars)
        self.return_plot = self.graphics.addPlot(row=1, col=1, title="mean return")
        self.return_plot.setLabel("bottom", "meta-step")
        self.return_plot.addLegend(offset=(-5, 60))  # between the two curves
        self.curves["before"] = self.return_plot.plot(pen=pg.mkPen(BEFORE_COLOUR, width=2),
                                                      name="before adaptation")
        self.curves["after"] = self.return_plot.plot(pen=pg.mkPen(task_colour(2), width=2),
                                                     name="after adaptation")
        if not learned:
            self.advantage_plot.setTitle("no learned A_ψ (DR, MAML-RL)")
            self.offset_plot.setTitle("no offset e (DR, MAML-RL)")

    def _short_names(self) -> list[str]:
        if len(self.names) > 12:  # an MLP policy: number the bars, name every fifth
            return [str(i) if i % 5 == 0 else "" for i in range(len(self.names))]
        return [n.replace("log_sigma", "log σ") for n in self.names]

    def show_records(self, records, progress: float | None = None) -> None:
        """Draw the newest demonstration and curves of ``records`` (oldest first); with
        ``progress`` in [0, 1] the adapted paths are drawn only that far (animation)."""
        if not records or self.plane is None:
            return
        record = records[-1]
        demo = latest_with(records, "demo_pre")
        if demo is not None:
            d = demo.diagnostics
            pre, post = np.asarray(d["demo_pre"]), np.asarray(d["demo_post"])
            shown = post.shape[1] if progress is None else \
                int(np.clip(np.ceil(progress * post.shape[1]), 1, post.shape[1]))
            for i, (before, after) in enumerate(zip(self.pre_paths, self.post_paths)):
                if i < len(pre):
                    before.setData(pre[i, :, 0], pre[i, :, 1])
                    after.setData(post[i, :shown, 0], post[i, :shown, 1])
            self.angles = ", ".join(f"{np.degrees(a):+.0f}°" for a in d["demo_angles"])
            self.plane.setTitle(f"paths · step {demo.step}")
        if self.has_advantage:
            shown_map = latest_with(records, "advantage_map")
            if shown_map is not None:
                values = np.asarray(shown_map.diagnostics["advantage_map"])
                self.advantage_image.setImage(values, autoLevels=True)
                self.advantage_image.setRect(-BOUND, -BOUND, 2 * BOUND, 2 * BOUND)  # after setImage
                dx, dy = ADVANTAGE_DISPLACEMENT
                self.advantage_plot.setTitle(f"A_ψ(s′ = ({dx:g}, {dy:g}), s = 0, a)")
                self.advantage_range = (float(values.min()), float(values.max()))
            if "offset" in record.diagnostics:
                self.bars.setOpts(height=np.asarray(record.diagnostics["offset"]))
        steps = np.array([r.step for r in records], dtype=float)
        before = np.array([-float(np.mean(r.loss_before)) for r in records])
        after = np.array([-float(np.mean(r.loss_after)) for r in records])
        self.curves["before"].setData(steps, before)
        self.curves["after"].setData(steps, after)
        sigma = float(np.exp(record.diagnostics["log_sigma"][0])) if "log_sigma" in record.diagnostics \
            else float("nan")
        self.summary.setText(
            f"step {record.step}: mean return {before[-1]:.2f} before, {after[-1]:.2f} after "
            f"adaptation   ·   policy σ {sigma:.3g}"
            + (f"   ·   ‖e‖ {np.linalg.norm(record.diagnostics['offset']):.3g}"
               if "offset" in record.diagnostics else "")
            + (f"   ·   A_ψ {self.advantage_range[0]:.2f} … {self.advantage_range[1]:.2f}"
               if self.has_advantage and self.advantage_range else "")
            + f"\npaths of rotations {self.angles}: dashed before adaptation, solid after; "
            "A_ψ over actions a, red: the actions a rotation could turn into s′")
