"""``maml-gui run`` with iTAML's keys: the stream in the trace, hostile values refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.core.trace import load_trace
from tests.cli.test_hostile_inputs import run_refused

ITAML = ["--set", "algorithm=itaml", "--set", "task.family=blobs", "--set", "task.n_tasks=3",
         "--set", "task.hidden=[6,6]"]


def test_run_trains_the_stream_with_the_keys(tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert main(["run", *ITAML, "--set", "itaml_session_steps=2", "--set", "itaml_memory=6",
                 "--set", "itaml_decay=0.5", "--set", "itaml_variant=code",
                 "--set", "itaml_batch=7", "--steps", "6", "--out", str(out), "--quiet"]) == 0
    records = load_trace(out).records
    assert [int(r.diagnostics["session"]) for r in records] == [0, 0, 1, 1, 2, 2]
    assert [float(r.diagnostics["mu"]) for r in records[::2]] == pytest.approx(
        [math.exp(-0.5 * s / 3) for s in range(3)])
    np.testing.assert_array_equal(records[-1].diagnostics["memory_counts"], [1] * 6)
    assert all(r.diagnostics["batch_mask"].sum() == 7 for r in records)


@pytest.mark.parametrize("setting, words", [
    ("itaml_memory=-1", "itaml_memory"),
    ("itaml_decay=NaN", "itaml_decay"),
    ("itaml_decay=1e400", "itaml_decay"),
    ("itaml_session_steps=0", "itaml_session_steps"),
    ("itaml_batch=-5", "itaml_batch"),
    ("itaml_variant=serial", "itaml_variant"),
    ("task.classes_per_task=0", "task.classes_per_task"),
    ("task.spread=-1", "task.spread"),
])
def test_hostile_itaml_values_are_refused_in_one_line(tmp_path, capsys, setting, words):
    err = run_refused(["run", *ITAML, "--set", setting, "--out", tmp_path / "t.npz"], capsys)
    assert words in err
    assert list(tmp_path.iterdir()) == []
