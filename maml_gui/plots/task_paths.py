"""Every task's inner path in one pyqtgraph item, each in its own colour.

Twenty-five ``PlotCurveItem``s (one per task, Finn's sinusoid meta-batch) cost 25
``setData`` calls, 25 bounding-box computations and 25 paint calls per frame, and the
view box asks each of them for its bounds again on every change: at 30 frames a second
that was most of a frame's budget. :class:`TaskPaths` holds all the paths as one
NaN-separated polyline (one ``setData``, one bounding box, one ``paint``) and keeps a pen
per task, so the picture is the one the separate curves drew: each path is stroked with
its own pen, in task order, as ``connect="finite"`` curves are (a non-finite point breaks
its path; no line ever joins one task's end to the next task's start).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as fn
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPainterPath, QPen, QPolygonF

CLICK_PIXELS = 4.0  # a click this close (in screen pixels) to a path selects its task


class TaskPaths(pg.GraphicsObject):
    """``n`` polylines, one pen each, drawn and updated as one item.

    Parameters
    ----------
    pens : one (cosmetic) pen per task, in task order (later tasks are drawn on top).
    """

    sigClicked = Signal(object, object)
    """A path was clicked: ``(self, event)``; :attr:`task_index` is the task clicked."""

    def __init__(self, pens: list[QPen]):
        super().__init__()
        self._pens = list(pens)
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._starts = np.zeros(len(self._pens) + 1, dtype=int)  # task i: [starts[i], starts[i+1])
        self._shapes: list[QPolygonF | QPainterPath | None] = [None] * len(self._pens)
        self._bounds: tuple[float, float, float, float] | None = None
        self.task_index: int | None = None
        self.antialias: bool | None = None  # None: pyqtgraph's configured default

    @property
    def n_tasks(self) -> int:
        return len(self._pens)

    # --- data ---------------------------------------------------------------------------
    def set_paths(self, points: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Show the first ``counts[i]`` points of ``points[i]`` (``(n, P, 2)``) as task i's
        path (``counts`` None: every point). Tasks beyond ``len(points)`` show nothing."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, *np.shape(points)[-2:]) \
            if np.size(points) else np.zeros((0, 0, 2))
        n = min(len(points), self.n_tasks)
        full = points.shape[1] if points.ndim == 3 else 0
        counts = np.full(n, full) if counts is None else np.clip(
            np.asarray(counts, dtype=int)[:n], 0, full)
        lengths = np.zeros(self.n_tasks, dtype=int)
        lengths[:n] = counts
        self._starts = np.concatenate([[0], np.cumsum(lengths + 1)])  # +1: the NaN separator
        xy = np.full((int(self._starts[-1]), 2), np.nan)
        # the drawn points of every task at once: row j of task i sits at starts[i] + j
        shown = np.arange(full)[None, :] < lengths[:n, None] if n else np.zeros((0, 0), bool)
        xy[(self._starts[:n, None] + np.arange(full)[None, :])[shown]] = points[:n][shown]
        self._x, self._y = xy[:, 0], xy[:, 1]
        finite = np.isfinite(self._x) & np.isfinite(self._y)
        # a task whose points include a non-finite one (besides its NaN separator)
        broken = np.add.reduceat((~finite).astype(np.intp), self._starts[:-1]) > 1 \
            if len(finite) else np.zeros(self.n_tasks, bool)
        self._shapes = [None if lengths[i] == 0 else
                        self._path(i) if broken[i] else self._polygon(i)
                        for i in range(self.n_tasks)]
        self._bounds = None if not finite.any() else (
            float(self._x[finite].min()), float(self._x[finite].max()),
            float(self._y[finite].min()), float(self._y[finite].max()))
        self.prepareGeometryChange()
        self.update()

    def clear(self) -> None:
        self.set_paths(np.zeros((0, 0, 2)))

    def _polygon(self, i: int) -> QPolygonF:
        """Task ``i``'s path as a polygon filled in place through numpy (9 µs of CPU for a
        2-point path where a QPainterPath took 36, and every frame builds all of them)."""
        x, y = self.task_data(i)
        polygon = fn.create_qpolygonf(len(x))
        points = fn.ndarray_from_qpolygonf(polygon)
        points[:, 0], points[:, 1] = x, y
        return polygon

    def _path(self, i: int) -> QPainterPath:
        """Task ``i``'s path where a non-finite point breaks it: what a ``connect="finite"``
        curve draws."""
        return fn.arrayToQPath(*self.task_data(i), connect="finite")

    def task_data(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Task ``i``'s drawn points ``(x, y)`` (views: do not modify)."""
        start, end = int(self._starts[i]), int(self._starts[i + 1]) - 1
        return self._x[start:end], self._y[start:end]

    def getData(self) -> tuple[np.ndarray, np.ndarray]:
        """Every path's points, tasks separated by a NaN point (as pyqtgraph curves' getData)."""
        return self._x, self._y

    # --- pens ---------------------------------------------------------------------------
    def set_pens(self, pens: list[QPen]) -> None:
        """New pens (e.g. a highlighted task); the number of tasks stays."""
        if len(pens) != self.n_tasks:
            raise ValueError(f"{len(pens)} pens for {self.n_tasks} tasks")
        self._pens = list(pens)
        self.prepareGeometryChange()  # the widest pen sets the bounding box's margin
        self.update()

    def pen(self, i: int) -> QPen:
        return self._pens[i]

    # --- QGraphicsItem ------------------------------------------------------------------
    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        if self._bounds is None:
            return (None, None)
        return self._bounds[:2] if ax == 0 else self._bounds[2:]

    def _pixel_padding(self) -> tuple[float, float]:
        """Half the widest pen, in data units along x and y (cosmetic pens are in pixels)."""
        width = max((p.widthF() for p in self._pens), default=1.0) * 0.7072 + 1.0
        px, py = self.pixelVectors()
        if px is None or py is None:
            return 0.0, 0.0
        return width * px.length(), width * py.length()

    def boundingRect(self) -> QRectF:
        if self._bounds is None:
            return QRectF()
        x0, x1, y0, y1 = self._bounds
        dx, dy = self._pixel_padding()
        return QRectF(x0 - dx, y0 - dy, x1 - x0 + 2 * dx, y1 - y0 + 2 * dy)

    def viewTransformChanged(self) -> None:
        self.prepareGeometryChange()  # the pixel margin of the bounding box changed

    def paint(self, painter, *_args) -> None:
        export = self._exportOpts
        on_screen = pg.getConfigOption("antialias") if self.antialias is None else self.antialias
        painter.setRenderHint(painter.RenderHint.Antialiasing,
                              export.get("antialias", True) if export is not False
                              else bool(on_screen))
        for shape, pen in zip(self._shapes, self._pens):
            if isinstance(shape, QPolygonF):
                painter.setPen(pen)
                painter.drawPolyline(shape)
            elif shape is not None:
                painter.setPen(pen)
                painter.drawPath(shape)

    # --- clicks -------------------------------------------------------------------------
    def task_at(self, pos: QPointF, pixels: float = CLICK_PIXELS) -> int | None:
        """The task whose path passes within ``pixels`` screen pixels of ``pos`` (data
        coordinates); the nearest one, the later task on ties (it is drawn on top)."""
        px, py = self.pixelVectors()
        if px is None or py is None or px.length() == 0 or py.length() == 0:
            return None
        sx, sy = px.length(), py.length()
        best, best_distance = None, pixels
        for i in range(self.n_tasks):
            x, y = self.task_data(i)
            distance = _distance_to_polyline((x - pos.x()) / sx, (y - pos.y()) / sy)
            if distance <= best_distance:
                best, best_distance = i, distance
        return best

    def mouseClickEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.task_at(event.pos())
        if index is None:
            event.ignore()  # leave it to the items (or the view) below
            return
        event.accept()
        self.task_index = index
        self.sigClicked.emit(self, event)


def _distance_to_polyline(x: np.ndarray, y: np.ndarray) -> float:
    """Distance from the origin to the polyline through ``(x, y)`` (NaN points break it)."""
    if len(x) == 0:
        return np.inf
    points = np.column_stack([x, y])
    finite = np.all(np.isfinite(points), axis=1)
    nearest = np.min(np.hypot(points[finite, 0], points[finite, 1]), initial=np.inf)
    a, b = points[:-1], points[1:]
    keep = finite[:-1] & finite[1:]
    a, b = a[keep], b[keep]
    if len(a):
        d = b - a
        length2 = np.maximum(np.sum(d * d, axis=1), 1e-300)
        t = np.clip(-np.sum(a * d, axis=1) / length2, 0.0, 1.0)
        closest = a + t[:, None] * d
        nearest = min(nearest, float(np.min(np.hypot(closest[:, 0], closest[:, 1]))))
    return float(nearest)


__all__ = ["CLICK_PIXELS", "TaskPaths"]
