"""Children never outlive their parent: workers, forkserver, resource tracker and ffmpeg."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maml_gui.runtime import processes

ROOT = Path(__file__).resolve().parents[2]

# A parent that starts everything a window or an export starts, then waits to be killed.
PARENT = r"""
import sys, time
from pathlib import Path
import numpy as np
from maml_gui.core.config import make_config
from maml_gui.export.animation import Mp4Writer
from maml_gui.runtime.landscape_worker import LandscapeWorker
from maml_gui.runtime.training_worker import TrainingWorker

config = make_config({"task": {"family": "quadratic", "n_tasks": 3}})
training = TrainingWorker([config], process=True)
training.start()
training.set_free_running(True)  # it runs 512 steps ahead, then blocks on its queue
landscape = LandscapeWorker(process=True)
landscape.start()  # (a request would start it too)
video = Mp4Writer(Path(sys.argv[1]), 10.0, "{}")
video.write(np.zeros((32, 32, 3), np.uint8))
deadline = time.monotonic() + 60
while training.pending() == 0 and time.monotonic() < deadline:
    time.sleep(0.02)
print("ready" if training.pending() else "no records", flush=True)
time.sleep(600)
"""


def _session_members(session: int) -> dict[int, str]:
    """Live processes (not zombies) of ``session``, with their command lines."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            members[int(entry.name)] = cmdline
    return members


def _read_line(stream, timeout_s: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    return stream.readline().decode().strip() if ready else ""


@pytest.mark.slow
@pytest.mark.skipif(not (sys.platform.startswith("linux") and processes.available()),
                    reason="needs /proc and a forkserver")
def test_sigkill_of_the_parent_leaves_no_child(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "v.mp4")], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert _read_line(parent.stdout, 90.0) == "ready"
        children = {pid: cmd for pid, cmd in _session_members(parent.pid).items()
                    if pid != parent.pid}
        text = "\n".join(children.values())
        assert "forkserver" in text and "resource_tracker" in text and "ffmpeg" in text, text
        assert len(children) >= 5, text  # + the training and the landscape processes
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10.0
        while _session_members(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _session_members(parent.pid) == {}
    finally:
        for pid in [parent.pid, *_session_members(parent.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        parent.wait(10)
        parent.stdout.close()
