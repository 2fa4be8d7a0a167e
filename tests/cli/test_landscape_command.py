"""``maml-gui landscape``: the NPZ layout, planes for the MLP, and bad input as exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.core.config import make_config
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks


def test_grid_layout_and_embedded_config(tmp_path):
    out = tmp_path / "g.npz"
    assert main(["landscape", "--set", "inner_steps=2", "--surface", "meta", "--grid", "12",
                 "--range", "0", "1", "-0.5", "0.5", "--out", str(out)]) == 0
    with np.load(out) as data:
        x, y, z = data["x"], data["y"], data["z"]
        config = make_config(json.loads(str(data["config"])))
        assert str(data["surface"]) == "meta" and "k = 2" in str(data["label"])
    assert x.shape == (12,) and y.shape == (12,) and z.shape == (12, 12)
    assert x[0] == 0 and x[-1] == 1 and y[0] == -0.5 and y[-1] == 0.5
    ev = LandscapeEvaluator(config, landscape_tasks(config))
    # z[r, c] is the value at (x[c], y[r])
    assert z[2, 9] == pytest.approx(ev.values("meta", [[x[9], y[2]]])[0], abs=1e-14)
    assert z[9, 2] == pytest.approx(ev.values("meta", [[x[2], y[9]]])[0], abs=1e-14)


def test_mlp_pca_plane_projects_the_trace(tmp_path):
    trace = tmp_path / "t.json"
    tiny = ["--set", 'task.family="sinusoid"', "--set", "task.hidden=[6]", "--set", "task.n_tasks=4",
            "--set", "inner_lr=0.05"]
    assert main(["run", *tiny, "--steps", "6", "--quiet", "--out", str(trace)]) == 0
    out = tmp_path / "g.npz"
    assert main(["landscape", *tiny, "--plane", "pca", "--trace", str(trace), "--grid", "6",
                 "--surface", "mean", "--out", str(out)]) == 0
    with np.load(out) as data:
        plane = json.loads(str(data["plane"]))
        assert plane["method"] == "pca" and 0 < sum(plane["explained_variance"]) <= 1 + 1e-12
        assert data["plane_directions"].shape == (2, 19)
        assert data["path_uv"].shape == (7, 2) and data["path_distance"].shape == (7,)
        assert np.all(data["path_distance"] >= 0)
        assert "PCA" not in str(data["label"])  # the label names the surface, the plane is separate


@pytest.mark.parametrize("argv, words", [
    (["--range", "1", "0", "0", "1"], "minimum must be below"),
    (["--range", "0", "1", "2", "2"], "minimum must be below"),
    (["--grid", "1"], "grid 1 is out of range"),
    (["--grid", "4000"], "grid 4000 is out of range"),
    (["--surface", "task:7"], "task index out of range"),
    (["--surface", "imaml:-1"], "task index out of range"),
    (["--surface", "curvature"], "unknown surface"),
    (["--set", 'algorithm="pretrain"'], "no meta surface"),
    (["--set", 'task.family="sinusoid"'], "choose --plane"),
    (["--set", 'task.family="sinusoid"', "--plane", "pca"], "needs --trace"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, words):
    out = tmp_path / "g.npz"
    assert main(["landscape", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and err.startswith("maml-gui")
    assert not out.exists() and not list(tmp_path.iterdir())
