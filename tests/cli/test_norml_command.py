"""``maml-gui run`` on the point robot: NoRML's keys, the preset, and hostile values refused
in one line (exit 2) before any file is written."""

from __future__ import annotations

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.core.config import load_config_file
from maml_gui.core.trace import load_trace
from maml_gui.core.training import train

KEYS = ["--set", "task.family=point_robot", "--set", "algorithm=norml", "--set", "inner_lr=1",
        "--set", "outer_optimizer=adam", "--set", "outer_lr=0.006",
        "--set", "outer_lr_decay=linear", "--set", "task.rollouts=6", "--set", "task.horizon=4",
        "--set", "task.gamma=0.9", "--set", "task.n_tasks=3"]


def test_run_with_norml_keys_writes_the_engines_trace(tmp_path):
    out = tmp_path / "norml.json"
    assert main(["run", *KEYS, "--steps", "11", "--quiet", "--out", str(out)]) == 0
    trace = load_trace(out)
    config = load_config_file(out)
    assert config.algorithm == "norml" and config.task["rollouts"] == 6 and config.steps == 11
    expected = list(train(config, 11))
    for got, want in zip(trace.records, expected):
        np.testing.assert_array_equal(got.loss_after, want.loss_after)
        np.testing.assert_array_equal(got.diagnostics["offset"], want.diagnostics["offset"])
    assert np.all(trace.records[0].loss_before > 0)  # negative returns
    np.testing.assert_array_equal(trace.records[10].diagnostics["demo_post"],
                                  expected[10].diagnostics["demo_post"])


def test_the_preset_runs_headless(tmp_path):
    out = tmp_path / "p.json"
    assert main(["run", "--preset", "norml_point_robot", "--steps", "2", "--quiet",
                 "--out", str(out)]) == 0
    assert load_config_file(out).outer_lr_decay == "linear"


@pytest.mark.parametrize("extra, words", [
    (["--set", "task.rollouts=0"], "task.rollouts = 0"),
    (["--set", "task.gamma=2"], "task.gamma = 2"),
    (["--set", "task.horizon=\"ten\""], "task.horizon"),
    (["--set", "algorithm=reptile"], "reinforcement learning"),
    (["--set", "inner_steps=4"], "one policy-gradient step"),
    (["--set", "norml_advantage_hidden=100000"], "norml_advantage_hidden"),
    (["--set", "task.rollouts=1000", "--set", "task.n_tasks=1000", "--set", "task.horizon=200"],
     "memory"),
])
def test_hostile_values_are_one_line_and_exit_2(tmp_path, capsys, extra, words):
    out = tmp_path / "t.json"
    assert main(["run", *KEYS, *extra, "--steps", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("maml-gui: ") and words in err[0]
    assert not out.exists()


def test_norml_on_another_family_is_refused(tmp_path, capsys):
    assert main(["run", "--set", "algorithm=norml", "--steps", "1",
                 "--out", str(tmp_path / "t.json")]) == 2
    assert "point_robot" in capsys.readouterr().err
