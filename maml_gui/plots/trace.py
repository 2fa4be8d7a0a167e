"""The trace view's picture as graphics items: the algorithm's title and settings, its
pseudo-code with the executing line highlighted, the frame in words, and below either the
per-task table of the meta-step or the loss curves over meta-steps.

A :class:`TracePlot` fills a pyqtgraph ``GraphicsLayout`` from a config and a snapshot, with
the numbers the window's trace view shows (:mod:`maml_gui.view.trace_table`); exports build
one (:mod:`maml_gui.export.views`), never the window's widget. Every row is exactly as tall
as its text, so a figure has no scroll bar and no empty table rows.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsWidget, QSizePolicy

from maml_gui.core.pseudocode import PseudoCodeError, load_pseudocode
from maml_gui.palette import Theme
from maml_gui.plots.loss_curves import LossCurvesPlot
from maml_gui.plots.table import TableData, TableItem
from maml_gui.plots.text import TextBlock
from maml_gui.view.trace_table import (
    column_values, describe_frame, format_number, frame_view, settings_text, table_columns,
)

DIMMED = "#909090"  # numbers the animation has not reached yet, as in the window


def task_table(record, frame, theme: Theme) -> TableData:
    """The per-task table at ``frame`` as the window shows it: numbers the animation has not
    reached dimmed, the one being computed bold, a colour swatch per task."""
    columns = table_columns(record)
    values = column_values(record, columns)
    shown = frame_view(record, frame, columns, values)
    rows, colours, bold = [], [], set()
    for r in range(values.shape[0]):
        rows.append([f"task {r}", *(format_number(v) for v in values[r])])
        colours.append([None, *(None if shown.reached[r, c] else DIMMED
                                for c in range(values.shape[1]))])
        if shown.focus is not None:
            focus_row, focus_col = shown.focus
            if focus_row is None or focus_row == r:
                bold.add((r, focus_col + 1))
        if shown.current_task == r:
            bold.add((r, 0))
    return TableData(headers=["", *(c.header for c in columns)], rows=rows, colours=colours,
                     bold=bold, swatches=[theme.task(r) for r in range(len(rows))])


class TracePlot:
    """The trace picture in one ``pg.GraphicsLayout`` (made here unless given).

    Parameters
    ----------
    theme : screen or publication colours.
    tab : ``"tasks"`` (the per-task table) or ``"curves"`` (the loss curves) below the code.
    """

    def __init__(self, theme: Theme, layout: pg.GraphicsLayout | None = None, *,
                 tab: str = "tasks"):
        self.theme = theme
        self.tab = tab
        self.layout = layout if layout is not None else pg.GraphicsLayout()
        foreground = theme.foreground
        self.title = TextBlock(foreground, points=10.0, bold=True)
        self.settings = TextBlock(foreground, points=8.5)
        self.code = TextBlock(foreground, points=9.0, monospace=True)
        self.frame = TextBlock(foreground, points=9.0, bold=True)
        rows: list = [self.title, self.settings, self.code, self.frame]
        self.table: TableItem | None = None
        self.curves: LossCurvesPlot | None = None
        if tab == "curves":
            self.curves = LossCurvesPlot(theme)
            rows.append(self.curves.plot)
        else:
            self.table = TableItem(foreground)
            rows.append(self.table)
            rest = QGraphicsWidget()  # the page below the table stays blank
            rest.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            rows.append(rest)
        for row, item in enumerate(rows):
            self.layout.addItem(item, row=row, col=0)

    def show(self, config, snapshot) -> None:
        """Draw ``snapshot``'s meta-step at its frame (``config``: the run's settings)."""
        record, frame = snapshot.record, snapshot.frame
        algorithm = record.algorithm if record is not None else config.algorithm
        line = -1
        try:
            code = load_pseudocode(algorithm)
            title, text = code.title, code.text
            if record is not None and frame is not None:
                try:
                    line = code.line_for(frame.phase)
                except PseudoCodeError:
                    line = -1
        except PseudoCodeError as exc:  # shown, not raised, as in the window
            title, text = algorithm, str(exc)
        self.title.set_text(title)
        self.settings.set_text(settings_text(config, algorithm, record))
        self.code.set_text(text, line)
        self.frame.set_text(describe_frame(record, frame) if record is not None
                            and frame is not None else "no meta-step yet")
        if self.table is not None:
            self.table.set_data(task_table(record, frame, self.theme))
        if self.curves is not None:
            self.curves.show_history(snapshot.history)


__all__ = ["TracePlot", "task_table"]
