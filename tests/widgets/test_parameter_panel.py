"""The parameter panel: generated from the field tables, validated before anything is sent."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFont, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.config import FIELDS, make_config
from maml_gui.core.device import DeviceInfo
from maml_gui.core.tasks import FAMILIES
from maml_gui.widgets import parameter_panel as panel_module
from maml_gui.widgets.field_editors import LOG_FLOOR, LogFloatEditor
from maml_gui.widgets.parameter_panel import COLD_MARK, ParameterPanel


@pytest.fixture(autouse=True)
def _fixed_font(qapp):
    QApplication.setFont(QFont("DejaVu Sans", 9))


@pytest.fixture
def make_panel(qtbot):
    def make(**data) -> ParameterPanel:
        panel = ParameterPanel(make_config(data))
        qtbot.addWidget(panel)
        return panel

    return make


def emitted(qtbot, panel, action):
    """Run ``action`` and return the one dict ``changes_requested`` carried."""
    with qtbot.waitSignal(panel.changes_requested, timeout=1000) as blocker:
        action()
    return blocker.args[0]


def type_into(qtbot, spin, text):
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def commit_text(qtbot, line_edit, text):
    line_edit.setFocus()
    line_edit.selectAll()
    qtbot.keyClick(line_edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(line_edit, text)
    qtbot.keyClick(line_edit, Qt.Key.Key_Return)


# --- generated from the tables ---------------------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_field_and_family_field_has_an_editor_with_the_tables_tooltip(make_panel, family):
    panel = make_panel(task={"family": family})
    expected = [(f.name, f) for f in FIELDS if f.name != "steps"]
    expected += [(f"task.{f.name}", f) for f in FAMILIES[family].fields]
    for key, field in expected:
        editor = panel.editor(key)
        assert editor.field == field
        assert field.help in editor.toolTip() and field.help in panel.label(key).toolTip()
        for widget in editor.inputs():
            assert field.help in widget.toolTip()
    assert {k for k in panel._editors if k.startswith("task.")} == \
        {"task.family"} | {f"task.{f.name}" for f in FAMILIES[family].fields}
    with pytest.raises(KeyError):
        panel.editor("steps")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cold_fields_carry_the_restart_marker_and_hot_ones_do_not(make_panel, family):
    panel = make_panel(task={"family": family})
    assert COLD_MARK in panel.legend.text() and "restart" in panel.legend.text()
    for key, editor in panel._editors.items():
        label = panel.label(key)
        assert (COLD_MARK in label.text()) == (not editor.field.hot), key
        assert ("restarts the run" in label.toolTip()) == (not editor.field.hot), key


def test_ranges_come_from_the_field_table(qtbot, make_panel):
    panel = make_panel(task={"family": "sinusoid"})
    assert panel.editor("inner_steps").spin.field_range() == (1, 1000)
    assert panel.editor("task.k_shot").spin.field_range() == (1, 10_000)
    assert panel.editor("cg_damping").spin.field_range() == (0.0, 1e4)
    lr = panel.editor("inner_lr")
    assert isinstance(lr, LogFloatEditor)
    assert lr.spin.field_range() == (0.0, 100.0)
    # the slider spans three decades (0.01 … 10 to start); the spin box the whole range
    assert lr.value_at(0) == pytest.approx(0.01) and lr.value_at(lr.slider.maximum()) == 10.0
    assert panel.editor("dtype").values() == ["auto", "float32", "float64"]
    assert panel.editor("algorithm").values() == list(ALGORITHMS)

    # arrows stop at the ends of the range
    steps = panel.editor("inner_steps").spin
    emitted(qtbot, panel, lambda: steps.setValue(1000))
    with qtbot.assertNotEmitted(panel.changes_requested):
        steps.stepUp()
    assert steps.value() == 1000


def test_log_slider_is_fine_enough_and_follows_the_value(qtbot, make_panel):
    """0.1 → 7.94 took 40 px of a slider spanning 1e-5 … 100; now it spans three decades."""
    lr = make_panel().editor("inner_lr")
    travel = (lr.position_of(7.94) - lr.position_of(0.1)) / lr.slider.maximum()
    assert travel > 0.6  # of the groove: 90 px of a 150 px slider
    # a value typed outside the span moves the span by whole decades to cover it
    for value in (0.0004, 50.0, LOG_FLOOR, 0.3):
        lr.spin.setValue(value)
        low, high = lr.value_at(0), lr.value_at(lr.slider.maximum())
        assert low <= value * 1.0001 and value <= high * 1.0001, (value, low, high)
        assert lr.value_at(lr.slider.value()) == pytest.approx(value, rel=0.03)
        assert high / low == pytest.approx(1e3, rel=1e-6)
    lr.spin.setValue(80.0)
    assert lr.value_at(lr.slider.maximum()) == 100.0  # never past the field's range


@pytest.mark.parametrize("key, text, words", [
    ("inner_steps", "2000", ["inner_steps = 2000", "≤ 1000"]),
    ("inner_lr", "-0.1", ["inner_lr = -0.1", "≥ 0"]),
    ("seed", "-5", ["seed = -5", "≥ 0"]),
])
def test_typed_values_out_of_range_are_refused_with_the_range(qtbot, make_panel, key, text, words):
    panel = make_panel()
    spin = panel.editor(key).spin
    with qtbot.assertNotEmitted(panel.changes_requested):
        type_into(qtbot, spin, text)
    assert spin.text() == text  # kept, so it can be fixed
    for word in words:
        assert word in panel.editor(key).error()


# --- hot settings apply live -----------------------------------------------------------------
def test_editing_a_hot_float_emits_exactly_that_change(qtbot, make_panel):
    panel = make_panel()
    spin = panel.editor("inner_lr").spin
    assert emitted(qtbot, panel, lambda: spin.setValue(0.05)) == {"inner_lr": 0.05}
    assert panel.config().inner_lr == 0.05


def test_typing_into_a_spin_box_commits_once_on_enter(qtbot, make_panel):
    panel = make_panel()
    seen = []
    panel.changes_requested.connect(seen.append)
    type_into(qtbot, panel.editor("outer_lr").spin, "0.25")
    assert seen == [{"outer_lr": 0.25}]


def test_tiny_tolerance_is_shown_and_typed_in_scientific_notation(qtbot, make_panel):
    panel = make_panel(algorithm="imaml")
    spin = panel.editor("cg_tol").spin
    assert spin.text() == "1e-10"
    seen = []
    panel.changes_requested.connect(seen.append)
    type_into(qtbot, spin, "3e-8")
    assert seen == [{"cg_tol": 3e-8}]


def test_log_slider_and_spin_box_stay_in_sync(qtbot, make_panel):
    panel = make_panel()
    editor = panel.editor("inner_lr")
    assert editor.slider.value() == editor.position_of(0.1)

    assert emitted(qtbot, panel, lambda: editor.spin.setValue(0.01)) == {"inner_lr": 0.01}
    assert editor.slider.value() == editor.position_of(0.01)
    assert editor.value_at(editor.slider.value()) == pytest.approx(0.01)

    # keyboard / click on the groove: applies at once, rounded to 3 significant digits
    target = editor.slider.value() + editor.slider.pageStep()
    changes = emitted(qtbot, panel, lambda: editor.slider.setValue(target))
    assert changes == {"inner_lr": pytest.approx(0.1)}
    assert editor.spin.value() == changes["inner_lr"]

    # the spin box reaches 0, below the slider's log floor
    assert emitted(qtbot, panel, lambda: editor.spin.setValue(0.0)) == {"inner_lr": 0.0}
    assert editor.slider.value() == 0


def test_a_slider_drag_sends_one_change_on_release(qtbot, make_panel):
    panel = make_panel()
    editor = panel.editor("outer_lr")
    editor.slider.setSliderDown(True)
    with qtbot.assertNotEmitted(panel.changes_requested):
        for step in range(1, 20):
            editor.slider.setValue(editor.position_of(0.1) + step)
    assert editor.spin.value() == editor.value_at(editor.slider.value())  # the box follows
    changes = emitted(qtbot, panel, lambda: editor.slider.setSliderDown(False))
    assert changes == {"outer_lr": editor.value_at(editor.slider.value())}


def test_unchanged_values_send_nothing(qtbot, make_panel):
    panel = make_panel()
    with qtbot.assertNotEmitted(panel.changes_requested):
        panel.editor("inner_steps").spin.setValue(1)
        commit_text(qtbot, panel.editor("task.x_range").line_edit, "[-3, 3]")


# --- choices ---------------------------------------------------------------------------------
def test_choosing_an_algorithm_emits_its_name_and_shows_its_summary(qtbot, make_panel):
    panel = make_panel()
    editor = panel.editor("algorithm")
    for name, cls in ALGORITHMS.items():
        item = editor.item(name)
        assert item.text() == cls.label and item.toolTip() == cls.summary
    assert emitted(qtbot, panel, lambda: editor.select("reptile")) == {"algorithm": "reptile"}
    assert editor.combo.currentText() == "Reptile"
    assert editor.note.text() == ALGORITHMS["reptile"].summary


def test_fields_the_algorithm_does_not_read_are_disabled_with_the_reason(qtbot, make_panel):
    panel = make_panel()  # MAML
    for name in ("imaml_lambda", "cg_steps", "cg_damping", "cg_tol", "tr_lr"):
        assert not panel.editor(name).isEnabled()
        assert "Not used by MAML" in panel.editor(name).toolTip()
        assert "Not used by MAML" in panel.label(name).toolTip()
    assert not panel.section("iMAML").isEnabled()
    assert panel.editor("inner_lr").isEnabled()

    emitted(qtbot, panel, lambda: panel.editor("algorithm").select("imaml"))
    assert panel.editor("imaml_lambda").isEnabled() and panel.section("iMAML").isEnabled()
    assert "Not used" not in panel.editor("imaml_lambda").toolTip()
    assert not panel.editor("tr_lr").isEnabled()

    panel.set_config(make_config({"algorithm": "pretrain"}))
    for name in ("inner_lr", "inner_steps"):
        assert not panel.editor(name).isEnabled()
        assert "Not used by Pretraining" in panel.editor(name).toolTip()
    assert panel.editor("outer_lr").isEnabled()
    assert panel.editor("seed").isEnabled()  # cold settings never grey out


def test_unavailable_devices_are_listed_disabled_with_their_reason(qtbot, monkeypatch):
    devices = [DeviceInfo("auto", True), DeviceInfo("cpu", True),
               DeviceInfo("cuda", False, "no CUDA GPU was found"),
               DeviceInfo("mps", False, "Apple-silicon GPUs (MPS) are not available here")]
    monkeypatch.setattr(panel_module, "list_devices", lambda: devices)
    panel = ParameterPanel(make_config({}))
    qtbot.addWidget(panel)
    editor = panel.editor("device")
    assert editor.values() == ["auto", "cpu", "cuda", "mps"]
    for info in devices:
        item = editor.item(info.name)
        assert bool(item.flags() & Qt.ItemFlag.ItemIsEnabled) == info.available
        if not info.available:
            assert item.toolTip() == info.reason
    assert emitted(qtbot, panel, lambda: editor.select("cpu")) == {"device": "cpu"}


def test_a_refused_choice_goes_back_and_says_why(qtbot, make_panel):
    panel = make_panel(task={"family": "sinusoid"})  # fresh tasks: TR-MAML needs a fixed pool
    editor = panel.editor("algorithm")
    with qtbot.assertNotEmitted(panel.changes_requested):
        editor.select("tr_maml")
    assert editor.current_value() == "maml" and panel.config().algorithm == "maml"
    assert "algorithm" in editor.error() and "fixed_tasks" in editor.error()
    assert editor._error_label.isVisibleTo(panel)

    emitted(qtbot, panel, lambda: panel.editor("task.fixed_tasks").check.setChecked(True))
    assert emitted(qtbot, panel, lambda: editor.select("tr_maml")) == {"algorithm": "tr_maml"}
    assert editor.error() == ""


# --- task family -----------------------------------------------------------------------------
def test_switching_family_rebuilds_the_task_section(qtbot, make_panel):
    panel = make_panel()
    family = panel.editor("task.family")
    assert family.item("rbf").text() == FAMILIES["rbf"].label
    assert family.item("rbf").toolTip() == FAMILIES["rbf"].description
    changes = emitted(qtbot, panel, lambda: family.select("quadratic"))
    assert changes == {"task.family": "quadratic"}
    assert panel.config().family == "quadratic"
    for field in FAMILIES["quadratic"].fields:
        assert panel.editor(f"task.{field.name}").field == field
    with pytest.raises(KeyError):
        panel.editor("task.optima")
    assert family.note.text() == FAMILIES["quadratic"].description

    # the new rows work
    spin = panel.editor("task.centre_scale").spin
    assert emitted(qtbot, panel, lambda: spin.setValue(2.5)) == {"task.centre_scale": 2.5}


def test_switching_family_resets_a_theta0_that_does_not_fit(qtbot, make_panel):
    panel = make_panel(theta0=[0.5, 0.5])
    changes = emitted(qtbot, panel, lambda: panel.editor("task.family").select("sinusoid"))
    assert changes == {"task.family": "sinusoid", "theta0": None}
    assert panel.editor("theta0").line_edit.text() == ""


def test_set_config_with_another_family_rebuilds_without_emitting(qtbot, make_panel):
    panel = make_panel()
    with qtbot.assertNotEmitted(panel.changes_requested):
        panel.set_config(make_config({"task": {"family": "rbf", "sharpness": 4.0}}))
    assert panel.editor("task.family").current_value() == "rbf"
    assert panel.editor("task.sharpness").spin.value() == 4.0
    assert panel.editor("task.heights").line_edit.text() == "[-1.0, -1.5, 2.0, -1.5]"


def test_resample_button_asks_for_new_tasks(qtbot, make_panel):
    panel = make_panel()
    with qtbot.waitSignal(panel.resample_requested, timeout=1000):
        qtbot.mouseClick(panel.resample_button, Qt.MouseButton.LeftButton)


# --- validation ------------------------------------------------------------------------------
def test_meta_batch_larger_than_the_pool_is_refused_with_a_message(qtbot, make_panel):
    panel = make_panel()  # softplus: a pool of 2 tasks
    editor = panel.editor("meta_batch")
    assert editor.null_check.isChecked() and editor.null_check.text() == "all tasks"
    assert editor.spin.value() == 2  # what "all tasks" stands for

    assert emitted(qtbot, panel, lambda: editor.null_check.setChecked(False)) == {"meta_batch": 2}
    with qtbot.assertNotEmitted(panel.changes_requested):
        editor.spin.setValue(5)
    assert "meta_batch" in editor.error() and "larger than the 2 tasks" in editor.error()
    assert editor.spin.value() == 5 and panel.config().meta_batch == 2
    assert "border" in editor._frame.styleSheet()

    assert emitted(qtbot, panel, lambda: editor.spin.setValue(1)) == {"meta_batch": 1}
    assert editor.error() == "" and editor._frame.styleSheet() == ""
    assert emitted(qtbot, panel, lambda: editor.null_check.setChecked(True)) == {"meta_batch": None}


def test_malformed_json_is_refused_with_a_readable_message(qtbot, make_panel):
    panel = make_panel()
    editor = panel.editor("theta0")
    with qtbot.assertNotEmitted(panel.changes_requested):
        commit_text(qtbot, editor.line_edit, "[0.5, 0.2")
    assert editor.error().startswith("theta0") and "not valid JSON" in editor.error()
    assert editor.line_edit.text() == "[0.5, 0.2"  # kept, so it can be fixed

    changes = emitted(qtbot, panel, lambda: commit_text(qtbot, editor.line_edit, "[0.5, 0.2]"))
    assert changes == {"theta0": [0.5, 0.2]}
    assert editor.error() == ""
    assert panel.config().theta0 == (0.5, 0.2)


def test_theta0_of_the_wrong_length_is_refused(qtbot, make_panel):
    panel = make_panel()  # softplus has 2 parameters
    editor = panel.editor("theta0")
    with qtbot.assertNotEmitted(panel.changes_requested):
        commit_text(qtbot, editor.line_edit, "[1, 2, 3]")
    assert "theta0" in editor.error() and "2 numbers" in editor.error()
    assert editor.line_edit.text() == "[1, 2, 3]"
    assert panel.config().theta0 is None
    # empty means null again
    with qtbot.assertNotEmitted(panel.changes_requested):
        commit_text(qtbot, editor.line_edit, "")
    assert editor.error() == ""


def test_a_refused_float_names_the_field(qtbot, make_panel):
    panel = make_panel(algorithm="imaml")
    editor = panel.editor("imaml_lambda")  # must be > 0; the spin box reaches 0
    with qtbot.assertNotEmitted(panel.changes_requested):
        editor.spin.setValue(0.0)
    assert editor.error().startswith("imaml_lambda") and "> 0" in editor.error()


def test_two_edits_in_a_row_validate_against_each_other(qtbot, make_panel):
    panel = make_panel(task={"family": "quadratic"})  # 3 sampled tasks
    editor = panel.editor("task.n_tasks")
    assert editor.null_check.isChecked() and editor.spin.value() == 3
    with qtbot.assertNotEmitted(panel.changes_requested):
        editor.null_check.setChecked(False)  # 3 is what auto gives: no change, nothing sent
    changes = emitted(qtbot, panel, lambda: editor.spin.setValue(6))
    assert changes == {"task.n_tasks": 6}
    meta_batch = panel.editor("meta_batch")
    meta_batch.null_check.setChecked(False)
    assert emitted(qtbot, panel, lambda: meta_batch.spin.setValue(5)) == {"meta_batch": 5}
    assert panel.config().meta_batch == 5 and panel.config().task["n_tasks"] == 6


def test_family_nullable_counts_show_auto_when_null_gives_the_same_config(qtbot, make_panel):
    panel = make_panel()  # softplus: n_tasks follows the 2 listed optima
    editor = panel.editor("task.n_tasks")
    assert editor.null_check.isChecked() and editor.spin.value() == 2
    with qtbot.assertNotEmitted(panel.changes_requested):
        editor.null_check.setChecked(False)  # 2 is what auto gives: no change
        editor.spin.setValue(3)
    assert "task.n_tasks" in editor.error() and "2 listed optima" in editor.error()


# --- set_config ------------------------------------------------------------------------------
def test_set_config_shows_values_without_emitting(qtbot, make_panel):
    panel = make_panel()
    new = make_config({"algorithm": "imaml", "inner_lr": 0.02, "inner_steps": 7, "seed": 11,
                       "theta0": [0.25, -1.0], "meta_batch": 1, "cg_tol": 1e-6,
                       "task": {"family": "softplus", "noise": 0.3}})
    with qtbot.assertNotEmitted(panel.changes_requested):
        panel.set_config(new)
    assert panel.config() == new
    assert panel.editor("inner_lr").spin.value() == 0.02
    assert panel.editor("inner_lr").slider.value() == panel.editor("inner_lr").position_of(0.02)
    assert panel.editor("inner_steps").spin.value() == 7
    assert panel.editor("seed").spin.value() == 11
    assert panel.editor("algorithm").current_value() == "imaml"
    assert panel.editor("theta0").line_edit.text() == "[0.25, -1.0]"
    assert not panel.editor("meta_batch").null_check.isChecked()
    assert panel.editor("meta_batch").spin.value() == 1
    assert panel.editor("cg_tol").spin.text() == "1e-06"
    assert panel.editor("task.noise").spin.value() == 0.3


def test_set_config_keeps_a_refused_entry_until_its_value_moves(qtbot, make_panel):
    panel = make_panel()
    editor = panel.editor("theta0")
    commit_text(qtbot, editor.line_edit, "[1, 2, 3]")
    assert editor.error()
    panel.set_config(panel.config().with_changes({"inner_lr": 0.3}))  # unrelated change
    assert editor.line_edit.text() == "[1, 2, 3]" and editor.error()
    panel.set_config(panel.config().with_changes({"theta0": [0.0, 1.0]}))  # θ dragged
    assert editor.line_edit.text() == "[0.0, 1.0]" and editor.error() == ""


# --- size ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILIES))
def test_labels_fit_a_320_px_dock(qtbot, make_panel, family):
    panel = make_panel(task={"family": family})
    assert panel.minimumSizeHint().width() <= 320
    panel.resize(320, panel.sizeHint().height())
    panel.show()
    qtbot.waitExposed(panel)
    for key in panel._editors:
        label = panel.label(key)
        if isinstance(label, QLabel):
            assert label.width() >= label.sizeHint().width(), key
        assert panel.editor(key).width() <= 320


def test_switching_family_under_tr_maml_picks_a_fixed_pool(qtbot, make_panel):
    panel = make_panel(algorithm="tr_maml")
    changes = emitted(qtbot, panel, lambda: panel.editor("task.family").select("sinusoid"))
    assert changes == {"task.family": "sinusoid", "task.fixed_tasks": True}
    assert panel.editor("task.fixed_tasks").check.isChecked()


def test_the_wheel_does_not_change_an_unfocused_editor(qtbot, make_panel):
    panel = make_panel()
    panel.show()
    qtbot.waitExposed(panel)
    spin = panel.editor("inner_steps").spin
    spin.clearFocus()
    centre = QPointF(spin.width() / 2, spin.height() / 2)

    def wheel():
        event = QWheelEvent(centre, spin.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(spin, event)

    with qtbot.assertNotEmitted(panel.changes_requested):
        wheel()  # scrolling the dock past the spin box
    assert spin.value() == 1
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    assert emitted(qtbot, panel, wheel) == {"inner_steps": 2}
