"""The Qt binding keeps reference counts right (PySide6 6.12.0 on Python 3.11 did not)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem


class _Item(QGraphicsItem):
    def boundingRect(self):
        return QRectF(0, 0, 1, 1)

    def paint(self, painter, option, widget=None):
        return None


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_void_calls_and_python_overrides_do_not_leak_references_to_none(qtbot):
    from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

    scene = QGraphicsScene()
    view = QGraphicsView(scene)
    qtbot.addWidget(view)
    item = _Item()
    scene.addItem(item)
    view.show()
    before = sys.getrefcount(None)
    for i in range(200):
        item.setPos(i, i)  # a C++ void method
        view.viewport().repaint()  # calls the Python paint() override
    assert abs(sys.getrefcount(None) - before) < 50, (
        "this PySide6 build loses references to None: the app would crash within minutes "
        "(PySide6 6.12.0 on Python < 3.12); install a version the pyproject allows")
