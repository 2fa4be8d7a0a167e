"""A table painted as one graphics item: the tables of exported figures.

A :class:`TableItem` is a ``QGraphicsWidget`` (it sits in a pyqtgraph ``GraphicsLayout``
row like a plot) that paints a header row and one row per entry with ``QPainter.drawText``:
no scroll bars, no empty rows, text in points (device-independent, so a 2× PNG is the 1×
picture at more pixels) and real text in SVG and PDF. Its height is its rows'; its columns
share the width the layout gives it, headers wrapping onto a second line when they must.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen
from PySide6.QtWidgets import QGraphicsWidget, QSizePolicy

FONT_POINTS = 8.0
PADDING = 4.0  # pixels each side of a cell's text
ROW_SPACING = 3.0


@dataclass
class TableData:
    """What a table shows.

    ``rows`` holds display strings; ``colours`` (same shape, or empty) a text colour per cell
    (None: the theme's); ``bold`` cells are emphasised (e.g. the animation's current value);
    ``swatches`` a colour square before each row's first cell (or None).
    """

    headers: list[str]
    rows: list[list[str]]
    colours: list[list[str | None]] = field(default_factory=list)
    bold: set[tuple[int, int]] = field(default_factory=set)
    swatches: list[str | None] = field(default_factory=list)
    highlight_row: int | None = None


class TableItem(QGraphicsWidget):
    """A header and rows, painted; first column left-aligned, the others right-aligned."""

    def __init__(self, foreground: str, *, rule: str | None = None, points: float = FONT_POINTS,
                 highlight: str = "#F0BE32"):
        super().__init__()
        self.foreground = QColor(foreground)
        self.rule = QColor(rule or foreground)
        self.highlight = QColor(highlight)
        self.highlight.setAlphaF(0.35)
        self.font = QFont()
        # in pixels, not points: measured and painted alike whatever the device's dpi
        self.font.setPixelSize(round(points * 96 / 72))
        self.bold_font = QFont(self.font)
        self.bold_font.setBold(True)
        self.data = TableData([], [])
        self._headers: list[str] = []
        self._widths: list[float] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    # --- content ----------------------------------------------------------------------
    def set_data(self, data: TableData) -> None:
        """Show ``data`` (the item's height follows its rows)."""
        self.data = data
        self._layout_columns(self.size().width())
        self.updateGeometry()
        self.update()

    def cell_text(self, row: int, column: int) -> str:
        return self.data.rows[row][column]

    def row_count(self) -> int:
        return len(self.data.rows)

    # --- geometry ---------------------------------------------------------------------
    def _metrics(self, bold: bool = False) -> QFontMetricsF:
        return QFontMetricsF(self.bold_font if bold else self.font)

    def _swatch(self) -> float:
        return self._metrics().height() * 0.7 if any(self.data.swatches) else 0.0

    def _natural(self, headers: list[str]) -> list[float]:
        bold = self._metrics(True)
        widths = []
        for c, header in enumerate(headers):
            texts = [bold.horizontalAdvance(line) for line in header.split("\n")]
            texts += [bold.horizontalAdvance(row[c]) for row in self.data.rows if c < len(row)]
            widths.append(max(texts, default=0.0) + 2 * PADDING)
        if widths:
            widths[0] += self._swatch() + (PADDING if self._swatch() else 0.0)
        return widths

    def _layout_columns(self, width: float) -> None:
        """Column widths for ``width`` pixels: natural widths plus a share of what is left;
        headers break at their first space when one line does not fit."""
        headers = list(self.data.headers)
        widths = self._natural(headers)
        if width > 0 and sum(widths) > width:
            headers = [h if "\n" in h or " " not in h else h.replace(" ", "\n", 1)
                       for h in headers]
            widths = self._natural(headers)
        if width > sum(widths) and widths:
            extra = (width - sum(widths)) / len(widths)
            widths = [w + extra for w in widths]
        self._headers, self._widths = headers, widths

    def _header_lines(self) -> int:
        return max((h.count("\n") + 1 for h in self._headers), default=1)

    def _row_height(self) -> float:
        return self._metrics(True).height() + ROW_SPACING

    def content_height(self) -> float:
        """Header plus rows, in pixels."""
        if not self.data.headers:
            return 0.0
        return (self._header_lines() + len(self.data.rows)) * self._row_height() + 2 * ROW_SPACING

    def sizeHint(self, which, constraint=QSizeF()) -> QSizeF:  # noqa: N802 (Qt's name)
        self._layout_columns(self.size().width() or sum(self._natural(self.data.headers)))
        natural = sum(self._natural(self.data.headers))
        if which == Qt.SizeHint.MinimumSize:
            return QSizeF(0.0, self.content_height())
        if which == Qt.SizeHint.MaximumSize:
            return QSizeF(1e6, self.content_height())
        return QSizeF(natural, self.content_height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        lines = self._header_lines()
        self._layout_columns(event.newSize().width())
        super().resizeEvent(event)
        if self._header_lines() != lines:  # headers wrapped or unwrapped: a new height
            self.updateGeometry()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, self.size().width(), self.size().height())

    # --- painting ---------------------------------------------------------------------
    def paint(self, painter, option, widget=None) -> None:
        if not self.data.headers:
            return
        line = self._row_height()
        header_height = self._header_lines() * line
        width = sum(self._widths)
        painter.save()
        painter.setFont(self.bold_font)
        painter.setPen(QPen(self.foreground))
        x = 0.0
        for c, header in enumerate(self._headers):
            align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
            painter.drawText(QRectF(x + PADDING, 0, self._widths[c] - 2 * PADDING, header_height),
                             int(align | Qt.AlignmentFlag.AlignBottom), header)
            x += self._widths[c]
        rule = QPen(self.rule, 1.0)
        rule.setCosmetic(True)
        painter.setPen(rule)
        painter.drawLine(QRectF(0, header_height + 1, width, 0).topLeft(),
                         QRectF(0, header_height + 1, width, 0).topRight())
        top = header_height + 2 * ROW_SPACING
        swatch = self._swatch()
        for r, row in enumerate(self.data.rows):
            if self.data.highlight_row == r:
                painter.fillRect(QRectF(0, top, width, line), self.highlight)
            x = 0.0
            for c, text in enumerate(row):
                cell = QRectF(x + PADDING, top, self._widths[c] - 2 * PADDING, line)
                if c == 0 and swatch:
                    colour = self.data.swatches[r] if r < len(self.data.swatches) else None
                    if colour:
                        painter.fillRect(QRectF(cell.left(), top + (line - swatch) / 2, swatch,
                                                swatch), QColor(colour))
                    cell.setLeft(cell.left() + swatch + PADDING)
                colour = (self.data.colours[r][c] if r < len(self.data.colours)
                          and c < len(self.data.colours[r]) else None)
                painter.setPen(QPen(QColor(colour) if colour else self.foreground))
                painter.setFont(self.bold_font if (r, c) in self.data.bold else self.font)
                align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                painter.drawText(cell, int(align | Qt.AlignmentFlag.AlignVCenter), text)
                x += self._widths[c]
            top += line
        painter.restore()


__all__ = ["TableData", "TableItem"]
