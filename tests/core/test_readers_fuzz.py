"""Random bytes and random JSON trees (deep ones too) fed to every reader: each answers with
its one-line error or succeeds, never with another exception.

Readers: a config file (any format: :func:`maml_gui.config_source.load_config_source`), a
session (:func:`maml_gui.runtime.session_file.read_session`), a trace
(:func:`maml_gui.core.trace.load_trace`) and an export's embedded config
(:func:`maml_gui.export.data.read_embedded_session`).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maml_gui.config_source import load_config_source
from maml_gui.core.config import ConfigError
from maml_gui.core.safe_read import InputFileError, load_npz, parse_json
from maml_gui.core.trace import TraceFormatError, load_trace
from maml_gui.export import ExportError
from maml_gui.export.data import read_embedded_session
from maml_gui.runtime.session_file import SessionError, read_session
from tests.hostile_files import mp4_with_comment, png_with_text, svg_with_desc

READERS = {
    "config": (load_config_source, ConfigError),
    "session": (read_session, SessionError),
    "trace": (load_trace, TraceFormatError),
    "embedded": (read_embedded_session, ExportError),
}
SUFFIXES = (".json", ".npz", ".png", ".svg", ".pdf", ".gif", ".mp4", ".csv")
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_reader(reader: str, path: Path) -> None:
    """The reader succeeds or raises its own error with a one-line message."""
    function, error = READERS[reader]
    if reader == "trace" and path.suffix not in (".json", ".npz"):
        return
    try:
        function(path)
    except error as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20))
keys = st.sampled_from(["config", "format", "view", "algorithm", "task", "family", "steps",
                        "schema_version", "range", "speed", "compare", "inner_lr", "seed",
                        "record_paths", "hidden", "n_tasks", "theta0", "meta", "x"]) | st.text(
    max_size=8)
trees = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(keys, children, max_size=5), max_leaves=40)


@st.composite
def documents(draw):
    """A JSON document: a random tree, maybe shaped like a maml-gui file, maybe very deep."""
    tree = draw(trees)
    shape = draw(st.sampled_from(["bare", "config", "session", "trace", "deep"]))
    if shape == "config" and isinstance(tree, dict):
        tree = {"algorithm": "maml", **tree}
    elif shape == "session":
        tree = {"format": "maml-gui-session", "config": tree, "view": draw(trees)}
    elif shape == "trace":
        tree = {"format": "maml-gui-trace", "version": 1, "config": tree, "steps": draw(trees)}
    elif shape == "deep":  # past the readers' limit, and past Python's recursion limit
        depth = draw(st.integers(20, 3000))
        return "[" * depth + json.dumps(tree) + "]" * depth
    return json.dumps(tree, allow_nan=True)


def embed(text: str, suffix: str) -> bytes:
    """``text`` where maml-gui puts the config in a file of type ``suffix``."""
    if suffix == ".json":
        return text.encode()
    if suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, config=np.array(text), format=np.array("maml-gui-trace"))
        return buffer.getvalue()
    if suffix == ".png":
        return png_with_text("maml-gui-config", text.encode("utf-8").decode("latin-1"))
    if suffix == ".svg":
        return svg_with_desc(text).encode()
    if suffix == ".pdf":
        return b"%PDF-1.4\n<maml:config>" + text.encode() + b"</maml:config>\n"
    if suffix == ".mp4":
        return mp4_with_comment(text)
    if suffix == ".csv":
        return b"# config: " + text.encode() + b"\nstep\n"
    return text.encode()  # .gif: just bytes


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(data)
        for reader in READERS:
            check_reader(reader, path)


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES), cut=st.integers(0, 400))
def test_random_bytes_inside_a_real_file(data, suffix, cut):
    """Valid headers with junk after them reach deeper into the parsers than pure noise."""
    good = embed(json.dumps({"algorithm": "maml"}), suffix)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(good[:cut] + data + good[cut + len(data):])
        for reader in READERS:
            check_reader(reader, path)


@FUZZ
@given(text=documents(), suffix=st.sampled_from(SUFFIXES))
def test_random_json_trees(text, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(embed(text, suffix))
        for reader in READERS:
            check_reader(reader, path)


@FUZZ
@given(text=documents())
def test_parse_json_answers_in_one_line(text):
    try:
        parse_json(text)
    except InputFileError as exc:
        assert "\n" not in str(exc)


def test_npz_members_are_loaded_within_the_budget(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.zeros(1000), y=np.arange(3))
    assert load_npz(path)["y"].tolist() == [0, 1, 2]
    assert list(load_npz(path, names=("y",))) == ["y"]
    try:
        load_npz(path, budget=4000)
    except InputFileError as exc:
        assert "unpacks to" in str(exc)
    else:
        raise AssertionError("8 kB of arrays passed a 4 kB budget")
