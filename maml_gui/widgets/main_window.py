"""The main window: parameter panel (left), landscape canvas (centre), toolbar, status bar."""

from __future__ import annotations

import json
import math

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QDockWidget, QFrame, QHBoxLayout, QLabel, QMainWindow, QPushButton, QScrollArea,
    QSlider, QTabWidget, QToolBar, QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms.imaml import curvature_warning
from maml_gui.core.config import Config, ConfigError, config_json, make_config
from maml_gui.core.device import resolve_device
from maml_gui.core.landscape import LandscapeError
from maml_gui.core.safe_read import parse_json
from maml_gui.core.tasks import get_family
from maml_gui.runtime.run_controller import FULL_SPEED, SPEEDS, RunController, Snapshot
from maml_gui.widgets.comparison_view import ComparisonView
from maml_gui.widgets.export_actions import ExportActions
from maml_gui.widgets.function_view import FunctionView
from maml_gui.widgets.landscape_canvas import LandscapeCanvas
from maml_gui.widgets.method_view import MethodView
from maml_gui.runtime.session_file import Session
from maml_gui.widgets.parameter_panel import ParameterPanel
from maml_gui.widgets.session_actions import SessionActions
from maml_gui.widgets.trace_view import TraceView

DEFAULT_SPEED_INDEX = SPEEDS.index(4.0)


class Banner(QFrame):
    """A message across the top of the canvas (divergence, errors) with an action button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton("Reset")
        self.close_button = QPushButton("✕")
        self.close_button.setFixedWidth(28)
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str, *, error: bool) -> None:
        colour = "#7A1F1F" if error else "#6B5A12"
        self.setStyleSheet(f"#banner {{ background: {colour}; border-radius: 4px; }}"
                           "#banner QLabel { color: white; }")
        self.label.setText(text)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()


class MainWindow(QMainWindow):
    """maml-gui's window. Owns the run controller and every view."""

    def __init__(self, config: Config, *, settings: QSettings | None = None,
                 theta0: np.ndarray | None = None):
        super().__init__()
        self.settings = settings
        self.setWindowTitle("maml-gui")
        self.controller = RunController(config, self, theta0=theta0)
        self.canvas = LandscapeCanvas(config)
        self.panel = ParameterPanel(config)
        self.banner = Banner()
        self._curvature_warned = False  # once per run (or per live change): it is a banner
        single = QWidget()
        column = QVBoxLayout(single)
        column.setContentsMargins(4, 4, 4, 0)
        column.addWidget(self.banner)
        column.addWidget(self.canvas, 1)
        self.comparison = ComparisonView(config)
        self.tabs = QTabWidget()
        self.tabs.addTab(single, "Landscape")
        self.tabs.addTab(self.comparison, "Compare algorithms")
        self.tabs.setTabToolTip(1, "2–6 algorithms or settings in lockstep: same θ₀, same tasks")
        self.setCentralWidget(self.tabs)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        scroll.setMinimumWidth(330)
        self.panel_dock = QDockWidget("Parameters", self)
        self.panel_dock.setObjectName("parameters")
        self.panel_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.panel_dock)

        self.trace = TraceView(config)
        self.trace.setMinimumWidth(420)
        self.trace_dock = QDockWidget("Algorithm trace", self)
        self.trace_dock.setObjectName("trace")
        self.trace_dock.setWidget(self.trace)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.trace_dock)

        self.function_view = FunctionView(config)
        self.function_dock = QDockWidget("Function view", self)
        self.function_dock.setObjectName("function")
        self.function_dock.setWidget(self.function_view)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.function_dock)
        self.tabifyDockWidget(self.trace_dock, self.function_dock)
        self.method_view = MethodView(config)
        self.method_dock = QDockWidget("Method", self)
        self.method_dock.setObjectName("method")
        self.method_dock.setWidget(self.method_view)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.method_dock)
        self.tabifyDockWidget(self.trace_dock, self.method_dock)
        self.trace_dock.raise_()

        self._build_toolbar()
        self._build_status_bar()
        self.sessions = SessionActions(self, settings)
        self.exports = ExportActions(self)
        self._connect()
        self.resize(1400, 900)
        self._restore_settings()
        self._on_run_restarted(self.controller.config)
        self._on_snapshot(self.controller.snapshot())

    # --- construction -----------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("Playback", self)
        bar.setObjectName("playback")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.play_action = QAction("▶ Run", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setToolTip("Run / pause meta-training (Space)")
        self.step_inner_action = QAction("Step inner →", self)
        self.step_inner_action.setShortcut(QKeySequence(Qt.Key.Key_Right))
        self.step_inner_action.setToolTip("Show the next inner step (→)")
        self.step_meta_action = QAction("Step meta ⇥", self)
        self.step_meta_action.setShortcut(QKeySequence("Shift+Right"))
        self.step_meta_action.setToolTip("One whole meta-step (Shift+→)")
        self.reset_action = QAction("↺ Reset", self)
        self.reset_action.setShortcut(QKeySequence(Qt.Key.Key_R))
        self.reset_action.setToolTip("Start again from θ₀ (R)")
        for action in (self.play_action, self.step_inner_action, self.step_meta_action,
                       self.reset_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Speed "))
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setValue(DEFAULT_SPEED_INDEX)
        self.speed_slider.setFixedWidth(170)
        self.speed_slider.setToolTip("Animation frames per second; the last notch trains at "
                                     "full speed and shows only the trail and the latest paths")
        bar.addWidget(self.speed_slider)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(110)
        bar.addWidget(self.speed_label)
        bar.addSeparator()
        bar.addWidget(QLabel(" Tasks "))
        self.order_box = QComboBox()
        for label, order in (("auto", "auto"), ("together", "together"),
                             ("one by one", "one_by_one")):
            self.order_box.addItem(label, order)
        self.order_box.setToolTip("How the animation steps through the tasks: all together, one "
                                  "after another, or auto (one by one for up to four tasks)")
        bar.addWidget(self.order_box)
        self._on_speed_moved(self.speed_slider.value())

    def _build_status_bar(self) -> None:
        self.step_label = QLabel()
        self.loss_label = QLabel()
        self.rate_label = QLabel()
        self.device_label = QLabel()
        # widths for the longest texts they show: a status-bar label keeps its first width
        for label, sample in ((self.step_label, "step 1,000,000"),
                              (self.loss_label, "meta-loss 0.000000 → 0.000000 adapted"),
                              (self.rate_label, "10,000.0 steps/s"),
                              (self.device_label, "device: cuda:0")):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(sample) + 8)
            self.statusBar().addPermanentWidget(label)
        self.loss_label.setToolTip("Mean query loss over the meta-batch at θ (before adaptation) "
                                   "and after the inner loop (after adaptation)")

    def _connect(self) -> None:
        c = self.controller
        c.snapshot_published.connect(self._on_snapshot)
        c.config_applied.connect(self._on_config_applied)
        c.run_restarted.connect(self._on_run_restarted)
        c.playing_changed.connect(self._on_playing_changed)
        c.diverged.connect(self._on_diverged)
        c.failed.connect(self._on_failed)
        self.panel.changes_requested.connect(self._on_changes_requested)
        self.panel.resample_requested.connect(self._on_resample_requested)
        self.canvas.theta_dragged.connect(self._on_theta_dragged)
        self.canvas.optimum_dragged.connect(self._on_optimum_dragged)
        self.canvas.landscape_failed.connect(self._on_landscape_failed)
        self.canvas.task_selected.connect(self._on_task_selected)
        self.trace.task_selected.connect(self._on_task_selected)
        self.function_view.task_selected.connect(self._on_task_selected)
        self.play_action.triggered.connect(c.toggle_play)
        self.step_inner_action.triggered.connect(c.step_inner)
        self.step_meta_action.triggered.connect(c.step_meta)
        self.reset_action.triggered.connect(self._on_reset)
        self.banner.action_button.clicked.connect(self._on_reset)
        self.speed_slider.valueChanged.connect(self._on_speed_moved)
        self.order_box.currentIndexChanged.connect(
            lambda _i: self.controller.set_order(self.order_box.currentData()))
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.function_dock.visibilityChanged.connect(self._on_function_dock_shown)
        self.method_dock.visibilityChanged.connect(self._on_method_dock_shown)

    # --- controller → views -----------------------------------------------------------
    @Slot(object)
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.canvas.show_snapshot(snapshot)
        self.trace.show_snapshot(snapshot)
        if not self.function_view.visibleRegion().isEmpty():  # refits cost ms: only if seen
            self.function_view.show_snapshot(snapshot)
        if not self.method_view.visibleRegion().isEmpty():
            self.method_view.show_snapshot(snapshot)
        record = snapshot.record
        if record is None:
            self.step_label.setText("step 0")
            self.loss_label.setText("meta-loss: —")
        else:
            self.step_label.setText(f"step {record.step + 1}")
            self.loss_label.setText(f"meta-loss {record.meta_loss_before:.4g} → "
                                    f"{record.meta_loss_after:.4g} adapted")
        if record is not None and not self._curvature_warned:
            warning = curvature_warning(record.diagnostics, record.hyper)
            if warning:
                self._curvature_warned = True
                self.banner.show_message(f"<b>Step {record.step + 1}:</b> {warning}. The trace "
                                         "view's CG residuals tab shows the solve.", error=False)
        rate = snapshot.steps_per_second
        self.rate_label.setText(f"{rate:,.1f} steps/s" if snapshot.playing and rate else "paused"
                                if not snapshot.playing else "")

    @Slot(object)
    def _on_config_applied(self, config: Config) -> None:
        self._curvature_warned = False
        self.panel.set_config(config)
        self.canvas.set_config(config)
        self.trace.set_config(config)
        self.function_view.set_config(config)
        self.method_view.set_config(config)

    @Slot(object)
    def _on_run_restarted(self, config: Config) -> None:
        self.panel.set_config(config)
        self.canvas.set_config(config, restarted=True)
        self.trace.set_config(config)
        self.function_view.set_config(config, restarted=True)
        self.method_view.set_config(config)
        self.banner.hide()
        self._curvature_warned = False
        self.canvas.set_interactive(not self.controller.playing)
        try:
            device = str(resolve_device(config.device))
        except Exception as exc:  # shown, not raised: the worker reports it properly too
            device = f"{config.device} (unavailable: {exc})"
        self.device_label.setText(f"device: {device}")

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        self.play_action.setText("⏸ Pause" if playing else "▶ Run")
        self.canvas.set_interactive(not playing)

    @Slot(object)
    def _on_diverged(self, record) -> None:
        self.banner.show_message(
            f"<b>The run diverged at step {record.step + 1}.</b> {record.reason}. "
            "Change the setting and press Reset (R) to start again.", error=False)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.show_error(f"<b>Training stopped with an error:</b> {message}")

    def show_error(self, text: str) -> None:
        """A readable message at the top of the window; nothing else changes."""
        self.tabs.setCurrentIndex(0)
        self.banner.show_message(text, error=True)

    # --- sessions -----------------------------------------------------------------------
    def collect_session(self) -> Session:
        """The current config and window state, for a session file."""
        (x0, x1), (y0, y1) = self.canvas.view.viewRange()
        view = {
            "surface": self.canvas.surface_name, "log_scale": self.canvas.log_box.isChecked(),
            "plane": self.canvas.plane_box.currentText(), "range": [x0, x1, y0, y1],
            "speed": "full" if math.isinf(SPEEDS[self.speed_slider.value()])
            else SPEEDS[self.speed_slider.value()],
            "order": self.order_box.currentData(),
            "tab": "compare" if self.tabs.currentWidget() is self.comparison else "landscape",
            "compare": [list(spec) for spec in self.comparison.variant_specs()],
            "compare_layout": self.comparison.layout_box.currentText(),
        }
        return Session(self.controller.config, view)

    def apply_session(self, session: Session) -> None:
        """Show a validated session (or preset): config first, then the window state."""
        view = session.view
        self.comparison.stop()
        self.controller.replace_config(session.config)
        if "speed" in view:
            speed = FULL_SPEED if view["speed"] == "full" else float(view["speed"])
            finite = [i for i, s in enumerate(SPEEDS) if not math.isinf(s)]
            index = len(SPEEDS) - 1 if math.isinf(speed) else min(
                finite, key=lambda i: abs(math.log(SPEEDS[i] / speed)))
            self.speed_slider.setValue(index)
        if "order" in view:
            self.order_box.setCurrentIndex(max(0, self.order_box.findData(view["order"])))
        if "plane" in view:
            self.canvas.plane_box.setCurrentText(view["plane"])
        if view.get("surface"):
            try:
                self.canvas.set_surface(view["surface"])
            except LandscapeError as exc:
                self.statusBar().showMessage(f"Surface not available here: {exc}", 6000)
        if "log_scale" in view:
            self.canvas.set_log_scale(bool(view["log_scale"]))
        if view.get("range"):
            x0, x1, y0, y1 = view["range"]
            self.canvas.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        if view.get("compare"):
            self.comparison.set_variants([tuple(spec) for spec in view["compare"]])
        if view.get("compare_layout"):
            self.comparison.layout_box.setCurrentText(view["compare_layout"])
        self.tabs.setCurrentIndex(1 if view.get("tab") == "compare" else 0)
        if view.get("tab") == "compare":
            self.comparison.set_base_config(session.config)
            self.comparison.start()

    # --- views → controller -----------------------------------------------------------
    @Slot(dict)
    def _on_changes_requested(self, changes: dict) -> None:
        family = changes.get("task.family")
        if family is not None and family != self.controller.config.family:
            suggested = get_family(family).suggested
            changes = {**suggested, **changes}
            if suggested:
                self.statusBar().showMessage(
                    "Settings that suit this task family: " +
                    ", ".join(f"{k} = {v}" for k, v in suggested.items()), 6000)
        try:
            restarted = self.controller.apply_changes(changes)
        except ConfigError as exc:
            self.panel.set_config(self.controller.config)
            self.statusBar().showMessage(f"Not applied: {exc}", 8000)
            return
        if restarted and not self.statusBar().currentMessage():
            names = ", ".join(sorted(changes))
            self.statusBar().showMessage(f"Run restarted: {names} changed", 5000)

    @Slot()
    def _on_resample_requested(self) -> None:
        self._on_changes_requested({"seed": (self.controller.config.seed + 1) % (2**31 - 1)})

    @Slot(object)
    def _on_theta_dragged(self, theta: np.ndarray) -> None:
        if self.controller.playing:
            return
        self.controller.set_theta0(theta)
        self.statusBar().showMessage("New initialisation θ₀ = (" +
                                     ", ".join(f"{v:.3g}" for v in theta) + ")", 4000)

    @Slot(int, object)
    def _on_optimum_dragged(self, task: int, point) -> None:
        if self.controller.playing:
            return
        try:
            self.controller.move_optimum(task, point)
        except ConfigError as exc:
            self.statusBar().showMessage(f"Not applied: {exc}", 8000)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        """The comparison starts from the single run's current problem; pause the single run
        meanwhile, so the two do not compete for the CPU."""
        if self.tabs.widget(index) is self.comparison:
            self.controller.pause()
            self.comparison.set_base_config(self.controller.config)

    @Slot(bool)
    def _on_function_dock_shown(self, visible: bool) -> None:
        if visible:
            self.function_view.show_snapshot(self.controller.snapshot())

    @Slot(bool)
    def _on_method_dock_shown(self, visible: bool) -> None:
        if visible:
            self.method_view.show_snapshot(self.controller.snapshot())

    @Slot(object)
    def _on_task_selected(self, index: int | None) -> None:
        """A task picked on the canvas or in the trace table: highlight it in both."""
        self.canvas.highlight_task(index)
        self.trace.highlight_task(index)
        self.function_view.select_task(index)

    @Slot(str)
    def _on_landscape_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Landscape: {message}", 8000)

    @Slot()
    def _on_reset(self) -> None:
        self.banner.hide()
        self.controller.reset()

    @Slot(int)
    def _on_speed_moved(self, index: int) -> None:
        speed = SPEEDS[index]
        self.speed_label.setText("full speed" if math.isinf(speed) else f"{speed:g} frames/s")
        self.controller.set_speed(speed)

    # --- settings and closing ---------------------------------------------------------
    def _restore_settings(self) -> None:
        if self.settings is None:
            return
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        speed = self.settings.value("playback/speed_index")
        if speed is not None:
            try:
                self.speed_slider.setValue(int(speed))
            except (TypeError, ValueError):
                pass

    def save_settings(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("playback/speed_index", self.speed_slider.value())
        self.settings.setValue("session/config", json.dumps(config_json(self.controller.config)))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.controller.shutdown()
        self.canvas.shutdown()
        self.comparison.stop()
        self.function_view.shutdown()
        super().closeEvent(event)


def last_session_config(settings: QSettings) -> Config | None:
    """The config of the previous session, or None if there is none or it no longer validates."""
    text = settings.value("session/config")
    if not text:
        return None
    try:
        data = parse_json(str(text), "the last session")  # InputFileError is a ValueError
        data.pop("schema_version", None)
        return make_config(data)
    except (ValueError, ConfigError, AttributeError):  # e.g. a list, not an object
        return None
