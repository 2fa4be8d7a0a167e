"""Starting the window: config from the command line or the last session; screenshot mode."""

from __future__ import annotations

import argparse
import os
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SCREENSHOT_TIMEOUT_S = 120.0


def make_application():
    """The QApplication, created once, with one torch thread left to the GUI's core."""
    import torch
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(1)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("maml-gui")
        app.setOrganizationName("maml-gui")
    return app


def run_app(args: argparse.Namespace) -> int:
    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # screenshots need no display
    started = time.perf_counter()
    app = make_application()
    from PySide6.QtCore import QSettings

    from maml_gui.cli import load_config_from_args
    from maml_gui.widgets.main_window import MainWindow, last_session_config

    settings = None if args.screenshot else QSettings()
    explicit = args.config or args.preset or args.assignments or args.steps is not None
    config = None if explicit or settings is None else last_session_config(settings)
    if config is None:
        config = load_config_from_args(args)
    window = MainWindow(config, settings=settings)
    if args.screenshot:
        return _take_screenshot(app, window, args.screenshot, args.steps or config.steps)
    window.show()
    window.statusBar().showMessage(f"Ready in {time.perf_counter() - started:.1f} s", 4000)
    return app.exec()


def _take_screenshot(app, window, path: str, steps: int) -> int:
    """Run ``steps`` meta-steps, wait for the finished landscape, save the window, quit."""
    from PySide6.QtCore import QTimer

    from maml_gui.core.io import AtomicPath

    check = AtomicPath(path)  # refuse an unwritable path before training
    window.resize(1500, 950)
    window.show()
    controller = window.controller
    deadline = time.perf_counter() + SCREENSHOT_TIMEOUT_S
    result = {"code": EXIT_FAILED}
    for _ in range(steps):
        controller.step_meta()

    def poll() -> None:
        current = controller.current
        done = controller.history.total_steps >= steps or (current is not None and current.diverged)
        ready = done and window.canvas.landscape_complete()
        if not ready and time.perf_counter() < deadline:
            return
        timer.stop()
        if not ready:
            print("maml-gui: the landscape was not complete in time; saving what is shown",
                  file=sys.stderr)
        try:
            with check as temp:
                if not window.grab().save(str(temp), "PNG"):
                    raise OSError(f"Qt could not write a PNG to {temp}")
            print(f"wrote {path}", file=sys.stderr)
            result["code"] = EXIT_OK
        except OSError as exc:
            print(f"maml-gui: cannot write {path}: {exc}", file=sys.stderr)
            result["code"] = EXIT_USAGE
        window.close()
        app.quit()

    timer = QTimer(window)
    timer.timeout.connect(poll)
    timer.start(50)
    app.exec()
    return result["code"]
