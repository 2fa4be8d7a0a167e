"""Lines of text painted as one graphics item (pseudo-code, captions) for exported figures.

Like :class:`~maml_gui.plots.table.TableItem`, a :class:`TextBlock` sits in a pyqtgraph
``GraphicsLayout`` row, is exactly as tall as its lines (no scroll bar, nothing cut), sizes
its text in points (the same picture at any export scale) and writes real text to SVG/PDF.
Lines too long for the width are elided with "…" rather than running off the figure.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetricsF, QPen
from PySide6.QtWidgets import QGraphicsWidget, QSizePolicy

LINE_SPACING = 1.0  # pixels between lines


class TextBlock(QGraphicsWidget):
    """Lines of text, one of them highlighted (the executing pseudo-code line)."""

    def __init__(self, foreground: str, *, points: float = 8.5, monospace: bool = False,
                 bold: bool = False, highlight: str = "#F0BE32"):
        super().__init__()
        self.foreground = QColor(foreground)
        self.highlight = QColor(highlight)
        self.highlight.setAlphaF(0.43)
        self.font = (QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont) if monospace
                     else QFont())
        # in pixels, not points: measured and painted alike whatever the device's dpi
        self.font.setPixelSize(round(points * 96 / 72))
        self.font.setBold(bold)
        self.lines: list[str] = []
        self.highlighted = -1
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_text(self, text: str, highlighted: int = -1) -> None:
        """Show ``text`` (lines split at newlines) with line ``highlighted`` marked (-1: none)."""
        self.lines = text.split("\n") if text else []
        self.highlighted = highlighted
        self.updateGeometry()
        self.update()

    def _line_height(self) -> float:
        return QFontMetricsF(self.font).height() + LINE_SPACING

    def sizeHint(self, which, constraint=QSizeF()) -> QSizeF:  # noqa: N802 (Qt's name)
        height = len(self.lines) * self._line_height()
        if which == Qt.SizeHint.MinimumSize:
            return QSizeF(0.0, height)
        if which == Qt.SizeHint.MaximumSize:
            return QSizeF(1e6, height)
        metrics = QFontMetricsF(self.font)
        return QSizeF(max((metrics.horizontalAdvance(line) for line in self.lines), default=0.0),
                      height)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, self.size().width(), self.size().height())

    def paint(self, painter, option, widget=None) -> None:
        line = self._line_height()
        width = self.size().width()
        metrics = QFontMetricsF(self.font)
        painter.save()
        painter.setFont(self.font)
        painter.setPen(QPen(self.foreground))
        for i, text in enumerate(self.lines):
            rect = QRectF(0, i * line, width, line)
            if i == self.highlighted:
                painter.fillRect(rect, self.highlight)
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width - 2)
            painter.drawText(rect.adjusted(2, 0, 0, 0),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), shown)
        painter.restore()


__all__ = ["TextBlock"]
