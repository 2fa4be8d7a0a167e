"""``export`` stores the inner paths ``record_paths`` asks for, and keeps in memory only
what it draws in full."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.commands import export as export_command
from maml_gui.core.trace import load_trace


@pytest.mark.parametrize("mode, points", [("full", 4), ("endpoints", 2), ("none", 0)])
def test_trajectory_exports_honour_record_paths(tmp_path, mode, points):
    out = tmp_path / "t.json"
    assert main(["export", "--set", f"record_paths={mode}", "--set", "inner_steps=3",
                 "--steps", "3", "--out", str(out), "--quiet"]) == 0
    trace = load_trace(out)
    assert len(trace.records) == 3 and trace.config["record_paths"] == mode
    for record in trace.records:
        assert (0 if record.paths is None else record.paths.shape[1]) == points
    if mode == "endpoints":
        full = tmp_path / "full.json"
        assert main(["export", "--set", "inner_steps=3", "--steps", "3", "--out", str(full),
                     "--quiet"]) == 0
        for thin, whole in zip(trace.records, load_trace(full).records):
            np.testing.assert_array_equal(thin.paths, whole.paths[:, [0, -1]])
    assert json.loads(out.read_text())["format"] == "maml-gui-trace"


def test_figures_keep_full_paths_only_for_the_steps_they_draw(monkeypatch):
    from maml_gui.core.config import make_config

    config = make_config({"record_paths": "none", "inner_steps": 2, "steps": 6})
    records = export_command._train(config, quiet=True, shown=range(2, 3))
    kept = [r.step for r in records if r.paths is not None]
    assert kept == [2, 5]  # the --step asked for, and the last one
    assert all(r.paths.shape[1] == 3 for r in records if r.paths is not None)
