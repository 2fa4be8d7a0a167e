"""Does the window stay responsive while it trains? The frame budget, measured from outside.

Each scenario runs in a fresh process that opens the real window, presses Run and, for a
few seconds, records what a person would notice, without touching the app's own code:
the gaps between ticks of a 10 ms GUI timer (a frozen window shows as a long gap) and the
paint events of the plot's viewport (frames actually drawn), plus the meta-steps trained
and the CPU time of the GUI thread. The scenarios:

- ``single``: ``--preset sinusoid_few_shot`` (Finn's sinusoid MLP, 25 task paths) at full
  speed on the landscape tab;
- ``compare``: the same problem on the comparison tab, the article's four variants (MAML,
  FOMAML, Reptile, iMAML) at full speed;
- ``replay``: the sinusoid preset's window fed 30 snapshots a second of meta-steps trained
  beforehand, through the controller's ``snapshot_published`` signal: what a frame costs
  when the training's pace (on a loaded machine, a few steps a second) does not set it.

``--baseline`` runs the same scenarios on other code in the same run, interleaved, for a
table of ratios: a directory holding a ``maml_gui`` package (e.g. another checkout), or a
git commit of this repository (exported to a temporary directory with ``git archive``).
``--all`` adds the older measurements: the MLP animated at 30 frames/s, the softplus tasks at
full speed, memory growth over ``--memory-steps`` meta-steps, and time to a painted window.

Targets: largest gap ≤ 50 ms and ≥ 30 frames painted per second; for ``--all`` also under
20 MB growth over 50,000 meta-steps and a painted window within 3 s.

    python benchmarks/gui_latency.py [--seconds 8] [--baseline 83db99e] [--all]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK_MS = 10
SCENARIOS = ("single", "compare", "replay")
REPLAY_FPS = 30.0
SETTLE_TIMEOUT_S = 60.0  # a cold forkserver preloading torch takes seconds on a loaded machine


# --- inside a scenario process ----------------------------------------------------------
def _measure(scenario: str, seconds: float) -> dict:
    """Open the window, start the scenario, measure for ``seconds``; a dict of numbers."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import maml_gui  # noqa: F401  (first, as the app's entry point: it limits BLAS threads)
    from maml_gui.app import make_application

    app = make_application()  # noqa: F841 (kept alive)
    from maml_gui.core.config import make_config
    from maml_gui.widgets.main_window import MainWindow

    window = MainWindow(make_config({}))
    window.resize(1500, 950)
    _settle_memory()  # as the app's entry point does once its window is built
    window.show()
    if scenario in SCENARIOS:
        window.sessions.apply_preset("sinusoid_few_shot")
    else:  # the older measurements' settings
        window.controller.replace_config(make_config(_OLDER[scenario][0]))
    _spin(SETTLE_TIMEOUT_S, until=lambda: window.canvas.shown_surface is not None)
    if scenario == "replay":
        return _replay(window, seconds)
    if scenario == "compare":
        plot, steps = _start_comparison(window)
    else:
        speed_index = window.speed_slider.maximum() if scenario != "animated" else \
            _speed_index(window, 30.0)
        window.speed_slider.setValue(speed_index)
        window.play_action.trigger()
        plot = window.canvas.plot_widget
        steps = lambda: window.controller.history.total_steps  # noqa: E731
    # the training process is up and steps arrive before anything is measured
    _spin(SETTLE_TIMEOUT_S, until=lambda: steps() >= 5)
    counter = _PaintCounter()
    plot.viewport().installEventFilter(counter)
    steps0, cpu0 = steps(), time.thread_time()
    gaps = _spin(seconds)
    cpu = time.thread_time() - cpu0
    result = {"steps_per_s": (steps() - steps0) / seconds, "fps": counter.count / seconds,
              "gui_cpu": cpu / seconds, "cpu_ms_per_frame": 1000 * cpu / max(counter.count, 1)}
    gaps.sort()
    result.update(max_gap=gaps[-1], p99_gap=gaps[int(0.99 * (len(gaps) - 1))])
    _close(window)
    return result


def _settle_memory() -> None:
    try:
        from maml_gui.app import settle_memory
    except ImportError:  # a baseline from before it existed
        return
    settle_memory()


def _replay(window, seconds: float) -> dict:
    """Snapshots of meta-steps trained beforehand, published at 30 a second through the
    controller's signal as a full-speed run publishes them: the cost of a frame without the
    training's own pace (and its share of the CPU) in the numbers."""
    import dataclasses

    from maml_gui.core.history import RunHistory
    from maml_gui.core.tasks import make_family
    from maml_gui.core.training import train
    from maml_gui.runtime.offline import snapshot_of
    from PySide6.QtCore import QTimer

    config = window.controller.config
    records = list(train(config, int(REPLAY_FPS * seconds) + 1))
    history = RunHistory(make_family(config).param_dim)
    feed = QTimer()
    feed.setInterval(int(1000 / REPLAY_FPS))

    def publish():
        if history.total_steps < len(records):
            history.append(records[history.total_steps])
        snapshot = dataclasses.replace(snapshot_of(config, history), playing=True,
                                       full_speed=True)
        window.controller.snapshot_published.emit(snapshot)

    feed.timeout.connect(publish)
    counter = _PaintCounter()
    window.canvas.plot_widget.viewport().installEventFilter(counter)
    feed.start()
    cpu0 = time.thread_time()
    gaps = _spin(seconds)
    cpu = time.thread_time() - cpu0
    feed.stop()
    gaps.sort()
    result = {"steps_per_s": history.total_steps / seconds, "fps": counter.count / seconds,
              "gui_cpu": cpu / seconds, "cpu_ms_per_frame": 1000 * cpu / max(counter.count, 1),
              "max_gap": gaps[-1], "p99_gap": gaps[int(0.99 * (len(gaps) - 1))]}
    _close(window)
    return result


def _start_comparison(window):
    """The comparison tab with the article's four variants, at full speed."""
    from maml_gui.widgets.comparison_view import ARTICLE_FOUR

    window.tabs.setCurrentIndex(1)
    view = window.comparison
    view.set_variants([(name, "") for name in ARTICLE_FOUR])
    view.start()
    view.rate_box.setCurrentIndex(view.rate_box.count() - 1)  # full speed
    view.play_button.click()
    # the widget whose viewport paints the overlay: one GraphicsLayoutWidget for both layouts
    # now, the overlay's own PlotWidget before the comparison became a plot item
    plot = view.plots if hasattr(view, "plots") else view.overlay
    return plot, lambda: view.controller.histories[0].total_steps


def _speed_index(window, frames_per_second: float) -> int:
    from maml_gui.runtime.run_controller import SPEEDS

    return SPEEDS.index(frames_per_second)


class _PaintCounter:
    """Counts a widget's paint events (an event filter: the app's code is not touched)."""

    def __new__(cls):
        from PySide6.QtCore import QEvent, QObject

        class Counter(QObject):
            count = 0

            def eventFilter(self, _obj, event):  # noqa: N802 (Qt override)
                if event.type() == QEvent.Type.Paint:
                    self.count += 1
                return False

        return Counter()


def _spin(seconds: float, until=None) -> list[float]:
    """Run a local event loop for ``seconds`` (or until ``until()``) with a 10 ms timer;
    the gaps between its ticks in ms (a local loop: quitting the app would close windows)."""
    from PySide6.QtCore import QEventLoop, QTimer

    ticks: list[float] = []
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(TICK_MS)

    def tick():
        ticks.append(time.perf_counter())
        if ticks[-1] - ticks[0] >= seconds or (until is not None and until()):
            timer.stop()
            loop.quit()

    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    return [1000 * (b - a) for a, b in zip(ticks, ticks[1:])] or [0.0]


# the older measurements (``--all``): settings and speed
_OLDER = {
    "animated": ({"task": {"family": "sinusoid", "n_tasks": 25}, "inner_lr": 0.01,
                  "outer_optimizer": "adam", "outer_lr": 0.001}, 30.0),
    "softplus": ({"task": {"family": "softplus"}, "inner_steps": 3}, None),
}


def _memory_growth(steps: int) -> dict:
    """RSS growth of the window's process over ``steps`` softplus meta-steps at full speed."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import maml_gui  # noqa: F401
    from maml_gui.app import make_application

    app = make_application()  # noqa: F841
    from maml_gui.core.config import make_config
    from maml_gui.widgets.main_window import MainWindow

    window = MainWindow(make_config({"task": {"family": "softplus"}, "inner_steps": 1}))
    window.show()
    controller = window.controller
    window.speed_slider.setValue(window.speed_slider.maximum())
    controller.play()
    warmup = min(2000, steps // 10)
    _spin(120, until=lambda: controller.history.total_steps >= warmup)
    before = _rss_mb()
    started = time.perf_counter()
    _spin(3600, until=lambda: controller.history.total_steps >= steps)
    elapsed = time.perf_counter() - started
    after = _rss_mb()
    result = {"steps": controller.history.total_steps - warmup, "growth": after - before,
              "history_mb": controller.history.nbytes() / 2**20, "seconds": elapsed}
    _close(window)
    return result


def _close(window) -> None:
    """Close without the unsaved-changes question (a modal box would wait forever)."""
    window.setWindowModified(False)
    window.close()


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


STARTUP_SCRIPT = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QObject, QTimer
    from maml_gui.app import make_application
    app = make_application()
    from maml_gui.core.config import make_config
    from maml_gui.widgets.main_window import MainWindow
    window = MainWindow(make_config({}))
    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                print(f"{time.perf_counter() - t0:.3f}", flush=True)
                QTimer.singleShot(0, app.quit)
                obj.removeEventFilter(self)
            return False
    watcher = FirstPaint()
    window.canvas.plot_widget.viewport().installEventFilter(watcher)
    window.show()
    app.exec()
    window.close()
""")


# --- the orchestrating process ----------------------------------------------------------
def _child(code: Path, *args: str, timeout: float = 300) -> dict:
    """Run this file in a fresh process against the ``maml_gui`` under ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                            env=env, cwd=code, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"gui_latency: {' '.join(args)} failed on {code}:\n"
                         f"{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def _baseline_code(baseline: str, scratch: Path) -> Path:
    """A directory with the baseline's ``maml_gui``: the directory given, or a commit's tree."""
    if (Path(baseline) / "maml_gui").is_dir():
        return Path(baseline).resolve()
    target = scratch / "baseline"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"gui_latency: --baseline {baseline!r} is neither a directory with "
                         f"maml_gui nor a commit here: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _table(results: dict, baseline_name: str | None) -> None:
    rows = [("largest GUI timer gap (ms)", "max_gap", "≤ 50"),
            ("99th percentile gap (ms)", "p99_gap", ""),
            ("frames painted per second", "fps", "≥ 30"),
            ("GUI thread CPU (share of a core)", "gui_cpu", ""),
            ("GUI CPU ms per painted frame", "cpu_ms_per_frame", ""),
            ("meta-steps per second", "steps_per_s", "")]
    titles = {"single": "sinusoid preset, full speed, 25 task paths (landscape tab)",
              "compare": "comparison tab, 4 variants (MAML, FOMAML, Reptile, iMAML), full speed",
              "replay": "sinusoid preset, 30 prepared snapshots a second (no training process)",
              "animated": "sinusoid MLP animated at 30 frames/s",
              "softplus": "softplus (2 tasks) at full speed"}
    header = f"{'measurement':<36}" + (f"{'baseline':>11}" if baseline_name else "") + \
        f"{'this code':>11}" + (f"{'ratio':>8}" if baseline_name else "") + f"{'target':>9}"
    for scenario, (mine, theirs) in results.items():
        print(f"\n{titles[scenario]}\n{header}")
        for label, key, target in rows:
            line = f"{label:<36}"
            if baseline_name:
                line += f"{theirs[key]:>11.1f}"
            line += f"{mine[key]:>11.1f}"
            if baseline_name:
                ratio = mine[key] / theirs[key] if theirs[key] else float("nan")
                line += f"{ratio:>7.2f}×"
            print(line + f"{target:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured per scenario")
    parser.add_argument("--baseline", help="a directory with maml_gui, or a git commit here")
    parser.add_argument("--all", action="store_true", help="add the older measurements")
    parser.add_argument("--memory-steps", type=int, default=50_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # inside a scenario process
    args = parser.parse_args()
    if args.measure == "memory":
        print(json.dumps(_memory_growth(args.memory_steps)))
        return
    if args.measure:
        print(json.dumps(_measure(args.measure, args.seconds)))
        return
    scenarios = [*SCENARIOS, *(_OLDER if args.all else ())]
    with tempfile.TemporaryDirectory(prefix="gui-latency-") as scratch:
        baseline = _baseline_code(args.baseline, Path(scratch)) if args.baseline else None
        print(f"load average before: {_load()} (1, 5, 15 min) on {os.cpu_count()} CPUs; "
              f"{args.seconds:g} s per scenario, each in a fresh process"
              + (f"; baseline: {args.baseline}" if baseline else ""))
        results = {}
        for scenario in scenarios:  # interleaved, so both see the same neighbours' load
            theirs = _child(baseline, "--measure", scenario, "--seconds", str(args.seconds)) \
                if baseline else None
            mine = _child(ROOT, "--measure", scenario, "--seconds", str(args.seconds))
            results[scenario] = (mine, theirs)
        print(f"load average after: {_load()}")
    _table(results, args.baseline)
    if args.all:
        memory = _child(ROOT, "--measure", "memory", "--memory-steps", str(args.memory_steps),
                        timeout=3600)
        startup = []
        for _ in range(3):
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True,
                                 text=True, timeout=120, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            startup.append((float(out.stdout.strip().splitlines()[-1]),
                            time.perf_counter() - started))
        inside, whole = sorted(startup)[1]
        print(f"\nmemory growth over {memory['steps']:,} softplus meta-steps: "
              f"{memory['growth']:.1f} MB (target < 20; history arrays {memory['history_mb']:.1f}"
              f" MB; {memory['steps'] / memory['seconds']:.0f} steps/s)")
        print(f"launch to painted window: {inside:.1f} s inside the process (target ≤ 3), "
              f"{whole:.1f} s for the whole process")


if __name__ == "__main__":  # training processes import the main module: never run it there
    main()
