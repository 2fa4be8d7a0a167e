"""The frame every method view shares: an optional note, a plot area and a summary line."""

from __future__ import annotations

import numpy as np
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
        # wrapped: one long line of numbers set the dock's minimum width, which pushed the
        # window past a 1366-pixel screen
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)


def run_series(history, records, names) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps and values of charted diagnostics over the whole run (``history``'s thinned
    series), or over ``records`` when the history has none (a view fed records alone)."""
    found = [history.series(name) for name in names] if history is not None else [None]
    if all(item is not None for item in found):
        return np.asarray(found[0][0], dtype=float), {
            name: np.asarray(values) for name, (_steps, values) in zip(names, found)}
    steps = np.array([r.step for r in records], dtype=float)
    shapes = {name: next((np.shape(r.diagnostics[name]) for r in records
                          if name in r.diagnostics), ()) for name in names}

    def value(record, name: str) -> np.ndarray:  # NaN where a record lacks it (older traces)
        return np.asarray(record.diagnostics.get(name, np.full(shapes[name], np.nan)), dtype=float)

    return steps, {name: np.array([value(r, name) for r in records]) for name in names}


def run_losses_after(history, records) -> tuple[np.ndarray, np.ndarray]:
    """Mean post-adaptation loss per step: the history's full (thinned) column, or the records'."""
    if history is not None and len(history.steps):
        return np.asarray(history.steps, dtype=float), np.asarray(history.loss_after)
    return (np.array([r.step for r in records], dtype=float),
            np.array([r.meta_loss_after for r in records]))
