"""The landscape as a publication figure, built off screen whatever the screen's theme.

A :class:`LandscapeFigure` is a :class:`~maml_gui.widgets.landscape_canvas.LandscapeCanvas`
in the light :data:`~maml_gui.palette.PUBLICATION` theme, with its control bar hidden,
laid out at the figure's size without appearing on screen. Its surface is computed in the
calling thread (float64), so what is written is always the finished picture: heatmap,
contours, colour bar, θ's trail, every task's inner path, the meta-gradient arrows, the
task optima, a legend, axis labels and a title naming the surface and the meta-step.

>>> with LandscapeFigure(config, size=(900, 700)) as figure:      # doctest: +SKIP
...     figure.show(snapshot)
...     figure.render("fig.pdf")

:func:`export_landscape_image` does that in one call, from a config (it runs the meta-steps)
or from a snapshot (the window's current state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from maml_gui.core.animation import Frame
from maml_gui.core.config import Config
from maml_gui.core.trace import StepRecord
from maml_gui.export import ExportError, check_size
from maml_gui.export.images import (
    config_metadata, flush_layout, prepare_widget, render_rgb, widget_painter, write_image,
)
from maml_gui.palette import PUBLICATION, Theme

DEFAULT_SIZE = (900, 700)
GRID = 400  # landscape resolution of 2-parameter figures (a 900-pixel plot: ~2 pixels a cell)
GRID_ANIMATION = 200  # per frame, and recomputed whenever θ moves an iMAML surface
GRID_DATA = 200  # exported grids
GRID_PLANE = 48  # planes through an MLP cost ~0.25 ms a point
TITLE_SIZE = "9pt"  # as the canvas draws it
TITLE_MARGIN = 16  # pixels left free beside the title
LEGEND_OFFSET = 8  # pixels between the legend and the plot's edges
LEGEND_MARGIN = 12  # pixels kept clear around the legend when counting hidden points
ALGORITHM_NAMES = {"maml": "MAML", "fomaml": "FOMAML", "reptile": "Reptile", "imaml": "iMAML",
                   "tr_maml": "TR-MAML", "pretrain": "pretraining"}


def frame_caption(record: StepRecord | None, frame: Frame | None, total_steps: int | None = None,
                  algorithm: str = "") -> str:
    """What a frame shows, in words: ``MAML · meta-step 3 of 60 · task 1: inner step 2 of 5``."""
    name = ALGORITHM_NAMES.get(algorithm, algorithm)
    if record is None:
        return f"{name} · θ₀ (before training)"
    of = f" of {total_steps}" if total_steps else ""
    parts = [name, f"meta-step {record.step + 1}{of}"]
    if frame is not None:
        k = record.inner_steps
        who = "all tasks" if frame.task is None else f"task {frame.task}"
        parts.append({
            "sample": "θ and the tasks",
            "inner": f"{who}: inner step {frame.inner_step} of {k}",
            "cg": f"{who}: conjugate-gradient iteration {frame.cg_iteration}",
            "task_grad": f"{who}: meta-gradient",
            "aggregate": "mean meta-gradient",
            "update": "meta-update θ → θ′",
            "weights": "task weights updated",
        }[frame.phase])
    return " · ".join(p for p in parts if p)


def _wrap(text: str, width: float) -> str:
    """Break ``text`` at spaces into lines at most ``width`` pixels wide in the title's font
    (a title wider than the figure would push the colour bar out of it)."""
    from PySide6.QtGui import QFont, QFontMetricsF

    font = QFont()
    font.setPointSizeF(float(TITLE_SIZE[:-2]))
    metrics = QFontMetricsF(font)
    lines: list[str] = []
    for word in text.split(" "):
        if lines and metrics.horizontalAdvance(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


class LandscapeFigure:
    """An off-screen, publication-themed landscape canvas at a fixed size.

    Parameters
    ----------
    config : the run's config (tasks, algorithm, hyper-parameters).
    size : figure size in logical pixels ``(width, height)``.
    surface : ``meta``, ``mean``, ``task:I`` or ``imaml:I`` (default: the canvas's choice,
        the meta-objective when the algorithm has one).
    log_scale : colour by log₁₀ of the loss.
    view_range : ``(xmin, xmax, ymin, ymax)`` of the plot (default: the tasks' region).
    resolution : grid points per side of the landscape (default ``grid_2d`` for
        2-parameter families, 48 on MLP planes).
    grid_2d : the default resolution of 2-parameter surfaces (400).
    plane : ``pca``, ``random`` or ``axes``: the plane through a model with more than two
        parameters (default pca).
    theme : :data:`~maml_gui.palette.PUBLICATION` unless you want the screen look.
    caption : add a line under the title naming the meta-step and the animation phase.

    Close it (or use ``with``): the canvas owns a landscape thread.
    """

    def __init__(self, config: Config, *, size: tuple[int, int] = DEFAULT_SIZE,
                 surface: str | None = None, log_scale: bool = False,
                 view_range: Sequence[float] | None = None, resolution: int | None = None,
                 plane: str | None = None, theme: Theme = PUBLICATION, caption: bool = True,
                 grid_2d: int = GRID, dtype: torch.dtype = torch.float64):
        from maml_gui.core.landscape import LandscapeError, check_grid
        from maml_gui.widgets.landscape_canvas import LandscapeCanvas

        self.config = config
        self.size = check_size(size)
        self.theme = theme
        self.caption = caption
        self.dtype = dtype
        if view_range is not None:
            xmin, xmax, ymin, ymax = (float(v) for v in view_range)
            check_grid(2, (xmin, xmax), (ymin, ymax))  # finite, min below max
            view_range = (xmin, xmax, ymin, ymax)
        self.canvas = LandscapeCanvas(config, theme=theme)
        try:
            canvas = self.canvas
            canvas.set_figure_mode(True)
            canvas.set_interactive(False)
            if surface is not None:
                try:
                    canvas.set_surface(surface)
                except LandscapeError:
                    from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks

                    # the evaluator's message says why (index out of range, no meta surface)
                    LandscapeEvaluator(config, landscape_tasks(config)).check(surface)
                    raise
            canvas.set_log_scale(log_scale)
            if plane is not None:
                if canvas.plane_box.findText(plane) < 0:
                    raise ExportError(f"plane {plane!r}: use pca, random or axes")
                canvas.plane_box.setCurrentText(plane)
            self.resolution = resolution or (grid_2d if canvas.plane is None else GRID_PLANE)
            check_grid(self.resolution, (0.0, 1.0), (0.0, 1.0))
            prepare_widget(canvas, self.size)
            self._view_range = view_range
            self._apply_view()
            self._title = ""
            self._current_caption = ""
            self._legend_locked = False
            self.refresh()
        except BaseException:
            self.close()
            raise

    # --- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Stop the canvas's landscape thread and delete it."""
        canvas = getattr(self, "canvas", None)
        if canvas is None:
            return
        self.canvas = None
        canvas.shutdown()
        canvas.close()
        canvas.deleteLater()

    def __enter__(self) -> "LandscapeFigure":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what it shows ----------------------------------------------------------------
    @property
    def plot_widget(self):
        return self.canvas.plot_widget

    def _apply_view(self) -> None:
        if self._view_range is None:
            self.canvas.fit_view()
        else:
            xmin, xmax, ymin, ymax = self._view_range
            self.canvas.view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)

    def show(self, snapshot, *, total_steps: int | None = None) -> None:
        """Draw ``snapshot`` (a :class:`~maml_gui.runtime.run_controller.Snapshot`) and bring
        the landscape up to date (θ-dependent surfaces are recomputed)."""
        canvas = self.canvas
        canvas.show_snapshot(snapshot)
        self._current_caption = frame_caption(snapshot.record, snapshot.frame, total_steps,
                                              snapshot.config.algorithm) if self.caption else ""
        self.refresh()

    def place_legend(self) -> None:
        """Move the legend to the plot corner that hides the fewest drawn points (θ's trail,
        the inner paths, the optima, θ). Call :meth:`lock_legend` to keep it there."""
        if self._legend_locked:
            return
        canvas = self.canvas
        points = []
        for item in [canvas.trail, *canvas.paths]:
            x, y = item.getData()
            if x is not None and len(x):
                points.append(np.column_stack([x, y]))
        for marker in [*canvas.optima, canvas.theta_handle]:
            points.append(np.array([[marker.pos().x(), marker.pos().y()]]))
        uv = np.concatenate(points) if points else np.zeros((0, 2))
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        (x0, x1), (y0, y1) = canvas.view.viewRange()
        px, py = canvas.view.viewPixelSize()
        rect = canvas.legend.boundingRect()
        w, h = (rect.width() + LEGEND_MARGIN) * px, (rect.height() + LEGEND_MARGIN) * py
        best, best_count = None, None
        for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):  # top-left first on ties
            left = x0 if sx > 0 else x1 - w
            top = y1 if sy > 0 else y0 + h  # y grows upwards in the view
            inside = ((uv[:, 0] >= left) & (uv[:, 0] <= left + w)
                      & (uv[:, 1] <= top) & (uv[:, 1] >= top - h))
            count = int(np.count_nonzero(inside))
            if best_count is None or count < best_count:
                best, best_count = (sx * LEGEND_OFFSET, sy * LEGEND_OFFSET), count
        canvas.legend.setOffset(best)

    def lock_legend(self, locked: bool = True) -> None:
        """Keep the legend where it is (animations: it must not jump between frames)."""
        self._legend_locked = locked

    def refresh(self) -> None:
        """Compute the surface now if what is shown is not the finished one; lay out."""
        canvas = self.canvas
        for _ in range(4):  # a relayout can move the view and ask for a new surface
            if not canvas.landscape_complete():
                # also stops the canvas's debounce timer: no worker result can replace this
                canvas.compute_landscape_now(self.resolution, self.dtype)
                self._title = canvas.plot.titleLabel.text
            self._set_title()
            flush_layout()
            for arrows in [*canvas.task_arrows, canvas.aggregate_arrow]:
                arrows.redraw()  # heads in pixels: at the final geometry
            self.place_legend()
            flush_layout()
            if canvas.landscape_complete():
                break

    def _set_title(self) -> None:
        lines = [part for part in self._title.split("<br>") if part]
        if self._current_caption:
            lines.append(self._current_caption)
        plot = self.canvas.plot
        # the title spans the plot's column only: not the left axis, not the colour bar
        width = (self.size[0] - plot.getAxis("left").width() - self.canvas.colour_bar.width()
                 - TITLE_MARGIN)
        title = "<br>".join(_wrap(line, max(width, 60.0)) for line in lines)
        if plot.titleLabel.text != title:
            plot.setTitle(title, color=self.theme.foreground, size=TITLE_SIZE)
            # pyqtgraph fixes the title row at 30 pixels: make room for every line
            height = max(30.0, plot.titleLabel.item.boundingRect().height() + 4)
            plot.titleLabel.setMaximumHeight(height)
            plot.layout.setRowFixedHeight(0, height)

    def view_state(self) -> dict:
        """What the figure shows, as a session file's ``view`` (embedded in every export)."""
        canvas = self.canvas
        (x0, x1), (y0, y1) = canvas.view.viewRange()
        view = {"surface": canvas.surface_name, "log_scale": canvas.log_box.isChecked(),
                "range": [float(x0), float(x1), float(y0), float(y1)]}
        if canvas.plane is not None:
            view["plane"] = canvas.plane_box.currentText()
        return view

    # --- output ---------------------------------------------------------------------
    def _painter(self, transparent: bool = False):
        paint, scenes, _ = widget_painter(self.canvas.plot_widget, transparent)
        return paint, scenes

    def render(self, path: str | Path, *, scale: float = 1.0, transparent: bool = False,
               metadata: Mapping[str, str] | None = None) -> Path:
        """Write the figure to ``path`` (.png, .svg or .pdf) with the config and the view
        embedded (see :func:`~maml_gui.export.images.config_metadata`)."""
        paint, scenes = self._painter(transparent)
        if metadata is None:
            metadata = config_metadata(self.config, self.view_state())
        title = " · ".join(part for part in (*self._title.split("<br>"), self._current_caption)
                           if part) or "maml-gui landscape"
        return write_image(paint, path, self.size, scale, transparent, self.theme.background,
                           title, metadata, scenes)

    def frame(self, scale: float = 1.0) -> np.ndarray:
        """The figure as an ``(H·scale, W·scale, 3)`` uint8 array."""
        paint, scenes = self._painter()
        return render_rgb(paint, self.size, scale, background=self.theme.background,
                          scenes=scenes)


def export_landscape_image(path: str | Path, config: Config, *, snapshot=None,
                           records: Sequence[StepRecord] | None = None, step: int | None = None,
                           size: tuple[int, int] = DEFAULT_SIZE, scale: float = 1.0,
                           transparent: bool = False, surface: str | None = None,
                           log_scale: bool = False, view_range: Sequence[float] | None = None,
                           resolution: int | None = None, plane: str | None = None,
                           theme: Theme = PUBLICATION, caption: bool = True) -> Path:
    """Write a landscape figure to ``path`` (.png, .svg, .pdf).

    Give the state to draw as one of: ``snapshot`` (e.g. the window's current one),
    ``records`` (a run's steps; ``step`` picks which meta-step, default the last), or
    neither (θ₀ before training). For the window's "Export figure…" action::

        export_landscape_image(path, controller.config, snapshot=current_snapshot,
                               surface=canvas.surface_name, log_scale=canvas.log_box.isChecked(),
                               view_range=[*canvas.view.viewRange()[0],
                                           *canvas.view.viewRange()[1]],
                               plane=canvas.plane_box.currentText() if canvas.plane else None,
                               size=(900, 700), scale=2)
    """
    if snapshot is None:
        snapshot = snapshot_at(config, records or [], step)
    total = len(records) if records else None
    with LandscapeFigure(config, size=size, surface=surface, log_scale=log_scale,
                         view_range=view_range, resolution=resolution, plane=plane,
                         theme=theme, caption=caption) as figure:
        figure.show(snapshot, total_steps=total)
        return figure.render(path, scale=scale, transparent=transparent)


def snapshot_at(config: Config, records: Sequence[StepRecord], step: int | None = None, *,
                frame_index: int | None = None, order: str = "auto"):
    """A snapshot of meta-step ``step`` of ``records`` (default the last; its trail is the
    steps up to it), at ``frame_index`` (default its last frame: the finished step)."""
    from maml_gui.core.history import RunHistory
    from maml_gui.core.tasks import make_family
    from maml_gui.runtime.offline import snapshot_of

    history = RunHistory(make_family(config).param_dim)
    if not records:
        return snapshot_of(config, history)
    index = len(records) - 1 if step is None else _step_index(records, step)
    for record in records[: index + 1]:
        history.append(record)
    return snapshot_of(config, history, records[index], frame_index=frame_index, order=order)


def _step_index(records: Sequence[StepRecord], step: int) -> int:
    if not 0 <= step < len(records):
        raise ExportError(f"step {step} is out of range: the run has meta-steps 0 … "
                          f"{len(records) - 1}")
    return step


__all__ = ["DEFAULT_SIZE", "LandscapeFigure", "export_landscape_image", "frame_caption",
           "snapshot_at"]