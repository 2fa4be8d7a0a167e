"""The landscape plot item as a reader sees it: what the legend explains and where it sits,
θ's label beside (not over) the mean meta-gradient, optima that stay put, MLP defaults."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF

from maml_gui.core.training import train
from maml_gui.export.figure import LandscapeFigure, snapshot_at
from maml_gui.plots.cluster_arrows import LEGEND_TEXT as CLUSTER_TEXT
from maml_gui.presets import load_preset

SIZE = (640, 480)


@pytest.fixture(scope="module")
def two_tasks():
    config = load_preset("article_two_tasks").config.with_changes({"steps": 20})
    return config, list(train(config, 20))


def _legend_texts(drawing) -> list[str]:
    return [label.text for _, label in drawing.legend.items]


def _scene_rect(item):
    return item.mapRectToScene(item.boundingRect())


def test_legend_explains_every_glyph_and_the_arrow_scale(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=24) as figure:
        figure.show(snapshot_at(config, records))
        texts = _legend_texts(figure.drawing)
        assert texts[:3] == ["task 0", "task 1", "θ trail"]
        assert any(t.startswith("θ") and "drag" in t for t in texts)
        assert "task optimum" in texts
        scale = figure.drawing.arrow_scale
        assert scale > 0 and f"−meta-gradient ×{scale:.3g}" in texts


@pytest.mark.parametrize("size", [SIZE, (600, 480), (480, 480)])
@pytest.mark.parametrize("steps", [0, 20])
def test_legend_hides_neither_theta_nor_an_optimum(qtbot, two_tasks, steps, size):
    """θ₀ = (0.1, 0.9) sat under a top-left legend; the bottom-left one hid task 0's ★
    (in the window's squarer canvas too)."""
    config, records = two_tasks
    with LandscapeFigure(config, size=size, resolution=24) as figure:
        figure.show(snapshot_at(config, records[:steps]) if steps else snapshot_at(config, []))
        drawing = figure.drawing
        legend = _scene_rect(drawing.legend)
        for item in [drawing.theta_handle, *drawing.optima]:
            centre = item.mapToScene(0, 0)
            grown = legend.adjusted(-10, -10, 10, 10)  # a marker's radius around its point
            assert not grown.contains(centre), f"{item} at {centre} is under the legend"
        assert drawing.legend_covers(drawing.drawn_points()) == 0


def test_theta_label_is_beside_the_mean_meta_gradient_not_over_it(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=24) as figure:
        figure.show(snapshot_at(config, records))
        drawing = figure.drawing
        x, y = drawing.aggregate_arrow.curve.getData()
        label = _scene_rect(drawing.theta_handle.label())
        points = [drawing.view.mapViewToScene(QPointF(float(px), float(py)))
                  for px, py in zip(x, y)]
        assert points and not any(label.contains(p) for p in points)


def test_the_mlp_landscape_uses_a_log_scale_and_plain_tick_labels(qtbot):
    config = load_preset("sinusoid_few_shot").config.with_changes({"steps": 0})
    with LandscapeFigure(config, size=SIZE, resolution=8) as figure:
        figure.show(snapshot_at(config, []))
        drawing = figure.drawing
        assert drawing.colour_bar.axis.labelText.startswith("log₁₀")
        for name in ("left", "bottom"):
            axis = drawing.plot.getAxis(name)
            assert axis.autoSIPrefixScale == 1.0 and "x0." not in axis.labelString()
        assert figure.view_state().landscape.log_scale is True


def test_the_colour_bar_label_does_not_overlap_its_tick_labels(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=24) as figure:
        figure.show(snapshot_at(config, records))
        figure.frame()  # axes measure their labels while painting
        figure.refresh()
        axis = figure.drawing.colour_bar.axis
        label = axis.label.mapRectToScene(axis.label.boundingRect())
        ticks = axis.mapRectToScene(axis.boundingRect())
        # the label's left edge is right of the widest tick label
        widest = axis.textWidth
        assert label.left() >= ticks.left() + axis.style["tickLength"] + widest - 1


def test_optima_markers_keep_their_own_copy(qtbot, two_tasks):
    """Task tensors move to shared memory when sent to a worker process; a marker holding a
    numpy view of one read freed memory (★ at 1e-313, 5e219)."""
    config, _ = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=8) as figure:
        for marker in figure.drawing.optima:
            assert marker.optimum.flags.owndata
        positions = [(m.pos().x(), m.pos().y()) for m in figure.drawing.optima]
        assert np.allclose(positions, [[0.3, 0.05], [0.83, 0.75]])


# --- TreeMAML: one arrow per cluster per inner step ---------------------------------------------

def _tree_config(clusters, dim=3):
    """Four quadratic tasks (distinct curvatures) in two clusters, noisy support centres."""
    rng = np.random.default_rng(4)
    curvatures = [np.diag(rng.uniform(0.5, 1.5, dim)).tolist() for _ in range(4)]
    centres = [[2.0, 0.1, 0.3], [2.0, -0.1, -0.2], [-2.0, 0.1, 0.1], [-2.0, -0.1, 0.0]]
    noise = [[0.0, 1.0, 0.2], [0.0, -1.0, -0.1], [0.0, 1.0, 0.0], [0.0, -1.0, 0.3]]
    from maml_gui.core.config import make_config

    return make_config({
        "algorithm": "tree_maml", "inner_lr": 0.4, "inner_steps": len(clusters),
        "outer_lr": 0.3, "device": "cpu", "theta0": [1.0, 1.0, 0.5][:dim],
        "task": {"family": "quadratic", "A": curvatures, "c": [c[:dim] for c in centres],
                 "c_support": [[a + b for a, b in zip(c, e)][:dim] for c, e in zip(centres, noise)]},
        "tree_clusters": clusters,
    })


def _arrows(arrow_set) -> tuple[np.ndarray, np.ndarray]:
    """(tails, tips) of an ArrowSet as drawn: each arrow is six points (shaft, two barbs)."""
    x, y = arrow_set.curve.getData()
    if x is None or not len(x):
        return np.zeros((0, 2)), np.zeros((0, 2))
    points = np.column_stack([x, y]).reshape(-1, 6, 2)
    return points[:, 0], points[:, 1]


def _support_grad(config, task: int, phi: np.ndarray) -> np.ndarray:
    """∇Lₘˢ(φ) = Aₘ(φ − cₘˢ) by hand."""
    task_params = config.task
    return np.asarray(task_params["A"][task]) @ (phi - np.asarray(task_params["c_support"][task]))


def _drawn_by_colour(drawing, kind):
    """Every drawn arrow of ``kind`` (pooled / own) with the task index of its colour."""
    out = []
    for i, arrows in enumerate(getattr(drawing.cluster_arrows, kind)):
        tails, tips = _arrows(arrows)
        out += [(i, t, p) for t, p in zip(tails, tips)]
    return out


def test_tree_maml_draws_one_arrow_per_cluster_equal_to_the_pooled_step(qtbot):
    """Step 1 pools all four tasks, step 2 the two clusters: one arrow, then two, each from
    the cluster's shared point along −α·mean(members' support gradients), projected."""
    config = _tree_config([[0, 0, 0, 0], [0, 0, 1, 1]])
    records = list(train(config, 3))
    alpha = config.inner_lr
    with LandscapeFigure(config, size=SIZE, resolution=16) as figure:
        figure.show(snapshot_at(config, records))
        drawing, projection = figure.drawing, figure.projection
        record = records[-1]
        theta = np.asarray(record.theta)
        expected = []  # (colour, tail, tip) in parameter space, computed by hand
        pooled = np.mean([_support_grad(config, m, theta) for m in range(4)], axis=0)
        phi1 = theta - alpha * pooled
        expected.append((0, theta, phi1))
        for members in ([0, 1], [2, 3]):
            pooled = np.mean([_support_grad(config, m, phi1) for m in members], axis=0)
            expected.append((members[0], phi1, phi1 - alpha * pooled))
        drawn = _drawn_by_colour(drawing, "pooled")
        assert len(drawn) == 3
        for (colour, tail, tip), (drawn_colour, drawn_tail, drawn_tip) in zip(
                sorted(expected, key=lambda e: e[0]), sorted(drawn, key=lambda d: d[0])):
            assert drawn_colour == colour
            np.testing.assert_allclose(drawn_tail, projection.to_plane(tail[None])[0], atol=1e-9)
            np.testing.assert_allclose(drawn_tip, projection.to_plane(tip[None])[0], atol=1e-9)
        # behind them, every task's own step at each inner step: 4 × 2 faint arrows
        own = _drawn_by_colour(drawing, "own")
        assert len(own) == 8
        for task, tail, tip in own:
            start = theta if np.allclose(tail, projection.to_plane(theta[None])[0]) else phi1
            np.testing.assert_allclose(
                tip, projection.to_plane((start - alpha * _support_grad(config, task, start))[None])[0],
                atol=1e-9)
        assert any(CLUSTER_TEXT in t for t in _legend_texts(drawing))


def test_tree_maml_singletons_draw_each_tasks_own_gradient_step(qtbot):
    config = _tree_config([[0, 1, 2, 3], [0, 1, 2, 3]], dim=2)
    records = list(train(config, 2))
    with LandscapeFigure(config, size=SIZE, resolution=16) as figure:
        figure.show(snapshot_at(config, records))
        record = records[-1]
        drawn = _drawn_by_colour(figure.drawing, "pooled")
        assert sorted(c for c, _, _ in drawn) == [0, 0, 1, 1, 2, 2, 3, 3]
        for task, tail, tip in drawn:
            path = np.asarray(record.paths[task])
            j = int(np.argmin(np.linalg.norm(path[:-1] - tail, axis=1)))  # 2 params: the plane
            np.testing.assert_allclose(tail, path[j], atol=1e-12)
            step = -config.inner_lr * _support_grad(config, task, path[j])
            np.testing.assert_allclose(tip - tail, step, atol=1e-12)


def test_tree_maml_arrows_follow_the_inner_step_playback(qtbot):
    config = _tree_config([[0, 0, 0, 0], [0, 0, 1, 1]])
    records = list(train(config, 2))
    from maml_gui.core.animation import build_frames

    frames = build_frames(records[-1], "all_at_once")
    counts = []
    with LandscapeFigure(config, size=SIZE, resolution=16) as figure:
        for index, frame in enumerate(frames[:3]):  # sample, inner 1, inner 2
            figure.show(snapshot_at(config, records, frame_index=index, order="all_at_once"))
            counts.append(len(_drawn_by_colour(figure.drawing, "pooled")))
    assert [f.phase for f in frames[:3]] == ["sample", "inner", "inner"]
    assert counts == [0, 1, 3]  # nothing, the root's arrow, then the two clusters' too


# --- the arrows' scale and the thinned trail ---------------------------------------------------
def test_the_arrow_scale_is_a_round_number_at_most_the_exact_one():
    from maml_gui.plots.landscape import round_scale

    assert [round_scale(s) for s in (0.5137, 2.0, 1.99, 7.9, 0.0123, 1e6 * 3.3)] == \
        pytest.approx([0.5, 2.0, 1.5, 6.0, 0.012, 3e6])
    for scale in [*np.geomspace(1e-6, 1e6, 97), 3.99, 7.99, 0.0399]:  # the widest steps: 3→4, 6→8
        assert 0.75 * scale <= round_scale(scale) <= scale * (1 + 1e-12)
    assert round_scale(0.0) == 0.0 and round_scale(float("nan")) == 0.0


def test_a_thinned_trail_keeps_a_point_per_pixel_its_ends_and_its_breaks():
    from maml_gui.plots.landscape import pixel_steps

    # 1,000 steps of a tenth of a pixel along x, then a NaN (a diverged step), then more
    x = np.arange(1000) * 0.1
    points = np.column_stack([x, np.zeros_like(x)])
    points[600] = np.nan
    keep = pixel_steps(points, (1.0, 1.0))
    kept = points[keep]
    assert keep[0] and keep[-1] and keep[600]
    assert 95 <= np.count_nonzero(keep) <= 110  # one per pixel crossed
    for piece in (kept[kept[:, 0] < 60], kept[kept[:, 0] > 60]):  # either side of the break
        assert np.max(np.diff(piece[:, 0])) <= 1.0 + 1e-9  # never more than a pixel skipped
    assert kept[keep[:600].sum() - 1, 0] == pytest.approx(59.9)  # the line runs up to it
    assert pixel_steps(points[:2], (1.0, 1.0)).all()


def test_the_arrow_scale_holds_while_the_longest_arrow_fits_its_share(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=8) as figure:
        drawing = figure.drawing
        figure.show(snapshot_at(config, records))
        first = drawing.arrow_scale
        (x0, x1), (y0, y1) = drawing.view.viewRange()

        def zoom_out(factor: float) -> float:
            cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            drawing.view.setRange(xRange=(cx - factor * hx, cx + factor * hx),
                                  yRange=(cy - factor * hy, cy + factor * hy), padding=0)
            figure.show(snapshot_at(config, records))
            return drawing.arrow_scale

        # a scale in use is kept while the exact one is up to 1.5 times it (the series'
        # steps are at most 4/3 apart, so the exact scale is under 4/3 of the round one)
        held = first / 1.1
        drawing.arrow_scale, drawing.hold_arrow_scale = held, True  # as the window's canvas
        assert zoom_out(1.0) == held  # kept: no new legend text on every small change
        assert zoom_out(4.0) > 2 * first  # far beyond its share: rounded again
        assert f"−meta-gradient ×{drawing.arrow_scale:.3g}" in _legend_texts(drawing)


def test_the_legend_names_the_arrow_scale_again_after_the_tasks_change(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=8) as figure:
        drawing = figure.drawing
        drawing.hold_arrow_scale = True  # the window's canvas: the same scale next frame
        figure.show(snapshot_at(config, records))
        drawing.set_tasks(2, None)  # a restart rebuilds the legend
        figure.show(snapshot_at(config, records))
        assert f"−meta-gradient ×{drawing.arrow_scale:.3g}" in _legend_texts(drawing)


def test_a_figure_keeps_the_windows_arrow_scale_while_it_fits(qtbot, two_tasks):
    config, records = two_tasks
    with LandscapeFigure(config, size=SIZE, resolution=8) as figure:
        figure.show(snapshot_at(config, records))
        own = figure.drawing.arrow_scale
    window_scale = own / 1.1  # a scale the window may hold (not a round number here)
    with LandscapeFigure(config, size=(900, 700), resolution=8,
                         arrow_scale=window_scale) as figure:
        figure.show(snapshot_at(config, records))
        assert figure.drawing.arrow_scale == window_scale
        assert f"−meta-gradient ×{window_scale:.3g}" in _legend_texts(figure.drawing)


def _surface(scale: float, label: str) -> "Surface":
    from maml_gui.core.landscape import Surface

    x = np.linspace(-1.0, 1.0, 9)
    z = scale * (x[None, :] ** 2 + x[:, None] ** 2) + 0.1
    return Surface(x=x, y=x, z=z, name="meta", label=label)


def test_a_new_surface_retitles_and_rescales_while_the_same_one_keeps_its_axes(qtbot):
    from maml_gui.palette import SCREEN
    from maml_gui.plots.landscape import LandscapePlot

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    drawing = LandscapePlot(SCREEN, widget.getPlotItem())
    widget.resize(*SIZE)
    widget.show()
    first = drawing.show_surface(_surface(1.0, "first"), False, None)
    qtbot.waitUntil(lambda: drawing.plot.getAxis("left").picture is not None)
    assert "first" in drawing.plot.titleLabel.text
    assert drawing.colour_bar.levels() == pytest.approx(first)
    # the same surface again: its axes keep the picture they drew (a label set again, even
    # unchanged, throws it away and redraws every tick label)
    drawing.show_surface(_surface(1.0, "first"), False, first)
    assert drawing.plot.getAxis("left").picture is not None
    assert drawing.colour_bar.axis.picture is not None
    second = drawing.show_surface(_surface(3.0, "second"), True, None)
    assert "second" in drawing.plot.titleLabel.text and "first" not in drawing.plot.titleLabel.text
    assert drawing.colour_bar.axis.labelText.startswith("log₁₀")
    assert drawing.colour_bar.levels() == pytest.approx(second) and second != first
    drawing.show_surface(_surface(1.0, "first"), False, None)
    assert "first" in drawing.plot.titleLabel.text
    assert not drawing.colour_bar.axis.labelText.startswith("log₁₀")
    assert drawing.colour_bar.levels() == pytest.approx(first)


def test_a_figures_title_has_one_caption_after_the_surface_changes_under_it(qtbot):
    # TR-MAML's task weights change its meta surface at each frame while the plane and the
    # surface's label stay: the figure's own title (label + caption) must be rebuilt, not
    # grown by a caption per frame
    config = load_preset("article_two_tasks").config.with_changes(
        {"algorithm": "tr_maml", "steps": 12})
    records = list(train(config, 12))
    with LandscapeFigure(config, size=SIZE, resolution=12) as figure:
        for step in (5, 12):
            figure.show(snapshot_at(config, records[:step]), total_steps=12)
            figure.refresh()
            title = figure.drawing.plot.titleLabel.text
            assert title.count("meta-step") == 1, title
            assert f"meta-step {step} of 12" in title
