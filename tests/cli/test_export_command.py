"""``maml-gui export``: every format opened and checked, configs fed back, bad input → exit 2."""

from __future__ import annotations

import errno
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from maml_gui.cli import main
from maml_gui.core.config import config_json, make_config
from maml_gui.core.trace import load_trace, records_to_arrays
from maml_gui.core.training import train
from maml_gui.export.animation import frame_plan
from maml_gui.export.data import (
    read_embedded_config, read_embedded_session, read_grid_csv, read_trajectory_csv,
)
from maml_gui.presets import load_preset
from tests.full_disk import fill_disk

BASE = ["export", "--preset", "article_two_tasks", "--steps", "3", "--quiet"]
SMALL = ["--size", "320x240", "--grid", "24"]


@pytest.fixture(scope="module")
def expected():
    config = load_preset("article_two_tasks").config.with_changes({"steps": 3})
    return config, list(train(config, 3))


def export(*argv: str) -> int:
    return main([*BASE, *argv])


def test_png_at_size_and_scale_with_the_config(tmp_path, qtbot, expected):
    config, _ = expected
    out = tmp_path / "fig.png"
    assert export("--out", str(out), "--size", "320x240", "--scale", "2", "--grid", "24") == 0
    with Image.open(out) as image:
        assert image.size == (640, 480)
        session = json.loads(image.text["maml-gui-config"])
        pixels = np.asarray(image.convert("RGB"))
    assert make_config(session["config"]) == config
    # the preset's view, as a session file would hold it
    landscape = session["view"]["landscape"]
    assert (landscape["surface"], landscape["log_scale"], landscape["range"]) == (
        "meta", False, [0, 1, 0, 1])
    assert pixels.std() > 10 and (pixels[0, 0] == 255).all()
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_an_exported_figure_redraws_the_same_figure(tmp_path, qtbot):
    first = tmp_path / "first.png"
    assert export("--out", str(first), "--surface", "task:1", "--log", "--range", "0.1", "0.9",
                  "0.2", "0.8", *SMALL) == 0
    again = tmp_path / "again.png"
    assert main(["export", "--config", str(first), "--out", str(again), *SMALL, "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(first)))
    _, view = read_embedded_session(again)
    assert (view.landscape.surface, view.landscape.log_scale, view.landscape.range) == (
        "task:1", True, [0.1, 0.9, 0.2, 0.8])


def test_svg_and_pdf_are_vectors_with_the_config(tmp_path, qtbot, expected):
    config, records = expected
    assert export("--out", str(tmp_path / "f.svg"), *SMALL) == 0
    root = ET.parse(tmp_path / "f.svg").getroot()
    polylines = [e.get("points") or e.get("d") or "" for e in root.iter()
                 if e.tag.endswith("}polyline") or e.tag.endswith("}path")]
    assert max(len(re.findall(r"[\d.]+[, ][\d.]+", p)) for p in polylines) >= len(records) + 1
    assert make_config(read_embedded_config(tmp_path / "f.svg")) == config
    assert export("--out", str(tmp_path / "f.pdf"), *SMALL) == 0
    data = (tmp_path / "f.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?![s\w])", data)) == 1
    assert make_config(read_embedded_config(tmp_path / "f.pdf")) == config


def test_trajectory_data_round_trips_exactly(tmp_path, expected):
    config, records = expected
    arrays = records_to_arrays(records)
    assert export("--out", str(tmp_path / "t.csv")) == 0
    embedded, got = read_trajectory_csv(tmp_path / "t.csv")
    assert embedded == config_json(config)
    for key in ("theta", "theta_next", "meta_grad", "task_meta_grads", "paths", "loss_before",
                "loss_after", "inner_losses"):
        np.testing.assert_array_equal(got[key], arrays[key], err_msg=key)
    for suffix in ("json", "npz"):
        assert export("--out", str(tmp_path / f"t.{suffix}")) == 0
        trace = load_trace(tmp_path / f"t.{suffix}")
        assert trace.config == config_json(config)
        assert trace.meta["axis_names"] == ["a", "b"]
        loaded = records_to_arrays(trace.records)
        for key in arrays:
            if key != "wall_time":  # wall-clock time differs between runs
                np.testing.assert_array_equal(loaded[key], arrays[key], err_msg=key)


def test_any_exported_file_reproduces_the_same_trajectory(tmp_path, qtbot):
    reference = tmp_path / "reference.csv"
    assert export("--out", str(reference)) == 0
    for name in ("f.png", "f.svg", "f.pdf", "t.npz", "t.json"):
        assert export("--out", str(tmp_path / name), *(SMALL if name[0] == "f" else [])) == 0
        again = tmp_path / f"again-{name}.csv"
        assert main(["export", "--config", str(tmp_path / name), "--out", str(again),
                     "--quiet"]) == 0
        assert again.read_bytes() == reference.read_bytes(), name


def test_landscape_grid_as_npz_and_csv(tmp_path, qtbot, expected):
    config, _ = expected
    assert export("--out", str(tmp_path / "g.npz"), "--data", "grid", "--grid", "12",
                  "--surface", "task:0", "--range", "0", "1", "0", "1") == 0
    with np.load(tmp_path / "g.npz") as data:
        assert data["z"].shape == (12, 12) and str(data["surface"]) == "task:0"
        assert data["x"][0] == 0 and data["x"][-1] == 1
        assert make_config(json.loads(str(data["config"]))) == config
        z = data["z"]
    assert export("--out", str(tmp_path / "g.csv"), "--data", "grid", "--grid", "12",
                  "--surface", "task:0", "--range", "0", "1", "0", "1") == 0
    embedded, x, y, z_csv = read_grid_csv(tmp_path / "g.csv")
    np.testing.assert_array_equal(z_csv, z)
    assert embedded == config_json(config)


def test_gif_and_mp4_animations(tmp_path, qtbot, expected):
    import imageio_ffmpeg

    config, records = expected
    frames = len(frame_plan(records, 1, 3))
    assert export("--out", str(tmp_path / "a.gif"), "--step-range", "2", "3", "--size", "200x150",
                  "--grid", "24", "--fps", "4") == 0
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == frames and gif.size == (200, 150)
        assert gif.info["duration"] == 250
    assert make_config(read_embedded_config(tmp_path / "a.gif")) == config
    assert export("--out", str(tmp_path / "a.mp4"), "--step-range", "3", "3", "--size", "200x150",
                  "--grid", "24") == 0
    count, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "a.mp4"))
    assert count == len(frame_plan(records, 2, 3))
    assert make_config(read_embedded_config(tmp_path / "a.mp4")) == config


def test_progress_goes_to_stderr(tmp_path, qtbot, capsys):
    assert main(["export", "--preset", "article_two_tasks", "--steps", "1", "--out",
                 str(tmp_path / "a.gif"), "--size", "120x90", "--grid", "8"]) == 0
    err = capsys.readouterr().err
    assert "frame" in err and f"wrote {tmp_path / 'a.gif'}" in err


@pytest.mark.parametrize("argv, words", [
    (["--out", "{dir}/f.bmp"], "unknown export format .bmp; use .png, .svg, .pdf, .gif, .mp4"),
    (["--out", "{dir}/f"], "unknown export format (none)"),
    (["--view", "trace", "--out", "{dir}/f.gif"], "--view trace is exported as an image"),
    (["--view", "comparison", "--out", "{dir}/f.mp4"], "exported as an image"),
    (["--variant", "maml", "--out", "{dir}/f.png"], "--variant applies to --view comparison"),
    (["--view", "comparison", "--variant", "metasgd", "--variant", "maml", "--out",
      "{dir}/f.png"], "unknown algorithm"),
    (["--view", "comparison", "--variant", "maml", "--variant", "fomaml seed=3", "--out",
      "{dir}/f.png"], "must be the same for every variant"),
    (["--view", "function", "--set", "task.family=\"rbf\"", "--out", "{dir}/f.png"],
     "has no data"),
    (["--view", "bogus", "--out", "{dir}/f.png"], "invalid choice"),
    (["--out", "{dir}/f.png", "--size", "0x10"], "--size 0x10: each side must be 1"),
    (["--out", "{dir}/f.png", "--size", "9000x10"], "each side must be 1 … 8192"),
    (["--out", "{dir}/f.png", "--size", "big"], "WIDTHxHEIGHT"),
    (["--out", "{dir}/f.png", "--scale", "0"], "maml-gui: --scale 0.0: must be above 0"),
    (["--out", "{dir}/f.png", "--scale", "9"], "at most 8"),
    (["--out", "{dir}/f.png", "--scale", "nan"], "must be above 0"),
    (["--out", "{dir}/f.png", "--size", "8000x8000", "--scale", "4"], "too large"),
    (["--out", "{dir}/f.pdf", "--transparent"], "--transparent applies to .png and .svg"),
    (["--out", "{dir}/f.json", "--data", "grid"], "--data grid is written as .npz or .csv"),
    (["--out", "{dir}/f.png", "--data", "grid"], "--data applies to .csv"),
    (["--out", "{dir}/f.png", "--fps", "5"], "--fps applies to animations"),
    (["--out", "{dir}/f.gif", "--fps", "0"], "--fps 0.0: must be above 0"),
    (["--out", "{dir}/f.gif", "--step", "2"], "use --step-range"),
    (["--out", "{dir}/f.png", "--step", "4"], "--step 4 is out of range: 1 … 3"),
    (["--out", "{dir}/f.gif", "--step-range", "3", "2"], "need 1 ≤ FIRST ≤ LAST ≤ 3"),
    (["--out", "{dir}/f.png", "--surface", "task:5"], "task index out of range"),
    (["--out", "{dir}/f.png", "--surface", "curvature"], "unknown surface"),
    (["--out", "{dir}/f.png", "--range", "1", "0", "0", "1"], "minimum must be below"),
    (["--out", "{dir}/f.png", "--grid", "1"], "--grid 1 is out of range"),
    (["--out", "{dir}/missing/f.png"], "does not exist"),
    (["--out", "{dir}"], "is a folder"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, words):
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    assert export(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("maml-gui"), err
    assert words in err, err
    assert not list(tmp_path.iterdir())


def test_a_config_file_without_a_config_is_refused(tmp_path, capsys):
    image = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(image)
    assert main(["export", "--config", str(image), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no maml-gui config embedded" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.png"]


def test_an_unwritable_folder_fails_before_the_run(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = __import__("os").access
    monkeypatch.setattr("maml_gui.core.io.os.access",  # as root, chmod alone would not stop us
                        lambda path, mode: False if str(path) == str(locked) else
                        real_access(path, mode))
    monkeypatch.setattr("maml_gui.commands.export._train",
                        lambda *a, **k: pytest.fail("trained before checking the folder"))
    assert export("--out", str(locked / "f.png")) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"maml-gui: cannot write {locked / 'f.png'}: no permission to write in {locked}"
    assert not list(locked.iterdir())


@pytest.mark.parametrize("name", ["f.png", "f.svg", "f.pdf", "a.gif", "t.csv", "t.json",
                                  "t.npz", "g.csv"])
def test_a_full_disk_ends_in_exit_2_and_no_partial_file(tmp_path, qtbot, capsys, monkeypatch,
                                                        name):
    monkeypatch.setattr("maml_gui.export.images.CHUNK", 1024)
    fill_disk(monkeypatch, under=str(tmp_path))
    extra = ["--data", "grid"] if name == "g.csv" else []
    extra += ["--size", "120x90", "--grid", "8"] if name[0] in "fag" else []
    if name.endswith(".gif"):
        extra += ["--step-range", "3", "3"]
    assert export("--out", str(tmp_path / name), *extra) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err.strip()
    assert err == f"maml-gui: cannot write {tmp_path / name}: No space left on device", err
    assert not list(tmp_path.iterdir())


def test_ffmpeg_failing_midway_leaves_no_partial_video(tmp_path, qtbot, capsys, monkeypatch):
    from maml_gui.export.animation import Mp4Writer

    real_write = Mp4Writer.write
    calls = []

    def write(self, frame):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, frame)

    monkeypatch.setattr(Mp4Writer, "write", write)
    out = tmp_path / "a.mp4"
    assert export("--out", str(out), "--size", "120x90", "--grid", "8") == 2
    assert capsys.readouterr().err.strip().endswith("No space left on device")
    assert not list(tmp_path.iterdir())


def test_a_session_file_gives_its_view(tmp_path, qtbot, expected):
    from maml_gui.runtime.session_file import Session, write_session
    from maml_gui.view import LandscapeState, PlaybackState, WindowState

    config, _ = expected
    session = tmp_path / "s.json"
    write_session(session, Session(config, WindowState(
        landscape=LandscapeState(surface="task:0", log_scale=True, range=[0.2, 0.8, 0.1, 0.9]),
        playback=PlaybackState(speed=3))))
    out = tmp_path / "f.svg"
    assert main(["export", "--config", str(session), "--out", str(out), *SMALL, "--quiet"]) == 0
    config_back, view = read_embedded_session(out)
    assert make_config(config_back) == config
    assert (view.landscape.surface, view.landscape.log_scale, view.landscape.range) == (
        "task:0", True, [0.2, 0.8, 0.1, 0.9])
    # a changed task set keeps the surface choice but not a rectangle drawn for other tasks
    out = tmp_path / "g.svg"
    assert main(["export", "--config", str(session), "--set", "task.optima=[[0.5,0.5],[0.1,0.2]]",
                 "--no-log", "--out", str(out), *SMALL, "--quiet"]) == 0
    _, view = read_embedded_session(out)
    assert view.landscape.surface == "task:0" and view.landscape.log_scale is False
    assert view.landscape.range != [0.2, 0.8, 0.1, 0.9]


def test_a_session_that_hides_items_exports_without_them(tmp_path, qtbot, expected):
    """What a session draws (here: no trail, paths, optima or legend) and its plane seed reach
    the exported picture and the view embedded in it."""
    from maml_gui.palette import PUBLICATION
    from maml_gui.runtime.session_file import Session, write_session
    from maml_gui.view import LandscapeState, WindowState

    config, _ = expected

    def orange_pixels(state: LandscapeState, name: str) -> tuple[int, LandscapeState]:
        session = tmp_path / f"{name}.json"
        write_session(session, Session(config, WindowState(landscape=state)))
        out = tmp_path / f"{name}.png"
        assert main(["export", "--config", str(session), "--out", str(out), "--no-caption",
                     *SMALL, "--quiet"]) == 0
        with Image.open(out) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)
        task0 = np.array([int(PUBLICATION.task(0)[i:i + 2], 16) for i in (1, 3, 5)])
        near = np.all(np.abs(pixels - task0) <= 24, axis=-1)  # task 0's orange
        return int(near.sum()), read_embedded_session(out)[1].landscape

    base = LandscapeState(arrows=False, optima=False, legend=False, plane_seed=9)
    with_paths, _ = orange_pixels(base, "on")
    without_paths, embedded = orange_pixels(base.replace(paths=False), "off")
    assert with_paths > 20 and without_paths <= 2
    assert (embedded.paths, embedded.optima, embedded.plane_seed) == (False, False, 9)
