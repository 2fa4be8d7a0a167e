"""Starting the window: config from the command line or the last session; screenshot mode."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from maml_gui.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

SCREENSHOT_TIMEOUT_S = 120.0
SCREENSHOT_SIZE = (1600, 1000)


def make_application():
    """The QApplication, created once, with one torch thread left to the GUI's core."""
    import torch
    from PySide6.QtWidgets import QApplication

    from maml_gui.core.device import probe_devices

    torch.set_num_threads(1)
    probe_devices()  # in the main thread, before any worker thread or event loop
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("maml-gui")
        app.setOrganizationName("maml-gui")
    return app


def settle_memory() -> None:
    """Collect once, then keep everything alive now (the imports, the window) out of the
    garbage collector's full passes. With torch, Qt and pyqtgraph loaded, a full pass took
    250 ms in the GUI thread: a frozen window every few seconds of a run. Objects made later
    are collected as before. Once per process, when the window is built (not in tests, whose
    windows come and go). The price: a cycle among these objects that later becomes garbage
    (e.g. the first run's canvas items, dropped on a restart) is not freed; it is bounded by
    what existed at this call."""
    gc.collect()
    gc.freeze()


class NoDisplayError(RuntimeError):
    """There is no screen to open the window on."""


def _check_display() -> None:
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("win32", "darwin"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise NoDisplayError(
            "no display found (DISPLAY is not set). Run it on a desktop, under Xvfb "
            "(xvfb-run maml-gui), or headless with --screenshot OUT.png, `maml-gui run` or "
            "`maml-gui export`")


def run_app(args: argparse.Namespace) -> int:
    """The window (or, with ``--screenshot``, one picture of it)."""
    if not args.screenshot:
        return _run_app(args)
    from maml_gui.signals import interrupt_on_signals

    with interrupt_on_signals():  # a screenshot run is a batch job: SIGTERM stops it cleanly
        return _run_app(args)


def _run_app(args: argparse.Namespace) -> int:
    from maml_gui.runtime.session_file import Session, read_session

    started = time.perf_counter()
    session = read_session(args.session) if args.session else None  # SessionError: exit 2
    if args.screenshot:
        from maml_gui.output_paths import check_output

        # before any window or worker exists; never over the session or config it shows
        check_output(args.screenshot, [("--session", args.session), ("--config", args.config)],
                     force=args.force, flag="--screenshot")
    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # screenshots need no display
    _check_display()
    app = make_application()
    from PySide6.QtCore import QSettings

    from maml_gui.cli_common import load_config_from_args
    from maml_gui.presets import load_preset
    from maml_gui.widgets.main_window import MainWindow, last_session_config

    settings = None if args.screenshot else QSettings()
    explicit = args.config or args.preset or args.assignments or args.steps is not None
    config = None if explicit or session or settings is None else last_session_config(settings)
    if config is None:
        config = session.config if session is not None else load_config_from_args(args)
    window = MainWindow(config, settings=settings)
    if session is not None:
        window.apply_session(session)
        window.sessions.path, window.sessions.name = Path(args.session), Path(args.session).stem
        window.sessions.set_modified(False)
    elif args.preset:
        preset = load_preset(args.preset)
        window.apply_session(Session(config, preset.view))  # config carries any --set changes
        window.show_intro(preset.title, preset.description)
        window.sessions.name = preset.name
        window.sessions.set_modified(False)
    settle_memory()
    if args.screenshot:
        return _take_screenshot(app, window, args.screenshot, args.steps or config.steps,
                                deadline=started + SCREENSHOT_TIMEOUT_S)
    window.show()
    window.statusBar().showMessage(f"Ready in {time.perf_counter() - started:.1f} s", 4000)
    return app.exec()


def _take_screenshot(app, window, path: str, steps: int, *, deadline: float) -> int:
    """Run ``steps`` meta-steps, wait for the finished landscape, save the window, quit.

    ``deadline`` (a ``time.perf_counter()`` value) bounds the whole run: what is shown then
    is saved. SIGTERM and SIGINT close the window without writing anything.
    """
    import signal

    from PySide6.QtCore import QTimer

    from maml_gui.core.io import AtomicPath
    from maml_gui.signals import exit_code

    check = AtomicPath(path)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    controller = window.controller
    result = {"code": EXIT_FAILED, "signal": None}
    controller.step_meta_many(steps)  # one request: the worker computes while the deadline runs

    def stop(signum, _frame) -> None:  # runs between two Python bytecodes of the GUI thread
        result["signal"] = signum
        timer.stop()
        window.close()
        app.quit()

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
        window.setWindowModified(False)  # a screenshot asks nobody about saving
        window.close()
        app.quit()

    timer = QTimer(window)
    timer.timeout.connect(poll)
    timer.start(50)  # also lets Python run the signal handlers while Qt's loop runs
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app.exec()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if result["signal"] is not None:
        print(f"maml-gui: {'terminated' if result['signal'] == signal.SIGTERM else 'interrupted'}"
              f"; {path} was not written", file=sys.stderr)
        return exit_code(result["signal"])
    return result["code"]
