"""Figures of the other views (trace, comparison, function), in the publication theme.

Each figure builds its own plot items (:mod:`maml_gui.plots`) from a view state and the data
(a snapshot, a comparison's histories) in an off-screen ``GraphicsLayoutWidget`` and writes
it with :func:`maml_gui.export.images.render_widget`: no window widget is involved, text
and pens are sized in device-independent units (a ``--scale 2`` PNG is the ``--scale 1``
picture at twice the pixels), and tables are painted items (no scroll bars, no empty rows).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from maml_gui.core.config import Config
from maml_gui.export import ExportError, check_size
from maml_gui.export.images import config_metadata, flush_layout, render_widget
from maml_gui.palette import PUBLICATION, Theme
from maml_gui.view import ComparisonState, FunctionState, WindowState

FIGURE_GRID = 240  # background surfaces of exported comparisons
MARGIN = 8  # pixels around a figure's rows


@contextmanager
def figure_layout(theme: Theme = PUBLICATION) -> Iterator[pg.GraphicsLayoutWidget]:
    """An off-screen ``GraphicsLayoutWidget`` for a figure's items, closed after;
    :func:`check_fits` says when its rows need more room than the figure's size."""
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(theme.background)
    widget.ci.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
    widget.ci.setSpacing(4)
    try:
        yield widget
    finally:
        widget.close()
        widget.deleteLater()


def check_fits(widget: pg.GraphicsLayoutWidget, size: tuple[int, int], what: str) -> None:
    """:class:`ExportError` when the figure's rows (text, tables, a plot's least height)
    do not fit in ``size``."""
    flush_layout()
    needed = widget.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize)
    width, height = int(np.ceil(needed.width())), int(np.ceil(needed.height()))
    if size[0] < width or size[1] < height:
        raise ExportError(f"the {what} figure needs at least {width}x{height} "
                          f"pixels; asked for {size[0]}x{size[1]}")


def _write(widget, path, config: Config, view: WindowState, *, size, scale, transparent,
           title: str) -> Path:
    check_fits(widget, size, {"compare": "comparison"}.get(view.tab, view.tab))
    return render_widget(widget, path, size=size, scale=scale, transparent=transparent,
                         title=title, metadata=config_metadata(config, view))


def export_trace_image(path: str | Path, config: Config, snapshot, *, size: tuple[int, int],
                       scale: float = 1.0, transparent: bool = False, tab: str = "tasks") -> Path:
    """The algorithm trace (pseudo-code with the current line, and the tasks table or the
    loss curves) at ``snapshot``."""
    from maml_gui.plots.trace import TracePlot

    size = check_size(size, scale)
    with figure_layout() as widget:
        drawing = TracePlot(PUBLICATION, widget.ci, tab=tab)
        if drawing.curves is not None:
            drawing.curves.plot.setMinimumHeight(120)
        drawing.show(config, snapshot)
        return _write(widget, path, config, WindowState(tab="trace"), size=size, scale=scale,
                      transparent=transparent, title=f"maml-gui trace: {config.algorithm}")


def export_function_image(path: str | Path, config: Config, snapshot, *, size: tuple[int, int],
                          scale: float = 1.0, transparent: bool = False, task: int = 0,
                          state: FunctionState | None = None,
                          baseline_theta: np.ndarray | None = None) -> Path:
    """The function view of ``state`` (default: task ``task``, its own points) at
    ``snapshot``'s θ, fully fine-tuned; the pretrained baseline is drawn when ``state``
    asks for it and ``baseline_theta`` is given."""
    from maml_gui.plots.function import FunctionPlot, mse_line, mse_table
    from maml_gui.plots.table import TableItem
    from maml_gui.plots.text import TextBlock
    from maml_gui.view.function_data import FunctionModel

    size = check_size(size, scale)
    model = FunctionModel(config)
    if not model.has_data:
        raise ExportError(f"the {config.family} family has no data: the function view "
                          "shows softplus and sinusoid tasks")
    state = state or FunctionState(task=task)
    if not model.select(state.task):
        raise ExportError(f"task {state.task} is out of range: 0 … {model.tasks.n - 1}")
    model.apply_points(state)
    record = snapshot.record
    if record is not None:
        model.theta = np.asarray(record.theta_next, dtype=np.float64)
    elif snapshot.history.last_theta is not None:
        model.theta = np.asarray(snapshot.history.last_theta, dtype=np.float64)
    model.baseline_theta = baseline_theta
    if baseline_theta is None:
        state = state.replace(baseline=False)
    picture = model.picture(state, model.view_steps(state))
    with figure_layout() as widget:
        drawing = FunctionPlot(PUBLICATION)
        drawing.plot.setMinimumHeight(160)
        widget.ci.addItem(drawing.plot, row=0, col=0)
        summary = TextBlock(PUBLICATION.foreground, points=8.5)
        widget.ci.addItem(summary, row=1, col=0)
        table = TableItem(PUBLICATION.foreground)
        widget.ci.addItem(table, row=2, col=0)
        drawing.set_range(model.family.input_range(), model.y_range())
        drawing.show(picture)
        summary.set_text(mse_line(picture))
        table.set_data(mse_table(picture.mse, state.steps))
        return _write(widget, path, config, WindowState(tab="function", function=state),
                      size=size, scale=scale, transparent=transparent,
                      title=f"maml-gui function view: task {state.task}")


def export_comparison_image(path: str | Path, config: Config, snapshot, *,
                            size: tuple[int, int], scale: float = 1.0, transparent: bool = False,
                            layout: str = "overlay", target: float | None = None) -> Path:
    """The comparison's plots (overlay or small multiples, with the step number and a colour
    bar) and its metrics table (steps to target included) for a :class:`ComparisonSnapshot`;
    ``target`` as the window's (None: half way from the first step's loss)."""
    from maml_gui.plots.comparison import (
        ComparisonPlot, default_target, metrics_table, overrides_text,
    )
    from maml_gui.plots.table import TableItem

    size = check_size(size, scale)
    state = ComparisonState(layout=layout, target=target,
                            variants=[[v.config.algorithm, overrides_text(v)]
                                      for v in snapshot.variants])
    with figure_layout() as widget:
        drawing = ComparisonPlot(PUBLICATION, layout=state.layout)
        drawing.root.setMinimumHeight(200)
        widget.ci.addItem(drawing.root, row=0, col=0)
        table = TableItem(PUBLICATION.foreground)
        widget.ci.addItem(table, row=1, col=0)
        drawing.build(list(snapshot.variants))
        drawing.show_snapshot(snapshot)
        flush_layout()
        drawing.compute_surfaces_now(FIGURE_GRID)
        drawing.show_snapshot(snapshot)  # arrows and legend at the final geometry
        chosen = target if target is not None else default_target(snapshot)
        table.set_data(metrics_table(snapshot, chosen, PUBLICATION))
        return _write(widget, path, config, WindowState(tab="compare", comparison=state),
                      size=size, scale=scale, transparent=transparent,
                      title="maml-gui comparison")
