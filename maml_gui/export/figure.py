"""The landscape as a publication figure, built off screen whatever the screen's theme.

A :class:`LandscapeFigure` builds its own
:class:`~maml_gui.plots.landscape.LandscapePlot` (the item the window's canvas shows)
in the light :data:`~maml_gui.palette.PUBLICATION` theme from a view state, laid out at the
figure's size without appearing on screen; the live window is never involved. Its surface
is computed in the calling thread (float64), so what is written is always the finished
picture: heatmap,
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
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch

from maml_gui.core.algorithms import algorithm_label
from maml_gui.core.animation import Frame
from maml_gui.core.config import Config
from maml_gui.core.landscape import PLANE_GRID
from maml_gui.core.trace import StepRecord
from maml_gui.export import ExportError, check_size
from maml_gui.export.images import (
    config_metadata, flush_layout, prepare_widget, render_rgb, widget_painter, write_image,
)
from maml_gui.palette import PUBLICATION, Theme

if TYPE_CHECKING:
    from maml_gui.core.landscape import Plane
    from maml_gui.view import LandscapeState

DEFAULT_SIZE = (900, 700)
GRID = 400  # landscape resolution of 2-parameter figures (a 900-pixel plot: ~2 pixels a cell)
GRID_ANIMATION = 200  # per frame, and recomputed whenever θ moves an iMAML surface
GRID_DATA = 200  # exported grids
GRID_PLANE = PLANE_GRID  # the canvas's full grid of a plane
TITLE_SIZE = "9pt"  # as the canvas draws it
TITLE_MARGIN = 16  # pixels left free beside the title


def frame_caption(record: StepRecord | None, frame: Frame | None, total_steps: int | None = None,
                  algorithm: str = "") -> str:
    """What a frame shows, in words: ``MAML · meta-step 3 of 60 · task 1: inner step 2 of 5``."""
    name = algorithm_label(algorithm)
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
    """An off-screen, publication-themed landscape figure at a fixed size.

    It builds its own :class:`~maml_gui.plots.landscape.LandscapePlot` from the state
    given here (no live window, no worker thread) and computes every surface in the calling
    thread.

    Parameters
    ----------
    config : the run's config (tasks, algorithm, hyper-parameters).
    size : figure size in logical pixels ``(width, height)``.
    surface : ``meta``, ``mean``, ``task:I`` or ``imaml:I`` (default: the meta-objective
        when the algorithm has one, else the mean loss).
    log_scale : colour by log₁₀ of the loss (default None: log for models with more than two
        parameters, whose loss spans decades).
    view_range : ``(xmin, xmax, ymin, ymax)`` of the plot (default: the tasks' region).
    resolution : grid points per side of the landscape (default ``grid_2d`` for
        2-parameter families, 48 on MLP planes).
    grid_2d : the default resolution of 2-parameter surfaces (400).
    plane : ``pca``, ``random`` or ``axes``: the plane through a model with more than two
        parameters (default pca).
    theme : :data:`~maml_gui.palette.PUBLICATION` unless you want the screen look.
    caption : add a line under the title naming the meta-step and the animation phase.
    state : a :class:`~maml_gui.view.LandscapeState` (e.g. the window's) whose drawn items
        (trail, paths, arrows, optima, legend), selected task and random plane's seed the
        figure uses; the surface, colour scale, range and plane are the arguments above.
    shown_plane : the exact :class:`~maml_gui.core.landscape.Plane` to draw (e.g. the window's
        canvas's: a random plane chosen mid-run is centred where θ was then); None: fitted
        here as the canvas would from θ₀, refitting a PCA plane as the path grows.
    arrow_scale : the meta-gradient arrows' scale to keep while it fits (the window's: the
        canvas holds a round scale from frame to frame); None: rounded here.

    Close it (or use ``with``) to free its off-screen widget.
    """

    def __init__(self, config: Config, *, size: tuple[int, int] = DEFAULT_SIZE,
                 surface: str | None = None, log_scale: bool | None = None,
                 view_range: Sequence[float] | None = None, resolution: int | None = None,
                 plane: str | None = None, theme: Theme = PUBLICATION, caption: bool = True,
                 grid_2d: int = GRID, dtype: torch.dtype = torch.float64,
                 state: "LandscapeState | None" = None, shown_plane: "Plane | None" = None,
                 arrow_scale: float | None = None):
        import pyqtgraph as pg

        from maml_gui.core.landscape import (
            LandscapeError, LandscapeEvaluator, check_grid, landscape_tasks, surface_names,
        )
        from maml_gui.core.tasks import make_family
        from maml_gui.core.training import initial_theta
        from maml_gui.view import LandscapeState
        from maml_gui.view.projection import Projection
        from maml_gui.plots.landscape import LandscapePlot

        self.config = config
        self.size = check_size(size)
        self.theme = theme
        self.caption = caption
        self.dtype = dtype
        if view_range is not None:
            xmin, xmax, ymin, ymax = (float(v) for v in view_range)
            check_grid(2, (xmin, xmax), (ymin, ymax))  # finite, min below max
            view_range = (xmin, xmax, ymin, ymax)
        if plane is not None and plane not in ("pca", "random", "axes"):
            raise ExportError(f"plane {plane!r}: use pca, random or axes")
        self._family = make_family(config)  # with B-SMALL's and MetaNAS's parameter blocks
        self._tasks = landscape_tasks(config)
        names = surface_names(self._tasks.n, config.algorithm)
        if surface is None:
            surface = "meta" if "meta" in names else "mean"
        elif surface not in names:
            # the evaluator's message says why (index out of range, no meta surface)
            LandscapeEvaluator(config, self._tasks).check(surface)
            raise LandscapeError(f"no surface {surface!r} here")
        self.state = (state or LandscapeState()).replace(
            surface=surface, log_scale=log_scale, plane=plane or "pca",
            range=list(view_range) if view_range else None)
        self.projection = Projection(self._family, self.state.plane,
                                     self.state.plane_seed_for(config.seed))
        self._theta0 = initial_theta(config)
        self.projection.fit(np.atleast_2d(self._theta0))
        self._fixed_plane = shown_plane is not None and self.projection.plane is not None
        if self._fixed_plane:
            if shown_plane.centre.shape != self._theta0.shape:
                raise ExportError(f"the plane has {shown_plane.centre.size} coordinates; this "
                                  f"model has {self._theta0.size} parameters")
            self.projection.plane = shown_plane
        self._plane_steps = 0
        self.resolution = resolution or (grid_2d if self.projection.plane is None else GRID_PLANE)
        check_grid(self.resolution, (0.0, 1.0), (0.0, 1.0))
        self.widget = pg.PlotWidget(background=theme.background)
        try:
            self.drawing = LandscapePlot(theme, self.widget.getPlotItem())
            n = self._family.tasks_per_step() if self._family.pool_size() is None else self._tasks.n
            optima = self._family.optima(self._tasks)
            self.drawing.set_tasks(n, None if optima is None else optima.numpy())
            self.drawing.apply_state(self.state)
            self.drawing.theta_handle.movable = False
            if arrow_scale:  # the window's: its legend's ×s, while it fits this view's arrows
                self.drawing.arrow_scale = float(arrow_scale)
                self.drawing.hold_arrow_scale = True
            prepare_widget(self.widget, self.size)
            self._snapshot = None
            self._anchor, self._weights = self._theta0, None
            self._surface = None
            self._surface_key: tuple | None = None
            self._levels: tuple[tuple | None, tuple[float, float] | None] = (None, None)
            self._title = ""
            self._current_caption = ""
            self._legend_locked = False
            self.drawing.show_theta0(self._theta0, self.projection)
            self._apply_view()
            self.refresh()
        except BaseException:
            self.close()
            raise

    # --- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Delete the off-screen widget."""
        widget = getattr(self, "widget", None)
        if widget is None:
            return
        self.widget = None
        widget.close()
        widget.deleteLater()

    def __enter__(self) -> "LandscapeFigure":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what it shows ----------------------------------------------------------------
    @property
    def plot_widget(self):
        return self.widget

    @property
    def shown_surface(self):
        """The surface drawn (a :class:`~maml_gui.core.landscape.Surface`)."""
        return self._surface

    @property
    def plane(self):
        """The plane shown for models with more than two parameters (None otherwise)."""
        return self.projection.plane

    def _apply_view(self) -> None:
        from maml_gui.view.projection import fit_range

        xmin, xmax, ymin, ymax = self.state.range or fit_range(
            self.projection, self._tasks, self._theta0, self._snapshot)
        self.drawing.view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)

    def show(self, snapshot, *, total_steps: int | None = None) -> None:
        """Draw ``snapshot`` (a :class:`~maml_gui.runtime.run_controller.Snapshot`) and bring
        the landscape up to date (θ-dependent surfaces are recomputed)."""
        from maml_gui.core.animation import visible

        self._snapshot = snapshot
        record = snapshot.record
        if record is None:
            self.drawing.show_theta0(self._theta0, self.projection)
            self._anchor, self._weights = self._theta0, None
        else:
            self._maybe_refit_plane(snapshot)
            self.drawing.show_snapshot(snapshot, self.projection)
            updated = visible(record, snapshot.frame).updated
            self._anchor = record.theta_next if updated else record.theta
            self._weights = record.diagnostics.get("task_weights_next" if updated
                                                   else "task_weights")
        self._current_caption = frame_caption(record, snapshot.frame, total_steps,
                                              snapshot.config.algorithm) if self.caption else ""
        self.refresh()

    def _maybe_refit_plane(self, snapshot) -> None:
        """Fit the PCA plane to the path as it grows (by half since the last fit), as the
        window's canvas does; a fixed range stays fixed."""
        from maml_gui.view.projection import path_points

        if self.projection.plane is None or self.state.plane != "pca" or self._fixed_plane:
            return
        steps = snapshot.history.total_steps
        if steps < 3 or (self.projection.plane.method == "pca"
                         and steps < max(1.5 * self._plane_steps, self._plane_steps + 10)):
            return
        self.projection.fit(*path_points(snapshot))
        self._plane_steps = steps
        self.drawing.place_optima(self.projection)
        if self.state.range is None:
            self._apply_view()

    def place_legend(self) -> None:
        """Move the legend to the plot corner that hides the fewest drawn points (θ's trail,
        the inner paths, the optima, θ). Call :meth:`lock_legend` to keep it there."""
        if not self._legend_locked:
            self.drawing.place_legend()

    def lock_legend(self, locked: bool = True) -> None:
        """Keep the legend where it is (animations: it must not jump between frames)."""
        self._legend_locked = locked

    def _compute_surface(self) -> None:
        """The surface for what is shown now, unless it is already drawn."""
        from maml_gui.core.landscape import LandscapeEvaluator

        (x0, x1), (y0, y1) = self.drawing.view.viewRange()
        kind = self.state.surface.split(":")[0]
        anchor = self._anchor if kind == "imaml" else None
        weights = self._weights if self.config.algorithm == "tr_maml" and kind == "meta" else None
        key = (round(x0, 12), round(x1, 12), round(y0, 12), round(y1, 12), id(self.plane),
               None if anchor is None else np.asarray(anchor).tobytes(),
               None if weights is None else np.asarray(weights).tobytes())
        if key == self._surface_key:
            return
        evaluator = LandscapeEvaluator(self.config, self._tasks, weights=weights, dtype=self.dtype)
        self._surface = evaluator.grid(self.state.surface, (x0, x1), (y0, y1), self.resolution,
                                       plane=self.plane, anchor=self._anchor)
        self._surface_key = key
        # colours stay fixed while only θ moves (an animated iMAML surface), as on screen
        levels_key = key[:5]
        levels = self._levels[1] if self._levels[0] == levels_key else None
        used = self.drawing.show_surface(
            self._surface, self.state.log_scale_for(self._family.param_dim), levels,
            axis_names=self._family.axis_names,
            plane_title=self.plane.title if self.plane is not None else "")
        self._levels = (levels_key, used)
        self._title = self.drawing.plot.titleLabel.text

    def refresh(self) -> None:
        """Compute the surface if what is shown is not the finished one; lay out."""
        for _ in range(4):  # a relayout can move the view and ask for a new surface
            before = self._surface_key
            self._compute_surface()
            self._set_title()
            flush_layout()
            self.drawing.redraw_arrows()  # heads in pixels: at the final geometry
            self.place_legend()
            flush_layout()
            self._compute_surface()
            if self._surface_key == before:
                break

    def _set_title(self) -> None:
        lines = [part for part in self._title.split("<br>") if part]
        if self._current_caption:
            lines.append(self._current_caption)
        plot = self.drawing.plot
        # the title spans the plot's column only: not the left axis, not the colour bar
        width = (self.size[0] - plot.getAxis("left").width() - self.drawing.colour_bar.width()
                 - TITLE_MARGIN)
        title = "<br>".join(_wrap(line, max(width, 60.0)) for line in lines)
        if plot.titleLabel.text != title:
            plot.setTitle(title, color=self.theme.foreground, size=TITLE_SIZE)
            # pyqtgraph fixes the title row at 30 pixels: make room for every line
            height = max(30.0, plot.titleLabel.item.boundingRect().height() + 4)
            plot.titleLabel.setMaximumHeight(height)
            plot.layout.setRowFixedHeight(0, height)

    def view_state(self):
        """What the figure shows, as a session's :class:`~maml_gui.view.WindowState`
        (embedded in every export)."""
        from maml_gui.view import WindowState

        (x0, x1), (y0, y1) = self.drawing.view.viewRange()
        return WindowState(landscape=self.state.replace(
            log_scale=self.state.log_scale_for(self._family.param_dim),
            range=[float(x0), float(x1), float(y0), float(y1)]))

    # --- output ---------------------------------------------------------------------
    def _painter(self, transparent: bool = False):
        paint, scenes, _ = widget_painter(self.widget, transparent)
        return paint, scenes

    def render(self, path: str | Path, *, scale: float = 1.0, transparent: bool = False,
               metadata: Mapping[str, str] | None = None) -> Path:
        """Write the figure to ``path`` (.png, .svg or .pdf) with the config and the view
        embedded (see :func:`~maml_gui.export.images.config_metadata`)."""
        # pyqtgraph's axes size themselves while painting: paint once unseen, lay out again
        self.frame()
        self.refresh()
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
                           log_scale: bool | None = None, view_range: Sequence[float] | None = None,
                           resolution: int | None = None, plane: str | None = None,
                           theme: Theme = PUBLICATION, caption: bool = True,
                           state: "LandscapeState | None" = None,
                           shown_plane: "Plane | None" = None,
                           arrow_scale: float | None = None) -> Path:
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
                         theme=theme, caption=caption, state=state,
                         shown_plane=shown_plane, arrow_scale=arrow_scale) as figure:
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