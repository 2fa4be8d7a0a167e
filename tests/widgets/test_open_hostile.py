"""File → Open of every hostile file class: a dialog (the banner) says why, nothing changes.

The same classes as the CLI tests (tests/hostile_files.py), plus sessions whose view the
canvas cannot show (infinite, ±1e308 or NaN ranges): these must be refused before the config
is replaced, never half-applied.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from maml_gui.core.config import make_config
from maml_gui.widgets.main_window import MainWindow
from tests import hostile_files
from tests.hostile_files import CLASSES


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_config({"inner_lr": 0.07}), settings=settings)
    qtbot.addWidget(win)
    win.show()
    # let the first landscape finish: the window starts its workers then, and a window
    # closed while they are still starting up leaves their threads for a moment
    qtbot.waitUntil(win.canvas.landscape_complete, timeout=60_000)
    return win


def assert_refused_untouched(window, path, words=None):
    controller = window.controller
    before = (controller.config, controller.run_id, window.canvas.view.viewRange(),
              window.windowTitle(), window.sessions.recent())
    assert not window.sessions.open_session(path)
    assert window.banner.isVisible() and window.banner.text.startswith("Could not open")
    assert "\n" not in window.banner.text
    if words:
        assert words in window.banner.text
    after = (controller.config, controller.run_id, window.canvas.view.viewRange(),
             window.windowTitle(), window.sessions.recent())
    assert after == before


@pytest.mark.parametrize("kind", CLASSES)
def test_hostile_files_through_file_open(qtbot, window, tmp_path, kind):
    path = hostile_files.make(kind, tmp_path)
    before = hostile_files.snapshot(tmp_path)
    assert_refused_untouched(window, path, CLASSES[kind][2])
    assert hostile_files.snapshot(tmp_path) == before


@pytest.mark.parametrize("view, words", [
    ('{"range": [-1e308, 1e308, 0, 1]}', "range"),
    ('{"range": [-Infinity, Infinity, 0, 1]}', "range"),
    ('{"range": [0, 1, NaN, 1]}', "range"),
    ('{"range": [0, 1e-300, 0, 1]}', "range"),
    ('{"speed": NaN}', "speed"),
    ('{"compare": [["maml", "seed=' + "[" * 60 + "]" * 60 + '"]]}', "comparison"),
    ('{"compare": [["maml", "seed=' + "9" * 5000 + '"]]}', "comparison"),
    ('{"compare": [["nonsense", ""]]}', "comparison"),
    ('{"surface": "task:99999"}', None),
])
def test_a_view_the_window_cannot_show_changes_nothing(qtbot, window, tmp_path, view, words):
    path = tmp_path / "s.json"
    path.write_text('{"format": "maml-gui-session", "config": {"algorithm": "reptile"}, '
                    f'"view": {view}}}')
    if words is None:  # a surface that is not there: opened, the canvas's default shown
        assert window.sessions.open_session(path)
        assert window.controller.config.algorithm == "reptile"
        return
    assert_refused_untouched(window, path, words)


def test_a_good_session_still_opens_after_refusals(qtbot, window, tmp_path):
    bad = hostile_files.make("deep JSON", tmp_path)
    assert not window.sessions.open_session(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"format": "maml-gui-session", "config": {"algorithm": "fomaml"},
                                "view": {"range": [-1, 2, -3, 4]}}))
    assert window.sessions.open_session(good)
    assert window.controller.config.algorithm == "fomaml"
    (x0, x1), (y0, y1) = window.canvas.view.viewRange()
    assert (x0, x1, y0, y1) == pytest.approx((-1, 2, -3, 4), abs=1e-6)
