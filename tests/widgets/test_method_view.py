"""The Method dock's views draw what the records of TreeMAML, B-SMALL and MetaNAS hold."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from maml_gui.core.animation import Frame
from maml_gui.core.config import make_config
from maml_gui.core.tasks import make_family
from maml_gui.core.training import train
from maml_gui.widgets.method_view import MethodView
from maml_gui.widgets.tree_view import cluster_runs, task_order

SINE = {"family": "sinusoid", "hidden": [6, 6], "n_tasks": 4}


def _snapshot(config, steps, frame=None):
    records = list(train(config, steps))
    return SimpleNamespace(record=records[-1], frames=(frame,) if frame else (), frame_index=0,
                           history=SimpleNamespace(records=records), full_speed=False), records


def _view(qtbot, config):
    view = MethodView(config)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    return view


def test_tree_view_draws_one_block_per_cluster_and_the_step_distances(qtbot):
    config = make_config({"algorithm": "tree_maml", "inner_steps": 3, "inner_lr": 0.3,
                          "tree_clusters": [[0, 0, 1, 1, 1], [0, 0, 2, 2, 4], [0, 1, 2, 3, 4]],
                          "task": {"family": "quadratic", "n_tasks": 5}})
    view = _view(qtbot, config)
    snapshot, _ = _snapshot(config, 1, Frame("inner", None, 2))
    view.show_snapshot(snapshot)
    assert view.currentWidget() is view.tree
    labels = snapshot.record.diagnostics["cluster_labels"]
    assert len(view.tree.bars) == 2 + 3 + 5
    assert view.tree.step == 1  # the frame has reached inner step 2
    order = task_order(labels)
    assert [int(t) for t in order] == [0, 1, 2, 3, 4]
    expected = snapshot.record.diagnostics["grad_cosine_distances"][..., 1][np.ix_(order, order)]
    np.testing.assert_allclose(view.tree.heatmap.image, expected)
    assert len(view.tree.outlines) == len(cluster_runs(labels[:, 1], order)) == 3
    assert "reconstruction" in view.tree.note.text()


def test_bsmall_view_shows_log_rho_of_theta_and_the_sparsity_history(qtbot):
    config = make_config({"algorithm": "b_small", "task": SINE, "inner_lr": 0.01})
    view = _view(qtbot, config)
    snapshot, records = _snapshot(config, 3)
    view.show_snapshot(snapshot)
    assert view.currentWidget() is view.bsmall
    model = make_family(config)
    flat = model.flat_log_rho(torch.tensor(records[-1].theta, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(view.bsmall.images[1].image, flat[6:42].reshape(6, 6), rtol=1e-6)
    x, y = view.bsmall.curves["all"].getData()
    np.testing.assert_allclose(x, [0, 1, 2])
    np.testing.assert_allclose(y, [float(r.diagnostics["sparsity"]) for r in records])
    assert "sparsity" in view.bsmall.summary.text()


def test_metanas_bars_follow_the_inner_loop_and_grey_pruned_operations(qtbot):
    config = make_config({"algorithm": "metanas", "task": SINE, "inner_steps": 3,
                          "metanas_prune": 0.26, "metanas_prune_every": 1, "inner_lr": 0.05})
    view = _view(qtbot, config)
    snapshot, records = _snapshot(config, 3, Frame("inner", None, 2))
    view.show_snapshot(snapshot)
    record = records[-1]
    heights = view.metanas.bars[0].opts["height"]
    np.testing.assert_allclose(heights, record.diagnostics["arch_path"][:, 0, :, 2].mean(0))
    pruned = record.diagnostics["pruned"].astype(bool)
    assert pruned.any()
    brushes = view.metanas.bars[0].opts["brushes"]
    assert all((b == "#5A5A5A") == p for b, p in zip(brushes, pruned[0]))
    snapshot.frames = ()
    view.show_snapshot(snapshot)
    np.testing.assert_allclose(view.metanas.bars[1].opts["height"], record.diagnostics["arch_weights"][1])


def test_other_algorithms_get_a_pointer(qtbot):
    view = _view(qtbot, make_config({}))
    assert view.currentWidget() is view.none
    assert "TreeMAML" in view.none.text()


# --- iTAML (issue 15) ----------------------------------------------------------------------

def test_itaml_view_draws_the_stream_memory_mu_matrix_and_prediction(qtbot):
    from maml_gui.core.algorithms.itaml_stream import class_ranks, sample_classes

    config = make_config({"algorithm": "itaml", "itaml_session_steps": 2, "itaml_memory": 12,
                          "itaml_batch": 5, "itaml_decay": 0.8,
                          "task": {"family": "blobs", "n_tasks": 3, "hidden": [6, 6],
                                   "n_points": 8, "n_query": 10}})
    view = _view(qtbot, config)
    assert view.currentWidget() is view.itaml
    snapshot, records = _snapshot(config, 5)
    view.show_snapshot(snapshot)
    panel, d = view.itaml, records[-1].diagnostics
    # the timeline: the session of every meta-step
    x, y = panel.timeline_curve.getData()
    np.testing.assert_array_equal(x, range(5))
    np.testing.assert_array_equal(y, [0, 0, 1, 1, 2])
    # μ: the formula's points and the current session's marker
    np.testing.assert_allclose(panel.mu_points.getData()[1], np.exp(-0.8 * np.arange(3) / 3))
    assert panel.mu_now.getData()[0].tolist() == [2.0]
    # the memory: exactly the first 12/(3·2) = 2 exemplars of every class, at their positions
    pool = panel._pool
    family = make_family(config)
    classes = sample_classes(family, pool)
    kept = class_ranks(classes) < 2
    shown = np.column_stack(panel.memory_points.getData())
    np.testing.assert_allclose(shown, pool["x_support"].numpy()[kept])
    assert len(shown) == 12
    np.testing.assert_array_equal(panel.count_bars.opts["height"], [2] * 6)
    ringed = np.column_stack(panel.batch_points.getData())
    np.testing.assert_allclose(ringed, pool["x_support"].numpy()[d["batch_mask"].astype(bool)])
    assert len(ringed) == 5
    # the matrix: one cell per finite score, at (task, session)
    cells = np.column_stack(panel.matrix_cells.getData())
    finite = np.argwhere(np.isfinite(d["score_matrix"]) & np.tri(3, dtype=bool))
    assert len(finite) == 6  # sessions 0-2, each over the tasks arrived by then
    np.testing.assert_array_equal(cells, finite[:, ::-1])
    labels = [t.toPlainText() if t.isVisible() else None for t in panel.matrix_texts]
    assert labels == [f"{v:.2f}" if r >= c else None
                      for (r, c), v in np.ndenumerate(d["score_matrix"])]
    # task prediction: the newest task's continuum, scaled by its largest score
    row = d["task_prediction"][2]
    np.testing.assert_allclose(panel.prediction_bars.opts["height"], row / np.abs(row).max())
    assert f"t̂ = {int(np.argmax(row))}" in panel.prediction_plot.titleLabel.text
    assert "session 2 of 3" in panel.summary.text()
    seen = d["agnostic_accuracy"][np.isfinite(d["agnostic_accuracy"])]
    assert f"task-agnostic accuracy {seen.mean():.2f}" in panel.summary.text()


def test_itaml_view_on_a_regression_stream(qtbot):
    config = make_config({"algorithm": "itaml", "itaml_session_steps": 1, "itaml_memory": 4,
                          "itaml_batch": None, "task": {"family": "softplus", "n_tasks": 2}})
    view = _view(qtbot, config)
    snapshot, records = _snapshot(config, 2)
    view.show_snapshot(snapshot)
    panel = view.itaml
    shown = np.column_stack(panel.memory_points.getData())
    pool = panel._pool
    # after session 1: ⌊4/2⌋ = 2 points of each task, drawn as (x, y)
    expected = np.concatenate([np.column_stack([pool["x_support"][t, :2], pool["y_support"][t, :2]])
                               for t in range(2)])
    np.testing.assert_allclose(shown, expected)
    assert "query loss" in panel.matrix_plot.titleLabel.text
    assert "classifiers only" in panel.prediction_plot.titleLabel.text
