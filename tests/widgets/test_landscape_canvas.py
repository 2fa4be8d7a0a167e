"""The canvas's controls for what is drawn and for the random plane's seed, as a user meets
them: the menu hides items on the canvas and in the exported figure, the seed box redraws the
plane, and B-SMALL/MetaNAS runs get a plane through their whole parameter vector."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from maml_gui.core.config import make_config
from maml_gui.core.tasks import make_family
from maml_gui.core.training import initial_theta, train
from maml_gui.export.figure import LandscapeFigure, export_landscape_image, snapshot_at
from maml_gui.export.images import image_to_rgb
from maml_gui.palette import PUBLICATION, SCREEN
from maml_gui.presets import load_preset
from maml_gui.view import LandscapeState
from maml_gui.widgets.landscape_canvas import LandscapeCanvas

# every drawn item but the paths off, so a task's colour on screen can only be its path
ONLY_PATHS = {"trail": False, "arrows": False, "optima": False, "legend": False}
MLP = {"family": "sinusoid", "hidden": [6], "n_tasks": 2, "k_shot": 4, "k_query": 4,
       "fixed_tasks": True}


@pytest.fixture(scope="module")
def two_tasks():
    config = load_preset("article_two_tasks").config.with_changes({"steps": 6})
    return config, list(train(config, 6))


@pytest.fixture
def make_canvas(qtbot):
    """Canvases shown at 640×480; closed only once their landscape worker is idle (a surface
    being computed when the test ends would outlive the bounded wait on a loaded machine)."""
    made = []

    def make(config) -> LandscapeCanvas:
        canvas = LandscapeCanvas(config)  # closed below, not by qtbot: it closes first
        canvas.resize(640, 480)
        canvas.show()
        made.append(canvas)
        return canvas

    yield make
    for canvas in made:
        qtbot.waitUntil(lambda: not canvas._debounce.isActive() and canvas.worker.idle(),
                        timeout=120_000)
        canvas.close()
        canvas.deleteLater()


def _near(pixels: np.ndarray, colour: str, tolerance: int = 24) -> int:
    """Pixels within ``tolerance`` of ``colour`` on every channel."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.count_nonzero(np.all(np.abs(pixels.astype(int) - rgb) <= tolerance, axis=-1)))


def _task_pixels(pixels: np.ndarray, theme) -> int:
    return sum(_near(pixels, theme.task(i)) for i in range(2))


def test_show_menu_hides_paths_on_the_canvas_and_in_the_exported_png(make_canvas, two_tasks, tmp_path):
    config, records = two_tasks
    canvas = make_canvas(config)
    snapshot = snapshot_at(config, records)
    canvas.show_snapshot(snapshot)
    for name, on in ONLY_PATHS.items():
        canvas.show_actions[name].setChecked(on)
    canvas.compute_landscape_now(resolution=24)

    def screen() -> np.ndarray:
        return image_to_rgb(canvas.plot_widget.grab().toImage())

    def exported(name: str) -> np.ndarray:
        state = canvas.state  # what the window's Export figure… action passes
        out = export_landscape_image(tmp_path / name, config, snapshot=snapshot,
                                     surface=state.surface, log_scale=state.log_scale,
                                     view_range=state.range, plane=state.plane, size=(480, 360),
                                     resolution=24, caption=False, state=state)
        with Image.open(out) as image:
            return np.asarray(image.convert("RGB"))

    with_paths, png_with_paths = screen(), exported("on.png")
    assert all(item.isVisible() for item in canvas.paths)
    canvas.show_actions["paths"].trigger()  # the user unticks "inner-loop paths"
    assert canvas.model.state.paths is False
    assert not any(item.isVisible() for item in canvas.paths)
    without_paths, png_without_paths = screen(), exported("off.png")
    assert _task_pixels(with_paths, SCREEN) > 100
    assert _task_pixels(without_paths, SCREEN) <= 2
    assert _task_pixels(png_with_paths, PUBLICATION) > 100
    assert _task_pixels(png_without_paths, PUBLICATION) <= 2


def test_every_show_entry_hides_its_items_and_the_state_says_so(make_canvas, two_tasks):
    config, records = two_tasks
    canvas = make_canvas(config)
    canvas.show_snapshot(snapshot_at(config, records))
    items = {"trail": lambda: [canvas.trail], "paths": lambda: canvas.paths,
             "arrows": lambda: [a.curve for a in [*canvas.task_arrows, canvas.aggregate_arrow]],
             "optima": lambda: canvas.optima, "legend": lambda: [canvas.legend]}
    assert set(items) == set(LandscapeState.DRAWN) == set(canvas.show_actions)
    for name, group in items.items():
        canvas.show_actions[name].trigger()
        assert getattr(canvas.model.state, name) is False
        assert group() and not any(item.isVisible() for item in group()), name
        others = [item for other, g in items.items() if other != name for item in g()]
        assert all(item.isVisible() for item in others), name
        canvas.show_actions[name].trigger()
        assert all(item.isVisible() for item in group())
    # a state from elsewhere (a session, a script) ticks the menu and hides the items
    canvas.apply_state(canvas.state.replace(arrows=False, legend=False))
    assert not canvas.show_actions["arrows"].isChecked() and not canvas.legend.isVisible()
    assert canvas.show_actions["paths"].isChecked()


def test_the_seed_box_draws_another_random_plane_and_heatmap(make_canvas):
    config = make_config({"task": MLP, "seed": 3, "steps": 2})
    canvas = make_canvas(config)
    assert canvas.seed_box.isHidden()  # the PCA plane has no seed to choose
    canvas.plane_box.setCurrentText("random")
    assert not canvas.seed_box.isHidden() and canvas.seed_box.value() == 3  # the config's
    first = canvas.plane
    first_z = canvas.compute_landscape_now(resolution=8).z
    canvas.seed_box.setValue(11)
    assert canvas.model.state.plane_seed == 11 and canvas.state.plane_seed == 11
    second = canvas.plane
    assert (first.method, second.method, first.seed, second.seed) == ("random", "random", 3, 11)
    assert not np.allclose(first.directions, second.directions)
    second_z = canvas.compute_landscape_now(resolution=8).z
    assert first_z.shape == second_z.shape and not np.allclose(first_z, second_z)
    # the export of this state draws the same plane
    with LandscapeFigure(config, size=(320, 240), resolution=8, plane="random",
                         state=canvas.state) as figure:
        assert figure.plane.seed == 11
        np.testing.assert_allclose(figure.plane.directions, second.directions)
        np.testing.assert_allclose(figure.plane.centre, second.centre)
    canvas.plane_box.setCurrentText("pca")
    assert canvas.seed_box.isHidden()


def test_a_random_plane_chosen_mid_run_is_exported_as_shown(make_canvas, tmp_path):
    """Chosen after some steps, the canvas's random plane is centred on the current θ; the
    window's export draws that plane, not one through θ₀."""
    config = make_config({"task": MLP, "seed": 3, "steps": 4})
    records = list(train(config, 4))
    snapshot = snapshot_at(config, records)
    canvas = make_canvas(config)
    canvas.show_snapshot(snapshot)
    canvas.plane_box.setCurrentText("random")
    canvas.seed_box.setValue(5)
    shown = canvas.plane
    np.testing.assert_allclose(shown.centre, snapshot.history.thetas[-1])
    assert not np.allclose(shown.centre, initial_theta(config))
    with LandscapeFigure(config, size=(320, 240), resolution=8, plane="random",
                         state=canvas.state, shown_plane=shown) as figure:
        figure.show(snapshot)
        assert figure.plane is shown
        drawn = figure.drawing.theta_handle.pos()
    screen = canvas.theta_handle.pos()
    assert (drawn.x(), drawn.y()) == pytest.approx((screen.x(), screen.y()))


@pytest.mark.parametrize("preset", ["b_small_sparsity", "metanas_finds_sin"])
def test_b_small_and_metanas_planes_span_the_whole_parameter_vector(make_canvas, preset):
    config = load_preset(preset).config
    dim = make_family(config).param_dim
    assert dim == initial_theta(config).size > make_family(config.task).param_dim
    canvas = make_canvas(config)
    assert canvas.param_dim == dim
    assert canvas.plane.centre.shape == (dim,) and canvas.plane.directions.shape == (2, dim)
    surface = canvas.compute_landscape_now(resolution=4)
    assert surface.z.shape == (4, 4) and np.isfinite(surface.z).all()
    assert canvas.image.image is not None  # a heatmap is drawn


class _LeftClick:
    """The part of pyqtgraph's MouseClickEvent a legend entry reads."""

    def button(self):
        return Qt.MouseButton.LeftButton

    def accept(self):
        pass


def test_clicking_a_legend_entry_hides_its_group_like_the_menu(make_canvas, two_tasks):
    config, records = two_tasks
    canvas = make_canvas(config)
    canvas.show_snapshot(snapshot_at(config, records))
    samples = {label.text.split(" (")[0]: sample for sample, label in canvas.legend.items}
    samples["task optimum"].mouseClickEvent(_LeftClick())
    assert canvas.model.state.optima is False and not canvas.show_actions["optima"].isChecked()
    assert not any(marker.isVisible() for marker in canvas.optima)
    assert not samples["task optimum"].item.isVisible()  # its entry shows the crossed-out eye
    samples["task 0"].mouseClickEvent(_LeftClick())  # one task's entry: every path
    assert canvas.model.state.paths is False and not any(p.isVisible() for p in canvas.paths)
    samples["θ"].mouseClickEvent(_LeftClick())  # θ cannot be hidden: nothing changes
    assert samples["θ"].item.isVisible() and canvas.theta_handle.isVisible()
    canvas.show_actions["optima"].trigger()  # the menu brings them back, entry included
    assert all(marker.isVisible() for marker in canvas.optima)
    assert samples["task optimum"].item.isVisible()


# --- at full speed: plain lines, a thinned trail, still items from pixmaps ---------------------
def test_a_full_speed_frame_draws_plain_lines_and_pausing_smooths_them_again(make_canvas, two_tasks):
    import dataclasses

    config, records = two_tasks
    canvas = make_canvas(config)
    paused = snapshot_at(config, records)
    canvas.view.setRange(xRange=(-1e4, 1e4), yRange=(-1e4, 1e4))  # the trail within a pixel
    canvas.show_snapshot(dataclasses.replace(paused, playing=True, full_speed=True))
    drawing = canvas.drawing
    assert len(drawing.trail.getData()[0]) == 2  # its ends
    curves = [drawing.trail.curve, drawing.contours, drawing.aggregate_arrow.curve,
              *(item.curve for item in drawing.paths)]
    assert not drawing.smooth and not any(c.opts["antialias"] for c in curves)
    canvas.show_snapshot(paused)  # what pausing publishes: the same step
    assert drawing.smooth and all(c.opts["antialias"] for c in curves)
    # the trail through every step again, not the thinned one of the last frame
    assert len(drawing.trail.getData()[0]) == len(paused.history.thetas)  # θ₀ and every step


def test_the_canvas_cached_items_draw_what_direct_drawing_draws(make_canvas, two_tasks):
    from PySide6.QtWidgets import QGraphicsItem

    config, records = two_tasks
    canvas = make_canvas(config)
    canvas.show_snapshot(snapshot_at(config, records))
    canvas.compute_landscape_now(resolution=24)
    before = image_to_rgb(canvas.plot_widget.grab().toImage()).astype(int)
    canvas.log_box.setChecked(not canvas.log_box.isChecked())  # a new heatmap and contours
    canvas.compute_landscape_now(resolution=24)
    cached = image_to_rgb(canvas.plot_widget.grab().toImage()).astype(int)
    assert np.count_nonzero(np.abs(cached - before).max(axis=-1) > 8) > 1000  # it changed
    items = [item for item in canvas.plot_widget.scene().items()
             if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    assert len(items) == 5  # the heatmap, its contours, both axes, the colour bar's axis
    for item in items:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    direct = image_to_rgb(canvas.plot_widget.grab().toImage()).astype(int)
    difference = np.abs(cached - direct).max(axis=-1)
    assert np.count_nonzero(difference > 2) <= 1e-4 * difference.size
