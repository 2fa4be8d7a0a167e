"""Window size and place that fit the screen (a 1366×768 laptop or projector included)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: What the window asks for where the screen has room.
PREFERRED_SIZE = QSize(1400, 900)
#: The share of a bigger screen it takes.
SHARE = 0.9


def available_geometry(window: QWidget) -> QRect:
    """The screen area (without panels and docks of the desktop) the window is on."""
    screen = QGuiApplication.screenAt(window.geometry().center()) or window.screen() \
        or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fits(window: QWidget, available: QRect) -> bool:
    """The whole window, its frame included, lies on ``available``."""
    frame = window.frameGeometry() if window.isVisible() else window.geometry()
    return available.contains(frame)


def fit_to(window: QWidget, available: QRect) -> None:
    """Most of ``available`` (all of a small screen), frame included, centred on it."""
    extra = window.frameGeometry().size() - window.geometry().size() if window.isVisible() \
        else QSize(0, 0)
    room = available.size() - extra
    # small screens: all of it; big ones: most of it (three columns want the width)
    width = min(room.width(), max(PREFERRED_SIZE.width(), int(room.width() * SHARE)))
    height = min(room.height(), max(PREFERRED_SIZE.height(), int(room.height() * SHARE)))
    window.resize(width, height)
    left = available.left() + max(0, (available.width() - width - extra.width()) // 2)
    top = available.top() + max(0, (available.height() - height - extra.height()) // 2)
    window.move(left, top)
