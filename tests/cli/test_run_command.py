"""``maml-gui run``: traces with the config embedded, bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.core.config import load_config_file
from maml_gui.core.trace import load_trace
from maml_gui.core.training import train


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_run_writes_a_trace_that_matches_the_engine(tmp_path, capsys):
    cfg = _write(tmp_path / "c.json", {"algorithm": "maml", "inner_steps": 2, "inner_lr": 0.3})
    out = tmp_path / "trace.json"
    assert main(["run", "--config", str(cfg), "--steps", "7", "--set", "outer_lr=0.2",
                 "--out", str(out)]) == 0
    trace = load_trace(out)
    assert len(trace.records) == 7
    config = load_config_file(out)  # the embedded config is a valid config
    assert config.steps == 7 and config.outer_lr == 0.2
    expected = list(train(config, 7))
    for got, want in zip(trace.records, expected):
        np.testing.assert_array_equal(got.theta, want.theta)
        np.testing.assert_array_equal(got.theta_next, want.theta_next)
        np.testing.assert_array_equal(got.paths, want.paths)
        np.testing.assert_array_equal(got.meta_grad, want.meta_grad)
    data = json.loads(out.read_text())
    step = data["steps"][3]
    assert step["theta_next"] == data["steps"][4]["theta"]
    assert len(step["tasks"]) == 2 and len(step["tasks"][0]["path"]) == 3
    assert "steps/s" in capsys.readouterr().err


def test_run_npz_round_trips_and_thins_paths(tmp_path):
    out = tmp_path / "trace.npz"
    assert main(["run", "--set", "task.family=\"sinusoid\"", "--set", "task.hidden=[4]",
                 "--steps", "3", "--paths", "endpoints", "--quiet", "--out", str(out)]) == 0
    trace = load_trace(out)
    assert trace.records[0].paths.shape[1] == 2  # θ and φᵏ only
    with np.load(out) as data:
        assert data["theta"].shape == (3, 13) and "config" in data.files


@pytest.mark.parametrize("data, words", [
    ({"inner_lr": -0.5}, "inner_lr = -0.5"),
    ({"inner_steps": 0}, "inner_steps = 0"),
    ({"algorithm": "metasgd"}, "algorithm = \"metasgd\""),
    ({"task": {"family": "quadratic", "A": [[[1, 0, 0], [0, 1, 0]]]}}, "must be square"),
    ({"learning_rate": 0.1}, "learning_rate"),
])
def test_bad_config_exits_2_with_one_readable_line(tmp_path, capsys, data, words):
    cfg = _write(tmp_path / "bad.json", data)
    out = tmp_path / "t.json"
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
    assert not out.exists()


def test_unwritable_output_and_bad_arguments(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "missing" / "t.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "--out", str(tmp_path / "t.txt")]) == 2
    assert ".json or .npz" in capsys.readouterr().err
    assert main(["run", "--set", "inner_lr", "--out", str(tmp_path / "t.json")]) == 2
    assert "key=value" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "nope.json"), "--out", "x.json"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_diverged_run_keeps_its_trace_and_says_why(tmp_path, capsys):
    out = tmp_path / "t.json"
    code = main(["run", "--set", "task.family=\"quadratic\"", "--set", "inner_lr=90",
                 "--set", "inner_steps=20", "--steps", "100", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged at step" in err and "inner learning rate" in err
    assert load_trace(out).records[-1].diverged


def test_console_script_reports_errors_without_traceback(tmp_path):
    cfg = _write(tmp_path / "bad.json", {"inner_lr": -1})
    result = subprocess.run([sys.executable, "-m", "maml_gui", "run", "--config", str(cfg),
                             "--out", str(tmp_path / "t.json")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "maml-gui: inner_lr = -1: out of range: must be ≥ 0 and ≤ 100"]
