"""Figures of the other views (trace, comparison, function), in the publication theme.

Each view is built off screen as a top-level widget with :data:`PUBLICATION` colours, given
the state to draw, and written by :func:`maml_gui.export.images.render_widget`, so the
screen's theme never leaks into a figure and the widget on screen is left alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from maml_gui.core.config import Config
from maml_gui.export import ExportError
from maml_gui.export.images import config_metadata, render_widget
from maml_gui.palette import PUBLICATION

FIGURE_GRID = 240  # background surfaces of exported comparisons

@contextmanager
def _offscreen(widget: QWidget, size: tuple[int, int]) -> Iterator[QWidget]:
    palette = widget.palette()  # white paper, dark ink, whatever the desktop's theme
    for role, colour in ((QPalette.ColorRole.Window, PUBLICATION.background),
                         (QPalette.ColorRole.Base, PUBLICATION.background),
                         (QPalette.ColorRole.AlternateBase, "#F2F2F2"),
                         (QPalette.ColorRole.Button, "#F2F2F2"),
                         (QPalette.ColorRole.WindowText, PUBLICATION.foreground),
                         (QPalette.ColorRole.Text, PUBLICATION.foreground),
                         (QPalette.ColorRole.ButtonText, PUBLICATION.foreground)):
        palette.setColor(role, QColor(colour))
    widget.setPalette(palette)
    widget.setAutoFillBackground(True)
    minimum = widget.minimumSizeHint()
    if size[0] < minimum.width() or size[1] < minimum.height():
        widget.deleteLater()
        raise ExportError(f"the {type(widget).__name__} needs at least {minimum.width()}x"
                          f"{minimum.height()} pixels; asked for {size[0]}x{size[1]}")
    widget.resize(*size)
    widget.show()
    try:
        yield widget
    finally:
        widget.close()
        widget.deleteLater()


def export_trace_image(path: str | Path, config: Config, snapshot, *, size: tuple[int, int],
                       scale: float = 1.0, transparent: bool = False, tab: str = "tasks") -> Path:
    """The algorithm trace (pseudo-code with the current line, and the tasks table or the
    loss curves) at ``snapshot``."""
    from maml_gui.widgets.trace_view import TraceView

    view = TraceView(config, theme=PUBLICATION)
    with _offscreen(view, size):
        view.show_snapshot(snapshot)
        curves = tab == "curves"
        view.tabs.setCurrentWidget(view.loss_curves if curves else view.table)
        view.set_figure_mode(fit_table=not curves)
        return render_widget(view, path, size=size, scale=scale, transparent=transparent,
                             title=f"maml-gui trace: {config.algorithm}",
                             metadata=config_metadata(config))


def export_comparison_image(path: str | Path, config: Config, snapshot, *,
                            size: tuple[int, int], scale: float = 1.0, transparent: bool = False,
                            layout: str = "overlay") -> Path:
    """The comparison's plots and metrics table for a :class:`ComparisonSnapshot`."""
    from maml_gui.widgets.comparison_view import ComparisonView

    view = ComparisonView(config, theme=PUBLICATION)
    view.set_figure_mode(True)  # before the size check: the editor's width does not count
    with _offscreen(view, size):
        view.surface_grid = FIGURE_GRID
        view.layout_box.setCurrentIndex(1 if layout == "small multiples" else 0)
        view.show_comparison(snapshot)
        return render_widget(view, path, size=size, scale=scale, transparent=transparent,
                             title="maml-gui comparison", metadata=config_metadata(config))


def export_function_image(path: str | Path, config: Config, snapshot, *, size: tuple[int, int],
                          scale: float = 1.0, transparent: bool = False, task: int = 0) -> Path:
    """The function view of task ``task`` at ``snapshot``'s θ, fully fine-tuned."""
    from maml_gui.widgets.function_view import FunctionView

    view = FunctionView(config, theme=PUBLICATION)
    with _offscreen(view, size):
        if not view.has_data():
            raise ExportError(f"the {config.family} family has no data: the function view "
                              "shows softplus and sinusoid tasks")
        view.set_figure_mode(True)
        view.select_task(task)
        if snapshot.record is not None:
            view.set_theta(snapshot.record.theta_next)
        return render_widget(view, path, size=size, scale=scale, transparent=transparent,
                             title=f"maml-gui function view: task {task}",
                             metadata=config_metadata(config))
