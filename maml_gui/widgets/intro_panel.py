"""The panel above the canvas that says what is shown and what to do first.

Like TensorFlow Playground's header: the scenario's title and description stay visible
(not 8 s in the status bar), next to the one action that matters (Run) and a hint for the
second (drag θ). It collapses to its title line and remembers that.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QSizePolicy, QStyle, QToolButton, QVBoxLayout, QWidget,
)

WELCOME_TITLE = "MAML on a live loss landscape"
WELCOME_TEXT = (
    "○ θ is the meta-learned starting point; each coloured path is one task's inner loop, "
    "ending near its optimum ★; the meta-gradient arrow shows where θ moves next. "
    "Press Run (Space) to meta-train, or step with → and Shift+→. Pick a scenario from the "
    "Presets menu.")
HINT = "While paused: drag ○ θ to choose where meta-training starts"
HINT_OPTIMA = ", or drag a ★ to move a task's optimum"


class IntroPanel(QFrame):
    """Title, description, a prominent Run button and a hint; collapsible."""

    collapsed_changed = Signal(bool)
    """The user folded (True) or unfolded (False) the panel."""

    def __init__(self, run_action: QAction, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("introPanel")
        self.setStyleSheet("#introPanel { border: 1px solid palette(mid); border-radius: 4px; }")
        self.fold_button = QToolButton()
        self.fold_button.setAutoRaise(True)
        self.fold_button.setToolTip("Show or hide the description")
        self.fold_button.clicked.connect(lambda: self.set_collapsed(not self.collapsed))
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel()
        self.set_hint(True)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        self.run_button = QToolButton()
        self.run_button.setDefaultAction(run_action)
        self.run_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.run_button.setObjectName("introRun")
        self.run_button.setStyleSheet(
            "#introRun { font-weight: bold; padding: 6px 16px; border-radius: 4px;"
            " background: #2E7D32; color: white; }"
            "#introRun:hover { background: #388E3C; }")

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.fold_button)
        header.addWidget(self.title, 1)
        self.body = QWidget()
        body = QHBoxLayout(self.body)
        body.setContentsMargins(24, 0, 0, 0)
        texts = QVBoxLayout()
        texts.setContentsMargins(0, 0, 0, 0)
        texts.addWidget(self.description)
        texts.addWidget(self.hint)
        body.addLayout(texts, 1)
        body.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignVCenter)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 4, 6, 6)
        column.setSpacing(2)
        column.addLayout(header)
        column.addWidget(self.body)
        self.collapsed = False
        self.set_text(WELCOME_TITLE, WELCOME_TEXT)
        self.set_collapsed(False)

    def set_text(self, title: str, description: str) -> None:
        """Show a scenario's title and description (unfolds the panel if it was folded)."""
        self.title.setText(title)
        self.title.setToolTip(title)
        self.description.setText(description)

    def set_hint(self, movable_optima: bool) -> None:
        """What can be dragged here (stars only where the task family's optima move)."""
        self.hint.setText(HINT + (HINT_OPTIMA if movable_optima else "") + ".")

    def set_collapsed(self, collapsed: bool) -> None:
        changed = collapsed != self.collapsed
        self.collapsed = collapsed
        self.body.setVisible(not collapsed)
        self.fold_button.setArrowType(Qt.ArrowType.RightArrow if collapsed
                                      else Qt.ArrowType.DownArrow)
        if changed:
            self.collapsed_changed.emit(collapsed)


def play_icon(widget: QWidget, playing: bool):
    """Qt's own media icons: they render with any font (a ⏸ glyph did not on plain Linux)."""
    pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
    return widget.style().standardIcon(pixmap)
