"""Does the window stay responsive while it trains? Four measurements in one run.

1. GUI responsiveness while the worker trains the sinusoid MLP (25 tasks) at full speed and
   the canvas redraws the 25 task paths: the largest gap between ticks of a 10 ms GUI timer,
   and the frames the canvas actually paints per second.
2. The same while animating frame by frame at the top animated speed (30 frames/s), and at
   full speed on the 2-parameter softplus tasks.
3. Memory growth over 50,000 meta-steps of a 2-parameter family at full speed (the history
   is bounded, so it should stay flat).
4. Time from launch to a visible (painted) window, in a fresh process.

Targets: no gap above 50 ms, at least 30 frames per second, under 20 MB growth over
50,000 meta-steps, a visible window within 3 s.

    python benchmarks/gui_latency.py [--seconds 10] [--memory-steps 50000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from maml_gui.core.config import make_config  # noqa: E402
from maml_gui.runtime.run_controller import FULL_SPEED  # noqa: E402
from maml_gui.widgets.main_window import MainWindow  # noqa: E402

TICK_MS = 10


class PaintCounter(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_for(seconds: float, until=None) -> list[float]:
    """Spin an event loop for ``seconds`` (or until ``until()``) with a 10 ms timer; returns
    the gaps between its ticks in ms. A local loop: QApplication.quit() would close windows."""
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
    return [1000 * (b - a) for a, b in zip(ticks, ticks[1:])]


MLP = {"task": {"family": "sinusoid", "n_tasks": 25}, "inner_lr": 0.01,
       "outer_optimizer": "adam", "outer_lr": 0.001}
SOFTPLUS = {"task": {"family": "softplus"}, "inner_steps": 3}


def responsiveness(seconds: float, speed: float, settings: dict = MLP) -> dict:
    config = make_config(settings)
    window = MainWindow(config)
    window.resize(1500, 950)
    window.show()
    counter = PaintCounter()
    window.canvas.plot_widget.viewport().installEventFilter(counter)
    window.controller.set_order("together")
    window.controller.set_speed(speed)
    run_for(1.0)  # let the window settle and the first landscape start
    counter.count = 0
    steps0 = window.controller.history.total_steps
    window.controller.play()
    gaps = run_for(seconds)
    window.controller.pause()
    steps = window.controller.history.total_steps - steps0
    window.close()
    gaps.sort()
    return {"max_gap": gaps[-1], "p99_gap": gaps[int(0.99 * (len(gaps) - 1))],
            "fps": counter.count / seconds, "steps_per_s": steps / seconds}


def memory_growth(steps: int) -> dict:
    config = make_config({"task": {"family": "softplus"}, "inner_steps": 1})
    window = MainWindow(config)
    window.show()
    controller = window.controller
    controller.set_speed(FULL_SPEED)
    controller.play()
    warmup = min(2000, steps // 10)
    run_for(60, until=lambda: controller.history.total_steps >= warmup)
    before = rss_mb()
    started = time.perf_counter()
    run_for(3600, until=lambda: controller.history.total_steps >= steps)
    elapsed = time.perf_counter() - started
    after = rss_mb()
    history_mb = controller.history.nbytes() / 2**20
    total = controller.history.total_steps
    controller.pause()
    window.close()
    return {"steps": total - warmup, "growth": after - before, "history_mb": history_mb,
            "seconds": elapsed}


STARTUP_SCRIPT = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import os, sys
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


def startup_time(repeats: int = 3) -> dict:
    inside, outside = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True,
                                text=True, timeout=120)
        outside.append(time.perf_counter() - started)
        inside.append(float(result.stdout.strip().splitlines()[-1]))
    return {"to_paint": sorted(inside)[len(inside) // 2],
            "process": sorted(outside)[len(outside) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--memory-steps", type=int, default=50_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 (needed alive)
    full = responsiveness(args.seconds, FULL_SPEED)
    animated = responsiveness(args.seconds, 30.0)
    toy = responsiveness(args.seconds, FULL_SPEED, SOFTPLUS)
    memory = memory_growth(args.memory_steps)
    startup = startup_time()
    print(f"torch {torch.__version__}, 1 torch thread, Qt platform {os.environ['QT_QPA_PLATFORM']}")
    print(f"{'measurement':<58}{'value':>12}{'target':>12}")
    rows = [
        ("max GUI timer gap, MLP full speed, 25 paths (ms)", full["max_gap"], "≤ 50"),
        ("  99th percentile gap (ms)", full["p99_gap"], ""),
        ("  frames painted per second", full["fps"], "≥ 30"),
        ("  meta-steps per second", full["steps_per_s"], ""),
        ("max GUI timer gap, MLP animated at 30 frames/s (ms)", animated["max_gap"], "≤ 50"),
        ("  frames painted per second", animated["fps"], "≥ 30"),
        ("max GUI timer gap, softplus (2 tasks) full speed (ms)", toy["max_gap"], "≤ 50"),
        ("  frames painted per second", toy["fps"], "≥ 30"),
        ("  meta-steps per second", toy["steps_per_s"], ""),
        (f"memory growth over {memory['steps']:,} meta-steps, softplus (MB)", memory["growth"],
         "< 20"),
        ("  history arrays held (MB)", memory["history_mb"], ""),
        ("  meta-steps per second", memory["steps"] / memory["seconds"], ""),
        ("launch to painted window, inside the process (s)", startup["to_paint"], "≤ 3"),
        ("launch to painted window, whole process (s)", startup["process"], ""),
    ]
    for name, value, target in rows:
        print(f"{name:<58}{value:>12.1f}{target:>12}")


if __name__ == "__main__":  # training processes import the main module: never run it there
    main()
