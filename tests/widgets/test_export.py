"""Image and animation exports, opened and checked: sizes, vectors, pages, frames, metadata."""

from __future__ import annotations

import errno
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication, QLabel, QProgressDialog

from maml_gui.core.config import config_json, make_config
from maml_gui.core.training import train
from maml_gui.export import ExportError
from maml_gui.export.animation import export_animation, frame_plan, run_with_progress_dialog
from maml_gui.export.data import read_embedded_session
from maml_gui.export.figure import LandscapeFigure, export_landscape_image, snapshot_at
from maml_gui.export.images import prepare_widget, render_scene, render_widget
from maml_gui.plots.items import pen
from tests.full_disk import fill_disk

SVG = "{http://www.w3.org/2000/svg}"
SIZE = (320, 240)
GRID = 24


@pytest.fixture(scope="module")
def run():
    config = make_config({"task": {"family": "softplus", "optima": [[0.3, 0.05], [0.83, 0.75]],
                                   "n_points": 8},
                          "theta0": [0.1, 0.9], "inner_lr": 0.4, "inner_steps": 2, "steps": 4})
    return config, list(train(config, config.steps))


@pytest.fixture
def figure(qtbot, run):
    config, records = run
    fig = LandscapeFigure(config, size=SIZE, resolution=GRID)
    fig.show(snapshot_at(config, records), total_steps=len(records))
    yield fig
    fig.close()


def test_png_has_the_size_times_the_scale_and_the_config(tmp_path, figure, run):
    config, _ = run
    for scale, expected in ((1, (320, 240)), (2, (640, 480)), (4, (1280, 960)), (1.5, (480, 360))):
        out = figure.render(tmp_path / f"f{scale}.png", scale=scale)
        with Image.open(out) as image:
            assert image.size == expected
            session = json.loads(image.text["maml-gui-config"])  # a tEXt chunk
            pixels = np.asarray(image.convert("RGB"))
        assert session["format"] == "maml-gui-session"
        assert session["config"] == config_json(config)
        landscape = session["view"]["landscape"]
        assert landscape["surface"] == "meta" and len(landscape["range"]) == 4
        assert _colours(pixels) > 50  # not uniform: a real plot
        assert (pixels[0, 0] == 255).all()  # the publication theme's white background


def test_lines_keep_their_width_at_a_higher_scale(qtbot, tmp_path):
    widget = pg.PlotWidget(background="w")
    qtbot.addWidget(widget)
    widget.plot([0, 1], [0.5, 0.5], pen=pen("#000000", 2.0))
    widget.hideAxis("left")
    widget.hideAxis("bottom")
    widths = []
    for scale in (1, 4):
        out = render_widget(widget, tmp_path / f"w{scale}.png", size=(120, 80), scale=scale)
        column = np.asarray(Image.open(out).convert("L"))[:, 60 * scale]
        widths.append(int(np.count_nonzero(column < 128)))
    assert widths[0] >= 1 and widths[1] >= 3.5 * widths[0]  # not a hair-thin line at 4×


def test_transparent_png(tmp_path, figure):
    out = figure.render(tmp_path / "t.png", transparent=True)
    alpha = np.asarray(Image.open(out).convert("RGBA"))[..., 3]
    assert alpha[0, 0] == 0 and alpha.max() == 255


def _colours(pixels: np.ndarray) -> int:
    packed = pixels.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    return len(np.unique(packed))


def _points(element) -> int:
    text = element.get("points") or element.get("d") or ""
    return len(re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?[, ]-?\d+(?:\.\d+)?", text))


def test_svg_is_xml_with_vector_paths_and_the_config(tmp_path, figure, run):
    config, records = run
    out = figure.render(tmp_path / "f.svg")
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg" and root.get("viewBox") == "0 0 320 240"
    assert json.loads(root.find(f"{SVG}desc").text)["config"] == config_json(config)
    shapes = [e for e in root.iter() if e.tag in (f"{SVG}path", f"{SVG}polyline")]
    # θ's trail (a vector through every meta-step), contours, paths, arrows
    assert max(_points(e) for e in shapes) >= len(records) + 1
    assert sum(_points(e) for e in shapes) > 200
    assert root.find(f".//{SVG}image") is not None  # the heatmap, embedded as a picture
    assert any(e.text and "task 0" in e.text for e in root.iter(f"{SVG}text"))  # the legend


def test_pdf_has_one_page_and_the_config(tmp_path, figure, run):
    config, _ = run
    out = figure.render(tmp_path / "f.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", data)) == 1
    config_back, view = read_embedded_session(out)
    assert config_back == config_json(config) and view == figure.view_state()
    with pytest.raises(ExportError, match="transparent"):
        figure.render(tmp_path / "g.pdf", transparent=True)


def test_the_figure_shows_what_was_asked(qtbot, run):
    config, records = run
    with LandscapeFigure(config, size=SIZE, surface="task:1", resolution=GRID,
                         view_range=(0.0, 1.0, 0.0, 1.0)) as fig:
        fig.show(snapshot_at(config, records, 1), total_steps=len(records))
        surface = fig.shown_surface
        assert surface.name == "task:1" and len(surface.x) == GRID
        assert surface.x[0] == 0.0 and surface.x[-1] == 1.0
        title = fig.drawing.plot.titleLabel.text.replace("<br>", " ")
        assert title.startswith("task 1: L₁(θ)")
        assert title.endswith("meta-step 2 of 4 · meta-update θ → θ′")
        trail_x, _ = fig.drawing.trail.getData()
        assert len(trail_x) == 3  # θ before steps 0, 1 and after step 1
        # built from the state alone: a plot widget, no canvas, controls or worker
        assert type(fig.widget).__name__ == "PlotWidget"


def test_export_landscape_image_from_records(tmp_path, qtbot, run):
    config, records = run
    out = export_landscape_image(tmp_path / "f.png", config, records=records, size=SIZE,
                                 scale=2, resolution=GRID)
    assert Image.open(out).size == (640, 480)
    with pytest.raises(ExportError, match="step 9 is out of range"):
        export_landscape_image(tmp_path / "g.png", config, records=records, step=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


def test_any_widget_or_scene_exports(tmp_path, qtbot):
    label = QLabel("hello export")
    qtbot.addWidget(label)
    out = render_widget(label, tmp_path / "label.png", size=(150, 40), scale=2)
    assert Image.open(out).size == (300, 80)
    svg = render_widget(label, tmp_path / "label.svg", size=(150, 40))
    assert ET.parse(svg).getroot().tag == f"{SVG}svg"
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.plot(np.arange(50.0), np.sin(np.arange(50.0) / 5), pen=pen("#0072B2", 2.0))
    prepare_widget(plot, (200, 150))  # size it, show it off screen, lay it out
    out = render_scene(plot.scene(), tmp_path / "scene.svg", size=(200, 150))
    shapes = [e for e in ET.parse(out).getroot().iter()
              if e.tag in (f"{SVG}path", f"{SVG}polyline")]
    assert max(_points(e) for e in shapes) >= 50
    with pytest.raises(ExportError, match=r"unknown export format \.bmp.*\.png, \.svg, \.pdf"):
        render_widget(label, tmp_path / "label.bmp")
    # a widget in a layout keeps the layout's size: exported as it is, or refused if resized
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    child = QLabel("in a layout")
    QVBoxLayout(window).addWidget(child)
    window.resize(300, 200)
    window.show()
    qtbot.waitExposed(window)
    out = render_widget(child, tmp_path / "child.png", scale=2)
    assert Image.open(out).size == (2 * child.width(), 2 * child.height())
    with pytest.raises(ExportError, match="laid out at"):
        render_widget(child, tmp_path / "child2.png", size=(50, 20))


def test_gif_has_every_frame_and_the_config(tmp_path, qtbot, run):
    config, records = run
    plan = frame_plan(records, 1, 3)
    seen = []
    assert export_animation(tmp_path / "a.gif", config, records, start=1, end=3, size=(200, 150),
                            fps=5, resolution=GRID,
                            progress=lambda done, total: seen.append((done, total)) or True)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == len(plan) and gif.size == (200, 150)
        assert gif.info["duration"] == 200  # 5 frames per second
        assert json.loads(gif.info["comment"])["config"] == config_json(config)
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert _colours(last) > 20
    assert seen[-1] == (len(plan), len(plan)) and len(seen) == len(plan)


def test_mp4_is_readable_with_the_config(tmp_path, qtbot, run):
    import imageio_ffmpeg

    config, records = run
    out = tmp_path / "a.mp4"
    assert export_animation(out, config, records, start=3, end=4, size=(161, 121), fps=10,
                            resolution=GRID)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8) for f in reader]
    assert meta["size"] == (162, 122)  # odd sizes padded to even for H.264
    assert len(frames) == len(frame_plan(records, 3, 4))
    assert frames[0].std() > 10
    config_back, view = read_embedded_session(out)
    assert config_back == config_json(config)
    assert view.playback.speed == 10 and view.playback.order == "auto"
    assert view.landscape.surface == "meta"


def test_cancelling_leaves_nothing(tmp_path, qtbot, run):
    config, records = run
    for suffix in (".gif", ".mp4"):
        assert not export_animation(tmp_path / f"a{suffix}", config, records, size=(120, 90),
                                    resolution=GRID, progress=lambda done, total: done < 3)
    assert not list(tmp_path.iterdir())


def test_a_full_disk_leaves_no_partial_image(tmp_path, figure, monkeypatch):
    monkeypatch.setattr("maml_gui.export.images.CHUNK", 4096)  # several writes per file
    fill_disk(monkeypatch)
    for suffix in (".png", ".svg", ".pdf"):
        with pytest.raises(OSError) as info:
            figure.render(tmp_path / f"f{suffix}")
        assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert not list(tmp_path.iterdir())


def test_progress_dialog_cancels_the_job(qtbot):
    widget = QLabel("window")
    qtbot.addWidget(widget)
    answers = []

    def job(progress):
        for done in range(1, 6):
            answers.append(progress(done, 5))
            if done == 2:
                dialogs = [w for w in QApplication.topLevelWidgets()
                           if isinstance(w, QProgressDialog)]
                dialogs[-1].cancel()  # as the Cancel button does
            if not answers[-1]:
                return "cancelled"
        return "done"

    assert run_with_progress_dialog(widget, job) == "cancelled"
    assert answers == [True, True, False]
    assert run_with_progress_dialog(widget, lambda progress: progress(1, 1)) is True
