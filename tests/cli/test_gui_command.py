"""`maml-gui --screenshot`: the window after N meta-steps, offscreen, for docs and checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def _run(args, tmp_path, timeout=180):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "maml_gui", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_screenshot_after_n_steps(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"algorithm": "fomaml", "inner_steps": 2}))
    out = tmp_path / "shot.png"
    result = _run(["--screenshot", str(out), "--config", str(config), "--steps", "5"], tmp_path)
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[:2] == (1000, 1600)
    assert image.reshape(-1, 3).std(axis=0).max() > 20  # a real picture, not a blank window
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_screenshot_to_an_unwritable_place_exits_2(tmp_path):
    result = _run(["--screenshot", str(tmp_path / "no" / "shot.png"), "--steps", "1"], tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_bad_session_exits_2_before_any_window(tmp_path):
    session = tmp_path / "s.json"
    session.write_text(json.dumps({"schema_version": 7, "config": {}}))
    result = _run(["--session", str(session)], tmp_path)
    assert result.returncode == 2 and "newer maml-gui" in result.stderr
