"""Every input path answers a hostile or careless file in one line, exit 2, touching nothing.

Each class of file (tests/hostile_files.py) goes to every command that reads it: ``run``,
``landscape`` and ``export`` (``--config``), the window (``--config`` and ``--session`` with
``--screenshot``) and ``landscape --trace``. Each must end with exit 2 and one line on stderr
(no traceback), leave the input files byte for byte as they were and write no output (no
temporary file either). The commands run in-process, so any exception but the readable
one fails the test.
"""

from __future__ import annotations

import json
import os

import pytest

from maml_gui.cli import main
from tests import hostile_files
from tests.hostile_files import CLASSES

COMMANDS = {
    "run --config": lambda f, out: ["run", "--config", f, "--out", str(out / "o.json")],
    "landscape --config": lambda f, out: ["landscape", "--config", f, "--out",
                                          str(out / "o.npz")],
    "export --config": lambda f, out: ["export", "--config", f, "--out", str(out / "o.png")],
    "window --config": lambda f, out: ["--config", f, "--screenshot", str(out / "o.png")],
    "window --session": lambda f, out: ["--session", f, "--screenshot", str(out / "o.png")],
    "landscape --trace": lambda f, out: ["landscape", "--trace", f, "--plane", "pca",
                                         "--out", str(out / "o.npz")],
}


def run_refused(argv, capsys) -> str:
    """Run the CLI in-process; assert exit 2 and exactly one line on stderr; that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("maml-gui: "), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", CLASSES)
def test_hostile_file_is_refused_in_one_line(tmp_path, capsys, kind, command):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    path = hostile_files.make(kind, inputs)
    before = hostile_files.snapshot(inputs)
    err = run_refused(COMMANDS[command](str(path), out), capsys)
    if command != "landscape --trace":  # a trace reader says "not a trace" for some
        assert CLASSES[kind][2] in err
    assert hostile_files.snapshot(inputs) == before
    assert list(out.iterdir()) == []


def test_a_zero_step_trace_given_to_landscape(tmp_path, capsys):
    trace = tmp_path / "zero.json"
    assert main(["run", "--steps", "0", "--out", str(trace), "--quiet"]) == 0
    capsys.readouterr()
    err = run_refused(["landscape", "--trace", trace, "--out", tmp_path / "l.npz"], capsys)
    assert "no meta-steps" in err and not (tmp_path / "l.npz").exists()


@pytest.mark.parametrize("argv, words", [
    (["landscape", "--plane-seed", "-1", "--out", "{out}/l.npz"], "--plane-seed -1"),
    (["export", "--size", "²x²", "--out", "{out}/f.png"], "--size"),
    (["export", "--size", "9" * 5000 + "x9", "--out", "{out}/f.png"], "--size"),
    (["landscape", "--range", " -1e308", "1e308", "0", "1", "--out", "{out}/l.npz"], "--range"),
    (["export", "--range", "0", "inf", "0", "1", "--out", "{out}/f.png"], "--range"),
    (["landscape", "--range", "0", "1e-300", "0", "1", "--out", "{out}/l.npz"], "narrow"),
    (["run", "--preset", "../../x", "--out", "{out}/t.json"], "unknown preset"),
    (["run", "--preset", "/etc/passwd", "--out", "{out}/t.json"], "unknown preset"),
    (["run", "--set", "seed=" + "[" * 100_000, "--out", "{out}/t.json"], None),
    (["run", "--set", "seed=" + "[" * 60 + "]" * 60, "--out", "{out}/t.json"], "nested"),
    (["run", "--set", "seed=" + "9" * 5000, "--out", "{out}/t.json"], "digits"),
])
def test_bad_arguments_are_refused_in_one_line(tmp_path, capsys, argv, words):
    err = run_refused([a.replace("{out}", str(tmp_path)) for a in argv], capsys)
    if words:
        assert words in err
    assert list(tmp_path.iterdir()) == []


# --- outputs never destroy inputs --------------------------------------------------------

@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"steps": 2}))
    return path


def test_run_out_onto_its_own_config(tmp_path, capsys, config_file):
    before = config_file.read_bytes()
    err = run_refused(["run", "--config", config_file, "--out", config_file], capsys)
    assert "same file" in err and config_file.read_bytes() == before


def test_outputs_through_links_onto_an_input_are_refused(tmp_path, capsys, config_file):
    before = config_file.read_bytes()
    (tmp_path / "sym.json").symlink_to(config_file)
    os.link(config_file, tmp_path / "hard.json")
    for link in ("sym.json", "hard.json"):
        err = run_refused(["run", "--config", config_file, "--out", tmp_path / link], capsys)
        assert "same file" in err
    assert config_file.read_bytes() == before and (tmp_path / "sym.json").is_symlink()


def test_landscape_out_onto_its_trace(tmp_path, capsys):
    trace = tmp_path / "t.npz"
    assert main(["run", "--steps", "2", "--out", str(trace), "--quiet"]) == 0
    capsys.readouterr()
    before = trace.read_bytes()
    err = run_refused(["landscape", "--trace", trace, "--out", trace], capsys)
    assert "--trace" in err and trace.read_bytes() == before


def test_screenshot_onto_its_session(tmp_path, capsys):
    session = tmp_path / "s.json"
    session.write_text(json.dumps({"format": "maml-gui-session", "config": {}, "view": {}}))
    before = session.read_bytes()
    err = run_refused(["--session", session, "--screenshot", session], capsys)
    assert "--session" in err and session.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_read_only_target_needs_force_and_stays_read_only(tmp_path, capsys):
    out = tmp_path / "t.json"
    out.write_text("old")
    out.chmod(0o444)
    err = run_refused(["run", "--steps", "1", "--out", out, "--quiet"], capsys)
    assert "read-only" in err and "--force" in err and out.read_text() == "old"
    assert main(["run", "--steps", "1", "--out", str(out), "--quiet", "--force"]) == 0
    assert json.loads(out.read_text())["format"] == "maml-gui-trace"
    assert out.stat().st_mode & 0o777 == 0o444


def test_a_symlinked_target_is_written_through(tmp_path, capsys):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert main(["run", "--steps", "1", "--out", str(link), "--quiet"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["format"] == "maml-gui-trace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


# --- traces and figures work as --config -----------------------------------------------

@pytest.mark.parametrize("source", ["t.npz", "t.json", "fig.png", "fig.svg", "fig.mp4",
                                    "grid.csv"])
def test_any_trace_or_export_works_as_config(tmp_path, capsys, source):
    """The README says any trace or export works as --config: run and landscape too."""
    made = tmp_path / source
    if source.startswith("t."):
        assert main(["run", "--set", "seed=7", "--steps", "1", "--out", str(made), "--quiet"]) == 0
    elif source.endswith(".csv"):
        assert main(["export", "--set", "seed=7", "--steps", "1", "--out", str(made),
                     "--quiet"]) == 0
    else:  # the session document figures embed, in each format's place for it
        session = json.dumps({"format": "maml-gui-session", "config": {"seed": 7},
                              "view": {"surface": "meta"}})
        made.write_bytes({"png": hostile_files.png_with_text("maml-gui-config", session),
                          "svg": hostile_files.svg_with_desc(session).encode(),
                          "mp4": hostile_files.mp4_with_comment(session)}[source[4:]])
    out = tmp_path / "again.json"
    assert main(["run", "--config", str(made), "--steps", "1", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["config"]["seed"] == 7
    assert main(["landscape", "--config", str(made), "--grid", "4", "--out",
                 str(tmp_path / "l.npz")]) == 0
