"""The trace view: the highlighted line follows the animation, the table shows the record's
numbers, TR-MAML's weights and iMAML's CG residuals are shown, selection syncs both ways,
and the loss curves plot the history."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.config import make_config
from maml_gui.core.pseudocode import PseudoCodeError, load_pseudocode
from maml_gui.runtime.offline import run_offline, snapshot_of
from maml_gui.widgets import trace_view
from maml_gui.widgets.loss_curves import LossCurves
from maml_gui.widgets.trace_view import (
    BAR_ROLE, VALUE_ROLE, CgResidualPlot, TraceView, WeightBarDelegate, format_number,
)
from tests.core.helpers import algorithm_config

K = 2


@pytest.fixture(scope="module")
def runs():
    """Two meta-steps of every algorithm on the article's two softplus tasks (B-SMALL and
    MetaNAS: a small sinusoid MLP)."""
    out = {}
    for algorithm in ALGORITHMS:
        config = algorithm_config(algorithm, inner_steps=K, device="cpu")
        out[algorithm] = (config, run_offline(config, 2))
    return out


@pytest.fixture
def view(qtbot):
    widget = TraceView(make_config({"device": "cpu"}))
    qtbot.addWidget(widget)
    widget.resize(420, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def cell(view, row, key, role=Qt.ItemDataRole.DisplayRole):
    model = view.model
    return model.data(model.index(row, model.column_of(key)), role)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("order", ["one_by_one", "together"])
def test_highlighted_line_follows_the_animation_phase(view, runs, algorithm, order):
    config, history = runs[algorithm]
    code = load_pseudocode(algorithm)
    frames = snapshot_of(config, history, order=order).frames
    assert len(frames) > 3
    for index, frame in enumerate(frames):
        view.show_snapshot(snapshot_of(config, history, frame_index=index, order=order))
        line = code.line_for(frame.phase)
        assert view.highlighted_line() == line, (index, frame)
        assert view.highlighted_text() == code.lines[line]
        # the highlight drawn in the code box is on that line
        (selection,) = view.code.extraSelections()
        assert selection.cursor.blockNumber() == line
        if frame.phase == "inner":
            who = "all tasks" if frame.task is None else f"task {frame.task}"
            assert f"{who}, inner step {frame.inner_step} of {config.inner_steps}" in view.frame_text()
    assert view.code.toPlainText() == code.text


def test_the_table_shows_the_records_numbers(view, runs):
    config, history = runs["maml"]
    record = history.latest
    view.show_snapshot(snapshot_of(config, history))
    model = view.model
    assert model.rowCount() == record.n_tasks == 2
    # loss before/after, ‖gᵢ‖, then Lˢ and ‖∇‖ for every inner step, and the last Lˢ
    assert model.columnCount() == 3 + 2 * K + 1
    assert cell(view, 1, "after") == format_number(record.loss_after[1])
    assert cell(view, 1, "after", VALUE_ROLE) == record.loss_after[1]
    assert cell(view, 0, "before") == format_number(record.loss_before[0])
    assert cell(view, 0, "grad", VALUE_ROLE) == pytest.approx(
        np.linalg.norm(record.task_meta_grads[0]))
    for j in range(K + 1):
        assert cell(view, 1, f"loss{j}", VALUE_ROLE) == record.inner_losses[1, j]
    for j in range(K):
        assert cell(view, 0, f"norm{j}", VALUE_ROLE) == record.inner_grad_norms[0, j]
    assert model.headerData(1, Qt.Orientation.Vertical) == "task 1"
    assert format_number(0.123456789) == "0.1235" and format_number(12345.6) == "1.235e+04"


def test_numbers_not_yet_reached_are_dimmed(view, runs):
    config, history = runs["maml"]
    frames = snapshot_of(config, history, order="one_by_one").frames
    index = next(i for i, f in enumerate(frames) if f.phase == "inner" and f.task == 0
                 and f.inner_step == 1)
    view.show_snapshot(snapshot_of(config, history, frame_index=index, order="one_by_one"))
    dimmed = Qt.ItemDataRole.ForegroundRole
    assert cell(view, 0, "loss1", dimmed) is None  # task 0 has reached φ¹
    assert cell(view, 0, "loss2", dimmed) is not None
    assert cell(view, 1, "loss1", dimmed) is not None  # task 1 has not started
    assert cell(view, 0, "loss1", Qt.ItemDataRole.FontRole).bold()  # the current cell


def test_tr_maml_weights_are_shown_as_bars(view, runs):
    config, history = runs["tr_maml"]
    record = history.latest
    frames = snapshot_of(config, history).frames
    before = [i for i, f in enumerate(frames) if f.phase == "update"][0]
    view.show_snapshot(snapshot_of(config, history, frame_index=before))
    column = view.model.column_of("weight")
    assert isinstance(view.table.itemDelegateForColumn(column), WeightBarDelegate)
    weights = record.diagnostics["task_weights"][record.task_ids]
    next_weights = record.diagnostics["task_weights_next"][record.task_ids]
    assert not np.allclose(weights, next_weights)
    for row in range(record.n_tasks):
        assert cell(view, row, "weight", VALUE_ROLE) == pytest.approx(weights[row])
        assert cell(view, row, "weight") == format_number(weights[row])
    bars = [cell(view, row, "weight", BAR_ROLE) for row in range(record.n_tasks)]
    assert max(bars) == pytest.approx(1.0) and all(0.0 <= b <= 1.0 for b in bars)
    # the weights frame shows p after the projected ascent
    view.show_snapshot(snapshot_of(config, history))
    assert frames[-1].phase == "weights"
    for row in range(record.n_tasks):
        assert cell(view, row, "weight", VALUE_ROLE) == pytest.approx(next_weights[row])


def test_imaml_cg_residual_curves(view, runs):
    config, history = runs["imaml"]
    record = history.latest
    residuals = record.diagnostics["cg_residuals"]
    frames = snapshot_of(config, history, order="one_by_one").frames
    index = next(i for i, f in enumerate(frames) if f.phase == "cg" and f.task == 1)
    view.show_snapshot(snapshot_of(config, history, frame_index=index, order="one_by_one"))
    assert view.tabs.isTabVisible(view.tabs.indexOf(view.cg_plot))
    curves = view.cg_plot.curves
    assert len(curves) == record.n_tasks
    for curve, row in zip(curves, residuals):
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, np.arange(residuals.shape[1]))
        np.testing.assert_array_equal(y, np.where(row > 0, row, np.nan))
    assert view.cg_plot.plot.getAxis("left").logMode
    assert view.cg_plot.marker.isVisible()
    assert view.cg_plot.marker.value() == frames[index].cg_iteration
    assert "CG iteration" in view.frame_text()
    assert cell(view, 1, "cg", VALUE_ROLE) == residuals[1, -1]
    # algorithms without CG hide the tab
    config, history = runs["maml"]
    view.show_snapshot(snapshot_of(config, history))
    assert not view.tabs.isTabVisible(view.tabs.indexOf(view.cg_plot))
    assert "cg" not in view.model.column_keys()


def test_row_selection_emits_and_highlight_task_does_not(qtbot, view, runs):
    config, history = runs["maml"]
    view.show_snapshot(snapshot_of(config, history))
    view.tabs.setCurrentWidget(view.table)
    rect = view.table.visualRect(view.model.index(1, 0))
    with qtbot.waitSignal(view.task_selected) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [1]
    with qtbot.assertNotEmitted(view.task_selected):
        view.highlight_task(0)
    assert [i.row() for i in view.table.selectionModel().selectedRows()] == [0]
    with qtbot.assertNotEmitted(view.task_selected):
        view.highlight_task(None)
    assert view.table.selectionModel().selectedRows() == []
    # the selection survives new records and a rebuilt table, still without emitting
    view.highlight_task(1)
    config2, history2 = runs["tr_maml"]
    with qtbot.assertNotEmitted(view.task_selected):
        view.show_snapshot(snapshot_of(config2, history2))
    assert [i.row() for i in view.table.selectionModel().selectedRows()] == [1]


def test_updates_are_cheap(qtbot, view, runs):
    config, history = runs["maml"]
    first, second = history.records
    resets, changes = [], []
    view.model.modelReset.connect(lambda: resets.append(1))
    view.model.dataChanged.connect(lambda *a: changes.append(1))
    snapshot = snapshot_of(config, history, first)
    view.show_snapshot(snapshot)
    assert len(resets) == 1  # the first record sets the table's shape
    view.show_snapshot(snapshot)
    assert len(changes) == 0  # the same record and frame: nothing to do
    view.show_snapshot(snapshot_of(config, history, second))  # same shape: cells refresh
    view.show_snapshot(snapshot_of(config, history, second, frame_index=1))
    assert len(resets) == 1 and len(changes) == 2
    other_config, other = runs["pretrain"]  # no inner loop: fewer columns
    view.show_snapshot(snapshot_of(other_config, other))
    assert len(resets) == 2
    assert view.pseudocode.algorithm == "pretrain"


def test_config_sets_the_algorithm_before_any_step(qtbot, view):
    view.set_config(make_config({"algorithm": "imaml", "device": "cpu"}))
    assert view.pseudocode.algorithm == "imaml"
    assert view.code.toPlainText() == load_pseudocode("imaml").text
    assert "λ = 1" in view.settings_label.text()
    assert "m = 5" in view.settings_label.text()  # cg_steps, by its Field.symbol
    assert view.highlighted_line() == -1


def test_missing_pseudocode_is_shown_not_raised(qtbot, monkeypatch, runs):
    def missing(algorithm):
        raise PseudoCodeError(f"no pseudo-code for algorithm {algorithm!r}")

    monkeypatch.setattr(trace_view, "load_pseudocode", missing)
    config, history = runs["fomaml"]
    widget = TraceView(config)
    qtbot.addWidget(widget)
    widget.show_snapshot(snapshot_of(config, history))
    assert "no pseudo-code" in widget.code.toPlainText()
    assert widget.highlighted_line() == -1
    assert widget.model.rowCount() == 2  # the numbers are still shown


def test_loss_curves_plot_the_history_columns(qtbot, runs):
    curves = LossCurves()
    qtbot.addWidget(curves)
    config = make_config({"algorithm": "maml", "device": "cpu"})
    history = run_offline(config, 12)
    curves.show_history(history)
    for name, column in (("before", history.loss_before), ("after", history.loss_after),
                         ("worst", history.worst_after)):
        x, y = curves.curve_data(name)
        np.testing.assert_array_equal(x, history.steps)
        np.testing.assert_array_equal(y, column)
    # an unchanged history is not redrawn
    with qtbot.assertNotEmitted(curves.curves["after"].sigPlotChanged):
        curves.show_history(history)
    # large histories stay cheap: the plot clips to the view and downsamples
    item = curves.curves["after"]
    assert item.opts["clipToView"] and item.opts["autoDownsample"]
    # log axis: a display option, the data stays the same
    assert not curves.log_y
    curves.log_box.click()
    assert curves.log_y and curves.plot.getAxis("left").logMode
    assert item.opts["logMode"][1]
    np.testing.assert_array_equal(curves.curve_data("after")[1], history.loss_after)
    curves.set_log_y(False)
    assert not curves.plot.getAxis("left").logMode


def test_trace_view_feeds_the_loss_curves(view, runs):
    config, history = runs["reptile"]
    view.tabs.setCurrentWidget(view.table)
    view.show_snapshot(snapshot_of(config, history))
    # hidden in its tab: no drawing yet; shown: the curves catch up
    assert view.loss_curves.curve_data("worst")[1] is None
    view.tabs.setCurrentWidget(view.loss_curves)
    x, y = view.loss_curves.curve_data("worst")
    np.testing.assert_array_equal(x, history.steps)
    np.testing.assert_array_equal(y, history.worst_after)


@pytest.mark.parametrize("iterations", [3, 6, 41])
def test_cg_iteration_ticks_are_whole_numbers(qtbot, iterations):
    plot = CgResidualPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 300)
    plot.show()
    qtbot.waitExposed(plot)
    residuals = np.geomspace(1.0, 1e-6, iterations)[None, :].repeat(2, axis=0)
    plot.show_residuals(residuals)
    axis = plot.plot.getAxis("bottom")
    low, high = plot.plot.getViewBox().viewRange()[0]
    ticks = [value for _spacing, values in axis.tickValues(low, high, axis.width())
             for value in values]
    assert ticks and all(float(v).is_integer() for v in ticks), ticks
    assert len(ticks) <= 12
