"""The landscape plot item as a reader sees it: what the legend explains and where it sits,
θ's label beside (not over) the mean meta-gradient, optima that stay put, MLP defaults."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from maml_gui.core.training import train
from maml_gui.export.figure import LandscapeFigure, snapshot_at
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
