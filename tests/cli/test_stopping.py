"""SIGTERM (what ``timeout``, CI and service managers send) stops like Ctrl-C: exit 143, no
temporary ``.NAME.partial-XXXX`` file left, an existing target kept as it was; and
``--screenshot``'s time limit covers the whole run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maml_gui.cli import main
from maml_gui.signals import EXIT_TERMINATED

REPO = Path(__file__).resolve().parents[2]
OLD = b"the old target"


def _start(argv, cwd: Path) -> subprocess.Popen:
    """The command with stderr to a file: a pipe would stay open as long as any child
    process lives, and whether children outlive their parent is not what is tested here."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    log = open(cwd.parent / f"{cwd.name}-stderr.txt", "wb")
    process = subprocess.Popen([sys.executable, "-m", "maml_gui", *map(str, argv)], cwd=cwd,
                               env=env, stdout=subprocess.DEVNULL, stderr=log)
    process.log = Path(log.name)
    log.close()
    return process


def _wait_for(predicate, timeout: float, process: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"the command ended early: {process.log.read_text()}")
        if time.monotonic() > end:
            process.kill()
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def _terminate(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("SIGTERM did not stop the command within 60 s")
    return process.returncode, process.log.read_text()


@pytest.mark.slow
def test_sigterm_during_a_gif_export_removes_the_partial_file(tmp_path):
    target = tmp_path / "anim.gif"
    target.write_bytes(OLD)
    process = _start(["export", "--preset", "article_two_tasks", "--steps", "40", "--out",
                      target, "--fps", "8", "--grid", "24", "--quiet"], tmp_path)
    _wait_for(lambda: _partials(tmp_path), 300, process)  # frames are being written
    code, err = _terminate(process)
    assert code == EXIT_TERMINATED, err
    # (a landscape worker the forkserver was still starting may print its own error: child
    # processes' ends are issue 12's other part)
    assert "maml-gui: terminated" in err.splitlines(), err
    assert _partials(tmp_path) == [] and target.read_bytes() == OLD


def _loaded(process: subprocess.Popen, library: str) -> bool:
    try:
        return library in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_sigterm_of_a_screenshot_run_writes_nothing(tmp_path):
    target = tmp_path / "shot.png"
    target.write_bytes(OLD)
    process = _start(["--screenshot", target, "--steps", "10000000"], tmp_path)
    # Qt's widgets load in run_app, after its SIGTERM handler is in place
    _wait_for(lambda: _loaded(process, "libQt6Widgets"), 300, process)
    time.sleep(3)  # most likely the window is built and its event loop runs by now
    code, err = _terminate(process)
    assert code == EXIT_TERMINATED, err
    assert "maml-gui: terminated" in err
    assert target.read_bytes() == OLD and _partials(tmp_path) == []


def test_sigterm_during_a_landscape_keeps_the_old_target(tmp_path, capsys, monkeypatch):
    """A real SIGTERM, sent to this process while the grid is being computed."""
    from maml_gui.core import landscape

    target = tmp_path / "grid.npz"
    target.write_bytes(OLD)
    original = landscape.LandscapeEvaluator.values

    def values_then_sigterm(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs at the next bytecode
        return result

    monkeypatch.setattr(landscape.LandscapeEvaluator, "values", values_then_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["landscape", "--grid", "8", "--out", str(target)]) == EXIT_TERMINATED
    assert capsys.readouterr().err == "maml-gui: terminated\n"
    assert target.read_bytes() == OLD and _partials(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is put back


@pytest.mark.slow
def test_the_screenshot_time_limit_covers_the_whole_run(tmp_path):
    """--steps 10000000 must not busy-loop past the limit (here 8 s): it saves what is shown."""
    target = tmp_path / "shot.png"
    code = ("import sys, maml_gui.app as app; app.SCREENSHOT_TIMEOUT_S = 8.0; "
            "from maml_gui.cli import main; "
            f"sys.exit(main(['--screenshot', {str(target)!r}, '--steps', '10000000']))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    elapsed = time.monotonic() - started
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "not complete in time" in err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the limit counts from the start: start-up (~10-20 s here, loaded) + 8 s would be more
    assert elapsed < 60, elapsed
