"""The window as a new user meets it: it fits the screen, says what to do, keeps presets'
promises, and the toolbar, keys, dialogs and close button do what a user expects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QStyle, QTabBar

from maml_gui.core.animation import build_frames
from maml_gui.core.config import make_config
from maml_gui.core.training import train
from maml_gui.presets import load_preset, preset_names
from maml_gui.runtime.run_controller import SPEEDS
from maml_gui.widgets.main_window import MainWindow
from maml_gui.widgets.playback import frames_per_meta_step, preset_speed
from maml_gui.widgets.window_fit import fit_to, fits


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    # the worker processes are up (a cold forkserver takes seconds on a loaded machine)
    qtbot.waitUntil(lambda: win.canvas.shown_surface is not None, timeout=60_000)
    return win


def raised_dock(window) -> str:
    """The title of the dock on top among the tabbed right-hand docks."""
    for bar in window.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if "Algorithm trace" in titles:
            return bar.tabText(bar.currentIndex())
    raise AssertionError("the right-hand docks are not tabbed")


def inside(widget, window) -> bool:
    """The widget's whole rectangle lies inside the window's."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, widget.size()))


# --- fits the screen ------------------------------------------------------------------------

def test_nothing_is_cut_off_on_a_1366x768_laptop(qtbot, window):
    laptop = QRect(0, 0, 1366, 768 - 32)  # a taskbar takes some
    assert window.minimumSizeHint().width() <= laptop.width()
    assert window.minimumSizeHint().height() <= laptop.height()
    fit_to(window, laptop)
    qtbot.waitUntil(lambda: window.width() <= 1366 and window.height() <= 736)
    assert fits(window, laptop)
    for part in (window.statusBar(), window.canvas, window.panel_dock, window.trace_dock,
                 window.canvas.plot.getAxis("bottom").scene().views()[0]):
        assert inside(part, window), part
    # the x axis and the status bar's right end are on screen
    assert window.statusBar().geometry().bottom() <= window.height()
    assert window.trace_dock.geometry().right() <= window.width()


def test_the_plane_controls_fit_a_1366_pixel_laptop_beside_the_function_view(qtbot, window):
    """The widest landscape bar (an MLP's random plane: plane box, seed box, Show menu) with
    the function view docked beside it."""
    window.apply_session(load_preset("sinusoid_few_shot"))
    window.canvas.plane_box.setCurrentText("random")
    assert window.canvas.seed_box.isVisibleTo(window)
    assert window.minimumSizeHint().width() <= 1366
    fit_to(window, QRect(0, 0, 1366, 768 - 32))
    qtbot.waitUntil(lambda: window.width() <= 1366)
    for part in (window.canvas.seed_box, window.canvas.show_button, window.canvas.fit_button):
        assert inside(part, window), part


def test_saved_geometry_too_big_for_this_screen_is_replaced(qtbot, settings):
    big = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(big)
    big.resize(3000, 2000)  # saved on a big monitor
    big.close()
    again = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(again)
    available = again.screen().availableGeometry()
    assert again.width() <= available.width() and again.height() <= available.height()
    assert available.contains(again.geometry())


def test_first_launch_takes_the_screen_it_has(qtbot, window):
    available = window.screen().availableGeometry()  # offscreen: 800×800, under the minimum
    assert window.width() <= max(available.width(), window.minimumSizeHint().width())
    assert window.height() <= available.height()
    big = QRect(0, 0, 1920, 1080)
    fit_to(window, big)
    assert big.contains(window.geometry())
    assert window.width() >= 1600 and window.height() >= 900  # the room is used
    assert abs(window.geometry().center().x() - big.center().x()) <= 1


def test_docks_can_be_collapsed_from_the_view_menu(qtbot, window):
    texts = [a.text() for a in window.view_menu.actions()]
    assert {"Parameters", "Algorithm trace", "Function view"} <= set(texts)
    toggle = next(a for a in window.view_menu.actions() if a.text() == "Parameters")
    toggle.trigger()
    assert not window.panel_dock.isVisible()
    toggle.trigger()
    assert window.panel_dock.isVisible()
    description = window.view_menu.actions()[0]
    description.trigger()
    assert window.intro.collapsed and not window.intro.body.isVisible()


# --- what to do first -----------------------------------------------------------------------

def test_a_preset_shows_its_title_and_description_with_a_run_button(qtbot, window):
    window.intro.set_collapsed(True)
    preset = load_preset("tr_maml_worst_task")
    assert window.sessions.apply_preset("tr_maml_worst_task")
    assert window.intro.title.text() == preset.title
    assert window.intro.description.text() == preset.description
    assert window.intro.body.isVisible() and window.intro.run_button.isVisible()
    window.intro.run_button.click()
    assert window.controller.playing
    window.intro.run_button.click()
    assert not window.controller.playing


def test_hint_names_only_what_can_be_dragged(qtbot, window):
    window.sessions.apply_preset("article_two_tasks")
    assert "★" in window.intro.hint.text() and "θ" in window.intro.hint.text()
    window.sessions.apply_preset("article_imaml_rbf")  # RBF tasks have no movable optimum
    assert "★" not in window.intro.hint.text()


def test_computing_label_until_the_first_landscape(qtbot, settings):
    win = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(win)
    win.show()
    assert win.canvas.shown_surface is None and win.computing.isVisible()
    assert "Computing" in win.computing.text()
    qtbot.waitUntil(lambda: win.canvas.shown_surface is not None, timeout=30_000)
    qtbot.waitUntil(lambda: not win.computing.isVisible())


def test_intro_collapse_is_remembered(qtbot, settings):
    first = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(first)
    first.intro.set_collapsed(True)
    first.close()
    second = MainWindow(make_config({}), settings=settings)
    qtbot.addWidget(second)
    assert second.intro.collapsed


# --- presets open their own view -------------------------------------------------------------

def test_imaml_preset_opens_the_trace_on_its_cg_residuals(qtbot, window):
    window.function_dock.raise_()  # remembered from a previous session
    qtbot.waitUntil(lambda: raised_dock(window) == "Function view")
    window.sessions.apply_preset("article_imaml_rbf")
    qtbot.waitUntil(lambda: raised_dock(window) == "Algorithm trace")
    window.controller.step_meta()
    qtbot.waitUntil(lambda: window.controller.history.total_steps == 1, timeout=20_000)
    qtbot.waitUntil(lambda: window.trace.tabs.currentWidget() is window.trace.cg_plot)


def test_sinusoid_preset_opens_the_function_view(qtbot, window):
    window.sessions.apply_preset("sinusoid_few_shot")
    qtbot.waitUntil(lambda: raised_dock(window) == "Function view")


# --- comparison tab and toolbar --------------------------------------------------------------

def test_toolbar_and_space_drive_the_visible_comparison(qtbot, window):
    window.sessions.apply_preset("article_four_methods")
    assert window.comparison_visible()
    comparison = window.comparison.controller
    assert comparison is not None and not window.controller.playing
    window.step_meta_action.trigger()
    qtbot.waitUntil(lambda: comparison.snapshot().steps == 1, timeout=20_000)
    assert window.controller.history.total_steps == 0  # the hidden run did not move
    assert window.step_label.text() == "step 1"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert comparison.playing and not window.controller.playing
    assert window.play_action.text() == "Pause"
    qtbot.waitUntil(lambda: comparison.snapshot().steps >= 3, timeout=20_000)
    window.play_action.trigger()
    assert not comparison.playing and window.play_action.text() == "Run"
    window.tabs.setCurrentIndex(0)  # back on the landscape, Space runs the single run
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.controller.playing and not comparison.playing
    window.controller.pause()


def test_run_starts_a_comparison_not_started_yet(qtbot, window):
    window.sessions.apply_preset("tr_maml_worst_task")
    window.tabs.setCurrentIndex(1)
    assert window.comparison.controller is None
    assert "Space" in window.loss_label.text()
    window.play_action.trigger()
    assert window.comparison.controller is not None and window.comparison.controller.playing
    window.play_action.trigger()


# --- readability ----------------------------------------------------------------------------

def test_play_and_pause_use_icons_every_font_can_show(qtbot, window):
    style = window.style()

    def image(icon):
        return icon.pixmap(16, 16).toImage()

    assert image(window.play_action.icon()) == image(
        style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
    window.controller.play()
    assert image(window.play_action.icon()) == image(
        style.standardIcon(QStyle.StandardPixmap.SP_MediaPause))
    window.controller.pause()
    for action in (window.play_action, window.step_inner_action, window.step_meta_action,
                   window.reset_action):
        assert action.text().isascii(), action.text()  # no ▶ ⏸ ⇥ ↺ glyphs to miss


def test_dragged_theta_is_rounded_to_what_a_pixel_means(qtbot, window):
    window.canvas.view.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    window.canvas.theta_dragged.emit(np.array([0.123456789012345, 0.876543210987654]))
    assert window.controller.config.theta0 == (0.123, 0.877)
    assert window.panel.editor("theta0").line_edit.text() == "[0.123, 0.877]"


# --- traps ----------------------------------------------------------------------------------

def test_closing_with_unsaved_changes_asks(qtbot, window, tmp_path, unsaved_changes_answer):
    window.controller.apply_changes({"inner_lr": 0.05})
    assert window.isWindowModified()
    unsaved_changes_answer["button"] = QMessageBox.StandardButton.Cancel
    window.close()
    assert window.isVisible() and unsaved_changes_answer["asked"]
    assert "not saved" in unsaved_changes_answer["asked"][0]
    window.sessions.path = tmp_path / "kept.json"
    unsaved_changes_answer["button"] = QMessageBox.StandardButton.Save
    window.close()
    assert not window.isVisible()
    assert make_config(__import__("json").loads(
        (tmp_path / "kept.json").read_text())["config"]).inner_lr == 0.05


def test_closing_without_changes_does_not_ask(qtbot, window, unsaved_changes_answer):
    window.sessions.set_modified(False)
    window.close()
    assert not window.isVisible() and not unsaved_changes_answer["asked"]


def test_discard_closes_without_saving(qtbot, window, tmp_path, unsaved_changes_answer):
    window.controller.apply_changes({"inner_lr": 0.05})
    window.sessions.path = tmp_path / "never.json"
    window.close()  # the fixture answers Discard
    assert not window.isVisible() and not (tmp_path / "never.json").exists()


def test_dialogs_start_in_the_last_used_folder(qtbot, window, tmp_path, monkeypatch):
    folder = tmp_path / "figures"
    folder.mkdir()
    starts = []

    def save_name(_parent, _title, start, _filters):
        starts.append(start)
        return str(folder / "a.json"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_name))
    window.sessions.path = None
    window.sessions._on_save_as()
    assert (folder / "a.json").exists()
    window.sessions.path = None  # a new, unsaved session: the dialog starts where we were
    window.exports._ask_path("Export figure", "PNG (*.png)", "x.png")
    assert starts[-1] == str(folder / "x.png")
    other = MainWindow(make_config({}), settings=window.settings)  # remembered across runs
    qtbot.addWidget(other)
    other.sessions._on_save_as()
    assert starts[-1].startswith(str(folder))


def test_reset_and_space_work_while_a_number_field_has_the_focus(qtbot, window):
    spin = window.panel.editor("inner_lr").spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "0.2")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.controller.config.inner_lr == 0.2
    run = window.controller.run_id
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_R)
    assert window.controller.run_id == run + 1
    assert spin.value() == 0.2  # the field did not take the key
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Space)
    assert window.controller.playing
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Space)
    assert not window.controller.playing


def test_enter_in_a_text_field_gives_the_keys_back(qtbot, window):
    edit = window.panel.editor("theta0").line_edit
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    edit.setText("[0.4, 0.6]")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.controller.config.theta0 == (0.4, 0.6)
    assert not edit.hasFocus()
    run = window.controller.run_id
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_R)
    assert window.controller.run_id == run + 1
    assert window.controller.config.theta0 == (0.4, 0.6)


@pytest.mark.parametrize("name", preset_names())
def test_every_animated_preset_takes_about_a_second_per_meta_step(name):
    preset = load_preset(name)
    speed = preset.view.playback.speed
    if preset.view.tab == "compare" or speed == "full":
        return  # a comparison, or training at full speed: no animation to wait for
    frames = frames_per_meta_step(preset.config, preset.view.playback.order)
    shown = preset_speed(speed, frames)  # what the window plays it at
    assert shown >= speed
    # the fastest notch is 60 frames/s: a 75-frame meta-step takes 1.25 s there
    assert frames / shown <= max(1.0, frames / 60.0), f"{name}: {frames} frames at {shown}"
    assert frames / shown <= 1.3


def test_a_slow_preset_speed_is_raised_in_the_window(qtbot, window):
    from maml_gui.runtime.session_file import Session
    from maml_gui.view import PlaybackState, WindowState

    config = make_config({"algorithm": "imaml", "inner_steps": 20})
    playback = PlaybackState(speed=2.0, order="one_by_one")
    window.apply_session(Session(config, WindowState(playback=playback)))
    frames = frames_per_meta_step(config, "one_by_one")
    assert frames / SPEEDS[window.speed_slider.value()] <= 1.0


@pytest.mark.parametrize("changes", [{}, {"algorithm": "imaml", "inner_steps": 20},
                                     {"algorithm": "tr_maml", "task": {"family": "quadratic"}}])
def test_frame_count_matches_a_real_meta_step(changes):
    config = make_config({"cg_tol": 0.0, **changes})  # CG runs all its steps
    record = next(train(config, 1))
    for order in ("one_by_one", "together"):
        assert frames_per_meta_step(config, order) == len(build_frames(record, order))


def test_more_inner_steps_speed_the_animation_up(qtbot, window):
    window.panel.changes_requested.emit({"algorithm": "imaml"})
    window.panel.changes_requested.emit({"inner_steps": 20})
    speed = SPEEDS[window.speed_slider.value()]
    frames = frames_per_meta_step(window.controller.config, window.order_box.currentData())
    assert not math.isinf(speed) and frames / speed <= 1.0
    window.sessions.apply_preset("article_two_tasks")
    assert frames_per_meta_step(window.controller.config, "one_by_one") / SPEEDS[
        window.speed_slider.value()] <= 1.0


def test_preset_from_the_command_line_shows_its_description(qtbot, tmp_path, monkeypatch):
    """`maml-gui --preset NAME` shows the same scenario panel as the Presets menu."""
    import maml_gui.app as app_module
    from maml_gui.cli import build_parser

    seen = {}

    def grab(_app, window, _path, _steps, **_kwargs):
        qtbot.addWidget(window)
        seen["title"] = window.intro.title.text()
        seen["description"] = window.intro.description.text()
        seen["folded"] = window.intro.collapsed
        # let the worker processes finish starting before the window closes them
        qtbot.waitUntil(lambda: window.canvas.shown_surface is not None, timeout=60_000)
        return 0

    monkeypatch.setattr(app_module, "_take_screenshot", grab)
    args = build_parser().parse_args(["--preset", "article_reptile", "--screenshot",
                                      str(tmp_path / "s.png")])
    assert app_module.run_app(args) == 0
    preset = load_preset("article_reptile")
    assert seen == {"title": preset.title, "description": preset.description, "folded": False}


def test_a_choice_in_a_list_gives_the_keys_back(qtbot, window):
    """A focused list would take R as "jump to reptile": after a choice the canvas has the keys."""
    combo = window.panel.editor("algorithm").combo
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    combo.setCurrentIndex(combo.findData("fomaml"))
    assert window.controller.config.algorithm == "fomaml"
    assert not combo.hasFocus()
    run = window.controller.run_id
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_R)
    assert window.controller.run_id == run + 1
    assert window.controller.config.algorithm == "fomaml"


def test_a_session_file_does_not_keep_the_previous_presets_text(qtbot, window, tmp_path):
    from maml_gui.widgets.intro_panel import WELCOME_TITLE

    path = tmp_path / "mine.json"
    assert window.sessions.save(path)
    window.sessions.apply_preset("article_reptile")
    assert window.intro.title.text() == load_preset("article_reptile").title
    assert window.sessions.open_session(path)
    assert window.intro.title.text() == WELCOME_TITLE
