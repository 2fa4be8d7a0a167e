"""Sessions (save, open, recent, title) and presets in the window."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from maml_gui.core.config import make_config
from maml_gui.presets import load_preset, preset_names
from maml_gui.runtime.session_file import SessionError, read_session
from maml_gui.widgets.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(win)
    win.show()
    return win


def test_save_and_open_restore_config_and_view(qtbot, window, tmp_path):
    window.controller.apply_changes({"algorithm": "reptile", "inner_steps": 4, "seed": 9})
    window.canvas.set_surface("task:1")
    window.canvas.set_log_scale(True)
    window.order_box.setCurrentIndex(window.order_box.findData("one_by_one"))
    window.comparison.set_variants([("maml", ""), ("fomaml", "inner_lr=0.05")])
    window.comparison.set_target(0.0125)
    changes = []
    window.canvas.model.changed.connect(lambda state, names: changes.append(names))
    window.canvas.highlight_task(1)
    assert changes == [["selected_task"]]  # the canvas's controls write its view state
    path = tmp_path / "s.json"
    assert window.sessions.save(path)
    assert "s[*]" in window.windowTitle() and not window.isWindowModified()
    window.controller.apply_changes({"inner_lr": 0.01})
    assert window.isWindowModified()

    other = MainWindow(make_config({}))
    qtbot.addWidget(other)
    assert other.sessions.open_session(path)
    config = other.controller.config
    assert (config.algorithm, config.inner_steps, config.seed) == ("reptile", 4, 9)
    assert other.canvas.surface_name == "task:1" and other.canvas.log_box.isChecked()
    assert other.order_box.currentData() == "one_by_one"
    assert other.canvas.highlighted_task == 1
    assert other.comparison.target() == pytest.approx(0.0125)
    assert other.canvas.state.replace(range=None) == window.canvas.state.replace(range=None)
    assert other.comparison.variant_specs() == [("maml", ""), ("fomaml", "inner_lr=0.05")]
    data = json.loads(path.read_text())
    assert data["format"] == "maml-gui-session" and data["schema_version"] == 1


def test_what_is_drawn_and_the_plane_seed_survive_a_session(qtbot, window, tmp_path):
    window.controller.apply_changes({"algorithm": "maml", "seed": 5, "task": {
        "family": "sinusoid", "hidden": [6], "n_tasks": 2, "k_shot": 4, "k_query": 4,
        "fixed_tasks": True}})
    canvas = window.canvas
    canvas.plane_box.setCurrentText("random")
    canvas.seed_box.setValue(17)
    canvas.show_actions["paths"].trigger()
    canvas.show_actions["legend"].trigger()
    path = tmp_path / "drawn.json"
    assert window.sessions.save(path)
    saved = json.loads(path.read_text())["view"]["landscape"]
    assert (saved["plane"], saved["plane_seed"], saved["paths"], saved["legend"],
            saved["trail"]) == ("random", 17, False, False, True)

    other = MainWindow(make_config({}))
    qtbot.addWidget(other)
    assert other.sessions.open_session(path)
    shown = other.canvas
    assert shown.plane.method == "random" and shown.plane.seed == 17
    assert shown.seed_box.value() == 17 and not shown.seed_box.isHidden()
    assert not shown.show_actions["paths"].isChecked() and not shown.show_actions["legend"].isChecked()
    assert shown.show_actions["arrows"].isChecked()
    assert not any(item.isVisible() for item in shown.paths) and not shown.legend.isVisible()
    assert shown.trail.isVisible()
    assert shown.state.replace(range=None) == canvas.state.replace(range=None)


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "maml-gui-session", "schema_version": 99, "config": {}}), "newer"),
    (json.dumps({"config": {"inner_lr": -3}}), "inner_lr = -3"),
    (json.dumps({"config": {}, "view": {"order": "sideways"}}), "view.playback.order"),
    (json.dumps({"something": 1}), "not a maml-gui session"),
])
def test_bad_session_files_leave_the_current_session_untouched(qtbot, window, tmp_path,
                                                               content, words):
    window.controller.apply_changes({"inner_lr": 0.07})
    before, run = window.controller.config, window.controller.run_id
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert not window.sessions.open_session(path)
    assert window.banner.isVisible() and words in window.banner.text
    assert window.controller.config == before and window.controller.run_id == run
    with pytest.raises(SessionError, match=words.split()[0]):
        read_session(path)


def test_unwritable_session_path_says_why(qtbot, window, tmp_path):
    assert not window.sessions.save(tmp_path / "missing" / "s.json")
    assert "does not exist" in window.banner.text
    assert not (tmp_path / "missing").exists()


def test_recent_sessions(qtbot, window, tmp_path):
    for name in ("a", "b"):
        window.sessions.save(tmp_path / f"{name}.json")
    recent = window.sessions.recent()
    assert recent[0].endswith("b.json") and recent[1].endswith("a.json")
    assert [a.text() for a in window.sessions.recent_menu.actions()] == ["b.json", "a.json"]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_opens_in_the_window(qtbot, window, name):
    preset = load_preset(name)
    assert window.sessions.apply_preset(name)
    assert window.controller.config == preset.config
    assert name in window.windowTitle()
    if preset.view.landscape.surface:
        assert window.canvas.surface_name == preset.view.landscape.surface
    if preset.view.tab == "compare":
        assert window.comparison.controller is not None
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1, timeout=10_000)


def test_presets_cover_the_articles_figures():
    names = set(preset_names())
    for required in ("article_two_tasks", "article_meta_loss_k", "article_curvature",
                     "article_reptile", "article_imaml_rbf", "article_four_methods",
                     "sinusoid_few_shot"):
        assert required in names
    four = load_preset("article_four_methods")
    assert [o for o in four.config.task["optima"]] == [(0.0, 0.0), (1.0, 0.0), (0.2, 0.0), (0.5, 0.2)]


def test_an_exported_figure_opens_as_a_session(qtbot, window, tmp_path):
    window.controller.apply_changes({"algorithm": "fomaml", "inner_steps": 3})
    window.canvas.set_surface("task:0")
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1)
    figure = tmp_path / "fig.png"
    assert window.exports.export_figure(figure, size=(600, 450), scale=1)
    other = MainWindow(make_config({}))
    qtbot.addWidget(other)
    assert other.sessions.open_session(figure)
    assert other.controller.config == window.controller.config
    assert other.canvas.surface_name == "task:0"
