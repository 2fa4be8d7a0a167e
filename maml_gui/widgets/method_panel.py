"""The frame every method view shares: an optional note, a plot area and a summary line."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from maml_gui.palette import SCREEN


class MethodPanel(QWidget):
    """A note (if given), ``graphics`` (a :class:`pyqtgraph.GraphicsLayoutWidget` that takes the
    spare height) and ``summary`` (one line of numbers under it)."""

    def __init__(self, parent: QWidget | None = None, note: str | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        if note is not None:
            self.note = QLabel(note)
            self.note.setWordWrap(True)
            layout.addWidget(self.note)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(SCREEN.background)
        layout.addWidget(self.graphics, 1)
        self.summary = QLabel(" ")
        layout.addWidget(self.summary)
