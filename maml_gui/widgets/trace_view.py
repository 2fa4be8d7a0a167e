"""The trace view: the algorithm's pseudo-code with the executing line highlighted, in step
with the canvas animation, and the numbers of the meta-step being shown.

Top: pseudo-code (from ``resources/pseudocode``) and what the frame is doing ("task 1, inner
step 2 of 3"). Below, in tabs: a per-task table (model/view, so only visible cells cost
anything), iMAML's CG residuals, and the loss curves over meta-steps.

Updates are cheap: an unchanged record and frame are skipped; a new record of the same shape
refreshes the table's cells without rebuilding it; per-task plot items are made only when
the number of tasks changes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel, QItemSelectionModel, QModelIndex, QRectF, QSize, Qt, Signal, Slot,
)
from PySide6.QtGui import (
    QColor, QFont, QFontDatabase, QPixmap, QTextCharFormat, QTextCursor, QTextFormat,
)
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QHeaderView, QLabel, QPlainTextEdit, QSplitter, QStyle,
    QStyledItemDelegate, QStyleOptionViewItem, QTableView, QTabWidget, QTextEdit, QVBoxLayout,
    QWidget,
)

from maml_gui.core.algorithms.imaml import curvature_warning
from maml_gui.core.animation import Frame
from maml_gui.core.config import Config
from maml_gui.core.pseudocode import PseudoCode, PseudoCodeError, load_pseudocode
from maml_gui.core.trace import StepRecord
from maml_gui.palette import SCREEN, Theme
from maml_gui.runtime.run_controller import Snapshot
from maml_gui.plots.items import pen
from maml_gui.view.trace_table import (  # noqa: F401 (format_number, describe_frame: re-exported)
    Column, column_values, describe_frame, format_number, frame_view, settings_text,
    table_columns,
)
from maml_gui.widgets.loss_curves import LossCurves

VALUE_ROLE = Qt.ItemDataRole.UserRole  # the cell's number (float) or None
BAR_ROLE = Qt.ItemDataRole.UserRole + 1  # a weight cell's bar length in [0, 1]
BAR_COLOUR_ROLE = Qt.ItemDataRole.UserRole + 2
LINE_HIGHLIGHT = QColor(240, 190, 50, 110)  # amber, readable over light and dark bases
DIMMED = QColor(128, 128, 128)  # numbers the animation has not reached yet


# --- the per-task table --------------------------------------------------------------------

class TaskTableModel(QAbstractTableModel):
    """One row per task of the meta-step; numbers not yet reached by the animation are dimmed."""

    def __init__(self, theme: Theme, parent=None):
        super().__init__(parent)
        self.theme = theme
        self._record: StepRecord | None = None
        self._columns: list[Column] = []
        self._values = np.zeros((0, 0))  # (rows, columns)
        self._reached = np.zeros((0, 0), dtype=bool)
        self._bars = np.zeros(0)
        self._focus: tuple[int | None, int] | None = None  # (row or None = all rows, column)
        self._current_task: int | None = None
        self._swatches: dict[int, QPixmap] = {}

    # --- updates ----------------------------------------------------------------------
    def set_record(self, record: StepRecord | None, frame: Frame | None) -> None:
        """Show ``record`` at ``frame``: cells refresh in place when the shape is unchanged."""
        columns = table_columns(record)
        values = column_values(record, columns)
        same_shape = (values.shape == self._values.shape
                      and [c.key for c in columns] == [c.key for c in self._columns])
        if not same_shape:
            self.beginResetModel()
        self._record, self._columns, self._values = record, columns, values
        self._update_frame_state(frame)
        if same_shape:
            self._refresh_all()
        else:
            self.endResetModel()

    def set_frame(self, frame: Frame | None) -> None:
        """Only the frame changed: re-dim, re-focus, and TR-MAML's weights after the ascent."""
        if self._record is None:
            return
        self._update_frame_state(frame)
        self._refresh_all()

    def column_keys(self) -> list[str]:
        return [c.key for c in self._columns]

    def column_of(self, key: str) -> int:
        return self.column_keys().index(key)

    def value(self, row: int, key: str) -> float:
        return float(self._values[row, self.column_of(key)])

    def _refresh_all(self) -> None:
        if self._values.size:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self._values.shape[0] - 1, self._values.shape[1] - 1))
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, self._values.shape[0] - 1)

    def _update_frame_state(self, frame: Frame | None) -> None:
        shown = frame_view(self._record, frame, self._columns, self._values)
        self._reached, self._focus = shown.reached, shown.focus
        self._current_task, self._bars = shown.current_task, shown.bars

    # --- the model interface ----------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._values.shape[0]

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        value = self._values[row, col]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_number(value)
        if role == VALUE_ROLE:
            return float(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self._columns[col].tooltip}\n{float(value):.10g}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and not self._reached[row, col]:
            return DIMMED
        if role == Qt.ItemDataRole.FontRole and self._focus is not None:
            focus_row, focus_col = self._focus
            if col == focus_col and (focus_row is None or focus_row == row):
                font = QFont()
                font.setBold(True)
                return font
        if self._columns[col].key == "weight":
            if role == BAR_ROLE:
                return float(self._bars[row])
            if role == BAR_COLOUR_ROLE:
                return self.theme.task(row)
        return None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if section >= len(self._columns):
                return None
            if role == Qt.ItemDataRole.DisplayRole:
                return self._columns[section].header
            if role == Qt.ItemDataRole.ToolTipRole:
                return self._columns[section].tooltip
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"task {section}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._swatch(section)
        if role == Qt.ItemDataRole.FontRole and section == self._current_task:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and self._record is not None:
            pool_id = int(self._record.task_ids[section])
            return f"task {section} of this meta-batch" + (
                f" (pool task #{pool_id})" if pool_id >= 0 else " (a freshly sampled task)")
        return None

    def _swatch(self, task: int) -> QPixmap:
        # QHeaderView draws icons/pixmaps, not plain colours, as decorations
        if task not in self._swatches:
            pixmap = QPixmap(10, 10)
            pixmap.fill(QColor(self.theme.task(task)))
            self._swatches[task] = pixmap
        return self._swatches[task]


class WeightBarDelegate(QStyledItemDelegate):
    """Draws a weight cell as a bar in the task's colour under the number."""

    def paint(self, painter, option, index) -> None:
        fraction = index.data(BAR_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = QRectF(opt.rect).adjusted(2, 3, -2, -3)
        colour = QColor(index.data(BAR_COLOUR_ROLE))
        colour.setAlphaF(0.7)
        painter.save()
        painter.fillRect(QRectF(rect.x(), rect.y(), rect.width() * min(max(fraction, 0.0), 1.0),
                                rect.height()), colour)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.setPen(opt.palette.highlightedText().color() if selected
                       else opt.palette.text().color())
        painter.drawText(rect.adjusted(3, 0, -3, 0),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()


# --- CG residuals ----------------------------------------------------------------------------

class CgResidualPlot(QWidget):
    """iMAML's relative CG residual per iteration, one line per task, on a log axis."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self.plot_widget = pg.PlotWidget(background=theme.background)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setLogMode(y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
        self.plot.setLabel("bottom", "CG iteration", color=theme.foreground)
        self.plot.setLabel("left", "‖r‖ / ‖∇Lq‖", color=theme.foreground)
        self.marker = pg.InfiniteLine(angle=90, pen=pen(theme.foreground, 1.0, 0.6, dashed=True))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.curves: list[pg.PlotDataItem] = []
        self._highlight: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        # the curves cannot show that CG met pᵀMp ≤ 0: a note above them does
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #B8860B; font-weight: bold;")
        self.note.setVisible(False)
        layout.insertWidget(0, self.note)

    def show_warning(self, text: str | None) -> None:
        """A note above the curves (iMAML's system not positive definite); None hides it."""
        self.note.setText(f"⚠ {text}" if text else "")
        self.note.setVisible(bool(text))

    def show_residuals(self, residuals: np.ndarray | None) -> None:
        """One curve per task (row of ``residuals``); None clears the plot."""
        rows = 0 if residuals is None else residuals.shape[0]
        if rows != len(self.curves):
            for curve in self.curves:
                self.plot.removeItem(curve)
            self.curves = [pg.PlotDataItem(symbol="o", symbolSize=4, connect="finite")
                           for _ in range(rows)]
            for curve in self.curves:
                self.plot.addItem(curve)
            self.highlight(self._highlight)
        if residuals is None:
            self.marker.setVisible(False)
            return
        iterations = np.arange(residuals.shape[1], dtype=np.float64)
        # iterations are whole numbers: ticks at integers, about six of them at most
        major = max(1, math.ceil((residuals.shape[1] - 1) / 6))
        self.plot.getAxis("bottom").setTickSpacing(major, major)
        for curve, values in zip(self.curves, residuals):
            # a residual of exactly 0 has no logarithm: leave a gap instead of -inf
            curve.setData(iterations, np.where(values > 0, values, np.nan))

    def set_iteration(self, iteration: int | None) -> None:
        self.marker.setVisible(iteration is not None)
        if iteration is not None:
            self.marker.setValue(iteration)

    def highlight(self, index: int | None) -> None:
        self._highlight = index
        for i, curve in enumerate(self.curves):
            colour = self.theme.task(i)
            faded = index is not None and i != index
            curve.setPen(pen(colour, 2.5 if i == index else 1.5, 0.3 if faded else 1.0))
            curve.setSymbolBrush(QColor(colour))
            curve.setSymbolPen(pen(self.theme.outline, 1.0))
            curve.setZValue(10 if i == index else 0)


# --- the code -------------------------------------------------------------------------------

class CodeView(QPlainTextEdit):
    """Read-only monospace text that asks for just the height of its lines."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(font.pointSizeF(), QApplication.font().pointSizeF(), 10.0))
        self.setFont(font)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        document = self.document()
        line = self.blockBoundingRect(document.firstBlock()).height() or \
            self.fontMetrics().lineSpacing() + 1  # a laid-out line is a bit taller
        lines = max(document.blockCount(), 4)
        frame = 2 * self.frameWidth() + 2 * document.documentMargin() + 4
        return QSize(hint.width(), int(lines * line + frame))

    def setPlainText(self, text: str) -> None:
        super().setPlainText(text)
        self.updateGeometry()  # a new algorithm may have more lines


# --- the view --------------------------------------------------------------------------------

class TraceView(QWidget):
    """Pseudo-code with the executing line highlighted, and the current meta-step's numbers."""

    task_selected = Signal(object)
    """A task's row was selected in the table: its index in the meta-batch, or None."""

    def __init__(self, config: Config | None = None, parent: QWidget | None = None, *,
                 theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self._config: Config | None = None
        self._code: PseudoCode | None = None
        self._code_cache: dict[str, PseudoCode] = {}
        self._algorithm: str | None = None
        self._record: StepRecord | None = None
        self._frames: tuple[Frame, ...] | None = None
        self._frame_index = -1
        self._line = -1
        self._highlight: int | None = None
        self._syncing = False  # selection changed by highlight_task: do not re-emit
        self._weight_column: int | None = None
        self._shown_once = False

        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.settings_label = QLabel(" ")
        self.settings_label.setWordWrap(True)
        self.settings_label.setToolTip("The settings this meta-step used")
        self.code = CodeView()
        self.frame_label = QLabel(" ")
        self.frame_label.setWordWrap(True)
        self.frame_label.setStyleSheet("font-weight: bold;")
        self.frame_label.setToolTip("What the animation frame shows (task numbers as on the canvas)")

        self.model = TaskTableModel(theme, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setDefaultSectionSize(74)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.weight_delegate = WeightBarDelegate(self.table)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._on_model_reset)

        self.cg_plot = CgResidualPlot(theme=theme)
        self.loss_curves = LossCurves(theme=theme)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Tasks")
        self.tabs.addTab(self.cg_plot, "CG residuals")
        self.tabs.addTab(self.loss_curves, "Loss curves")
        self.tabs.setTabVisible(1, False)

        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.title)
        column.addWidget(self.settings_label)
        column.addWidget(self.code, 1)
        column.addWidget(self.frame_label)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.tabs)
        # the code keeps the height of its lines; the tables and plots take the rest
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        if config is not None:
            self.set_config(config)

    # --- public -----------------------------------------------------------------------
    @property
    def pseudocode(self) -> PseudoCode | None:
        return self._code

    def highlighted_line(self) -> int:
        """Index of the highlighted pseudo-code line, or -1 when none is."""
        return self._line

    def highlighted_text(self) -> str:
        if self._code is None or not 0 <= self._line < len(self._code.lines):
            return ""
        return self._code.lines[self._line]

    def frame_text(self) -> str:
        return self.frame_label.text()

    def set_config(self, config: Config) -> None:
        """Show ``config``'s algorithm (its pseudo-code and settings until a step arrives)."""
        if config == self._config:
            return
        self._config = config
        if self._record is None or self._record.algorithm != config.algorithm:
            self._set_algorithm(config.algorithm)
        self._show_settings()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Show ``snapshot``'s meta-step at its frame (called up to ~30 times a second)."""
        if snapshot.config is not self._config:
            self.set_config(snapshot.config)
        self.loss_curves.show_history(snapshot.history)
        record = snapshot.record
        if (record is self._record and snapshot.frames is self._frames
                and snapshot.frame_index == self._frame_index):
            return
        frame = snapshot.frame
        if record is not self._record:
            self._record = record
            if record is not None:
                self._set_algorithm(record.algorithm)
            self._show_settings()
            self.model.set_record(record, frame)
            residuals = None if record is None else record.diagnostics.get("cg_residuals")
            self.cg_plot.show_residuals(residuals)
            self.cg_plot.show_warning(None if record is None else
                                      curvature_warning(record.diagnostics, record.hyper))
            self.tabs.setTabVisible(1, residuals is not None)
        else:
            self.model.set_frame(frame)
        self._frames, self._frame_index = snapshot.frames, snapshot.frame_index
        self._show_frame(record, frame)

    def highlight_task(self, index: int | None) -> None:
        """Select task ``index``'s row (None: no row) without emitting :attr:`task_selected`."""
        self._highlight = index
        self._apply_highlight()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._fit_code()

    # --- internals --------------------------------------------------------------------
    def _set_algorithm(self, algorithm: str) -> None:
        if algorithm == self._algorithm:
            return
        self._algorithm = algorithm
        try:
            if algorithm not in self._code_cache:
                self._code_cache[algorithm] = load_pseudocode(algorithm)
            self._code = self._code_cache[algorithm]
            self.title.setText(self._code.title)
            self.title.setToolTip(self._code.description)
            self.code.setPlainText(self._code.text)
        except PseudoCodeError as exc:  # shown, not raised: the rest of the view still works
            self._code = None
            self.title.setText(algorithm)
            self.code.setPlainText(str(exc))
        self._line = -1
        self._set_line(-1)
        self._fit_code()

    def _fit_code(self) -> None:
        """Give the code its lines' height (the splitter alone would squeeze it)."""
        total = sum(self.splitter.sizes())
        if total <= 0:
            return  # not laid out yet: showEvent calls again
        top = min(self.splitter.widget(0).sizeHint().height(), int(0.6 * total))
        self.splitter.setSizes([top, total - top])

    def _show_settings(self) -> None:
        self.settings_label.setText(settings_text(self._config, self._algorithm, self._record))

    def _show_frame(self, record: StepRecord | None, frame: Frame | None) -> None:
        if record is None or frame is None:
            self._set_line(-1)
            self.frame_label.setText("no meta-step yet")
            self.cg_plot.set_iteration(None)
            return
        line = -1
        if self._code is not None:
            try:
                line = self._code.line_for(frame.phase)
            except PseudoCodeError:
                line = -1
        self._set_line(line)
        self.frame_label.setText(describe_frame(record, frame))
        self.cg_plot.set_iteration(frame.cg_iteration if frame.phase in ("cg", "task_grad")
                                   and "cg_residuals" in record.diagnostics else None)

    def _set_line(self, line: int) -> None:
        self._line = line
        if line < 0:
            self.code.setExtraSelections([])
            return
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(LINE_HIGHLIGHT)
        fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
        selection.format = fmt
        cursor = QTextCursor(self.code.document().findBlockByNumber(line))
        selection.cursor = cursor
        self.code.setExtraSelections([selection])
        self.code.setTextCursor(cursor)
        self.code.ensureCursorVisible()

    def _apply_highlight(self) -> None:
        index = self._highlight
        if index is not None and index >= self.model.rowCount():
            index = None
        self._syncing = True
        try:
            selection = self.table.selectionModel()
            if index is None:
                selection.clearSelection()
            else:
                selection.select(self.model.index(index, 0),
                                 QItemSelectionModel.SelectionFlag.ClearAndSelect
                                 | QItemSelectionModel.SelectionFlag.Rows)
                self.table.scrollTo(self.model.index(index, 0))
        finally:
            self._syncing = False
        self.cg_plot.highlight(index)

    @Slot()
    def _on_model_reset(self) -> None:
        # a new shape: the weight column may have moved, and the selection is gone
        if self._weight_column is not None:
            self.table.setItemDelegateForColumn(self._weight_column, None)
            self._weight_column = None
        if "weight" in self.model.column_keys():
            self._weight_column = self.model.column_of("weight")
            self.table.setItemDelegateForColumn(self._weight_column, self.weight_delegate)
        self._apply_highlight()

    @Slot()
    def _on_selection_changed(self, *_args) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        self._highlight = rows[0].row() if rows else None
        self.cg_plot.highlight(self._highlight)
        self.task_selected.emit(self._highlight)
