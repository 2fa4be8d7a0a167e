"""Small pyqtgraph building blocks shared by the canvas and the exports."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

HEAD_PIXELS = 11.0  # arrow-head length on screen
LEGEND_OFFSET = 8  # pixels between a legend and the plot's edges
LEGEND_MARGIN = 12  # pixels kept clear around a legend when counting hidden points
HEAD_ANGLE = np.deg2rad(24.0)


def pen(colour: str, width: float = 2.0, alpha: float = 1.0, dashed: bool = False):
    qcolour = QColor(colour)
    qcolour.setAlphaF(alpha)
    p = pg.mkPen(qcolour, width=width)
    p.setCosmetic(True)  # width in screen pixels whatever the zoom (and the export scale)
    if dashed:
        p.setDashPattern([4, 3])
    return p


def plain_tick_labels(axis: pg.AxisItem) -> None:
    """Tick labels in plain numbers on ``axis``, whatever its range, never an SI prefix.

    pyqtgraph's ``enableAutoSIPrefix(False)`` alone is not enough: while the axis shows a
    label it still sets a scale from the range shown at that moment (×1000 for a range
    within ±1) and, disabled, never recomputes it. A comparison built while its plot still showed the start
    hint's 0–1 range labelled its v axis 1500 where the value was 1.5."""
    axis.enableAutoSIPrefix(False)
    if axis.autoSIPrefixScale != 1.0 or axis.labelUnitPrefix:
        axis.autoSIPrefixScale = 1.0
        # the same label again, now without the prefix (and its ticks drawn anew)
        axis.setLabel(axis.labelText, units=axis.labelUnits, **axis.labelStyle)


def set_antialias(items, on: bool) -> None:
    """Antialias the curves ``items`` (``PlotDataItem`` or ``PlotCurveItem``; None skipped) on
    screen, or not. A ``PlotDataItem`` hands its own option to its curve on every
    ``setData``, so both are set. Exports antialias whatever this says."""
    for item in items:
        if item is None:
            continue
        if isinstance(item, pg.PlotDataItem):
            item.opts["antialias"] = on
            item = item.curve
        item.opts["antialias"] = on
        item.update()


def arrow_segments(tails: np.ndarray, tips: np.ndarray, pixel_size: tuple[float, float]) -> np.ndarray:
    """Shafts and two-stroke heads of arrows as segment pairs ``(6·A, 2)`` for connect="pairs".

    Heads are built in screen pixels (``pixel_size``: data units per pixel along x and y), so
    they keep their shape whatever the axes' aspect ratio. Non-finite or zero-length arrows
    are dropped.
    """
    tails = np.atleast_2d(np.asarray(tails, dtype=np.float64))
    tips = np.atleast_2d(np.asarray(tips, dtype=np.float64))
    sx, sy = (max(float(v), 1e-300) for v in pixel_size)
    delta_px = (tips - tails) / (sx, sy)
    length = np.hypot(delta_px[:, 0], delta_px[:, 1])
    keep = np.isfinite(length) & (length > 1e-9) & np.all(np.isfinite(tails), axis=1)
    if not np.any(keep):
        return np.zeros((0, 2))
    tails, tips, delta_px, length = tails[keep], tips[keep], delta_px[keep], length[keep]
    unit = delta_px / length[:, None]
    head = np.minimum(HEAD_PIXELS, 0.6 * length)[:, None]
    cos, sin = np.cos(HEAD_ANGLE), np.sin(HEAD_ANGLE)
    back = -unit
    left = np.stack([back[:, 0] * cos - back[:, 1] * sin, back[:, 0] * sin + back[:, 1] * cos], 1)
    right = np.stack([back[:, 0] * cos + back[:, 1] * sin, -back[:, 0] * sin + back[:, 1] * cos], 1)
    left_end = tips + head * left * (sx, sy)
    right_end = tips + head * right * (sx, sy)
    segments = np.stack([tails, tips, tips, left_end, tips, right_end], axis=1)
    return segments.reshape(-1, 2)


class ArrowSet:
    """Arrows in one colour drawn as a single curve item (cheap to update, vector on export)."""

    def __init__(self, plot: pg.PlotItem, colour: str, width: float = 2.5, z: float = 20,
                 outline: str | None = "#000000"):
        self.plot = plot
        self.curve = pg.PlotCurveItem(connect="pairs", pen=pen(colour, width),
                                      shadowPen=pen(outline, width + 2.0, 0.6) if outline else None,
                                      antialias=True)
        self.curve.setZValue(z)
        plot.addItem(self.curve)
        self._tails = np.zeros((0, 2))
        self._tips = np.zeros((0, 2))

    def set_arrows(self, tails: np.ndarray, tips: np.ndarray) -> None:
        self._tails = np.atleast_2d(np.asarray(tails, dtype=np.float64)).reshape(-1, 2)
        self._tips = np.atleast_2d(np.asarray(tips, dtype=np.float64)).reshape(-1, 2)
        self.redraw()

    def clear(self) -> None:
        self.set_arrows(np.zeros((0, 2)), np.zeros((0, 2)))

    def redraw(self) -> None:
        """Recompute heads for the current zoom (call when the view range changes)."""
        pixel = self.plot.getViewBox().viewPixelSize()
        segments = arrow_segments(self._tails, self._tips, pixel) if len(self._tails) else np.zeros((0, 2))
        self.curve.setData(segments[:, 0], segments[:, 1])


class SafeLegend(pg.LegendItem):
    """A legend that tolerates its view box being deleted first.

    pyqtgraph re-anchors a legend whenever its own geometry changes, reading the parent's
    bounding rectangle; when Python garbage-collects a parentless view, the view box's C++
    object can go before the legend's last geometry change, and that read raises.
    """

    def _GraphicsWidgetAnchor__geometryChanged(self):  # pyqtgraph's private anchoring slot
        try:
            super()._GraphicsWidgetAnchor__geometryChanged()
        except RuntimeError:  # "Internal C++ object (ViewBox) already deleted": nothing to place
            pass


def place_legend(legend: pg.LegendItem, view: pg.ViewBox, points: np.ndarray,
                 keep_clear: np.ndarray | None = None) -> None:
    """Move ``legend`` to the corner of ``view`` that hides the fewest of ``points`` (plot
    coordinates); each of ``keep_clear`` (e.g. θ) counts as much as all of ``points``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    keep_clear = np.zeros((0, 2)) if keep_clear is None else np.asarray(keep_clear).reshape(-1, 2)
    (x0, x1), (y0, y1) = view.viewRange()
    px, py = view.viewPixelSize()
    rect = legend.boundingRect()
    # the legend sits LEGEND_OFFSET from the edges; markers reach ~10 pixels from their point
    w = (rect.width() + LEGEND_OFFSET + LEGEND_MARGIN) * px
    h = (rect.height() + LEGEND_OFFSET + LEGEND_MARGIN) * py
    best, best_count = None, None
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):  # top-left first on ties
        left = x0 if sx > 0 else x1 - w
        top = y1 if sy > 0 else y0 + h  # y grows upwards in the view
        count = 0
        for weight, group in ((1, points), (len(points) + 1, keep_clear)):
            inside = ((group[:, 0] >= left) & (group[:, 0] <= left + w)
                      & (group[:, 1] <= top) & (group[:, 1] >= top - h))
            count += weight * int(np.count_nonzero(inside))
        if best_count is None or count < best_count:
            best, best_count = (sx * LEGEND_OFFSET, sy * LEGEND_OFFSET), count
    legend.setOffset(best)
