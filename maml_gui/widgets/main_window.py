"""The main window: parameter panel (left), landscape canvas (centre), toolbar, status bar."""

from __future__ import annotations

import json
import math

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox, QApplication, QComboBox, QDockWidget, QFrame, QHBoxLayout, QLabel,
    QLineEdit, QMainWindow, QMessageBox, QPushButton, QScrollArea, QSlider, QStyle, QTabWidget,
    QToolBar, QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms.imaml import curvature_warning
from maml_gui.core.config import Config, ConfigError, config_json, make_config
from maml_gui.core.device import resolve_device
from maml_gui.core.landscape import LandscapeError
from maml_gui.core.safe_read import parse_json
from maml_gui.core.tasks import get_family
from maml_gui.runtime.run_controller import FULL_SPEED, SPEEDS, RunController, Snapshot
from maml_gui.runtime.throttle import Throttle
from maml_gui.widgets.comparison_view import ComparisonView
from maml_gui.widgets.export_actions import ExportActions
from maml_gui.widgets.function_view import FunctionView
from maml_gui.widgets.intro_panel import WELCOME_TEXT, WELCOME_TITLE, IntroPanel, play_icon
from maml_gui.widgets.landscape_canvas import LandscapeCanvas
from maml_gui.widgets.method_view import MethodView
from maml_gui.runtime.session_file import Session
from maml_gui.view import ComparisonState, PlaybackState, WindowState
from maml_gui.widgets.parameter_panel import ParameterPanel
from maml_gui.widgets.playback import frames_per_meta_step, preset_speed, speed_for
from maml_gui.widgets.session_actions import SessionActions
from maml_gui.widgets.trace_view import TraceView
from maml_gui.widgets.window_fit import available_geometry, fit_to, fits

DEFAULT_SPEED_INDEX = SPEEDS.index(4.0)
#: At full speed the canvas draws every snapshot (up to 40 a second); the trace table, the loss
#: curves, the function and method views and the status bar at most every this many ms.
SIDE_VIEWS_MS = 200.0
#: Keys of the window's shortcuts that a number field would swallow without using them.
_SHORTCUT_KEYS = (Qt.Key.Key_R, Qt.Key.Key_Space)


class Banner(QFrame):
    """A message across the top of the canvas (divergence, errors) with an action button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton("Reset")
        self.close_button = QPushButton()
        self.close_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_TitleBarCloseButton))  # a ✕ glyph is missing in some fonts
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
        self._build_toolbar()  # the intro panel shows the toolbar's Run action
        self.intro = IntroPanel(self.play_action)
        single = QWidget()
        column = QVBoxLayout(single)
        column.setContentsMargins(4, 4, 4, 0)
        column.addWidget(self.intro)
        column.addWidget(self.banner)
        column.addWidget(self.canvas, 1)
        self.computing = QLabel("Computing the landscape…", self.canvas)
        self.computing.setStyleSheet("background: rgba(0, 0, 0, 170); color: white; "
                                     "padding: 10px 16px; border-radius: 6px;")
        self.computing.hide()
        self.canvas.installEventFilter(self)  # keeps the label centred on the canvas
        self.canvas.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # takes the keys back from fields
        self.comparison = ComparisonView(config)
        # the comparison's controls are wide: scroll them rather than widen the window
        self.comparison_page = QScrollArea()
        self.comparison_page.setWidgetResizable(True)
        self.comparison_page.setFrameShape(QFrame.Shape.NoFrame)
        self.comparison_page.setWidget(self.comparison)
        self.tabs = QTabWidget()
        self.tabs.addTab(single, "Landscape")
        self.tabs.addTab(self.comparison_page, "Compare algorithms")
        self.tabs.setTabToolTip(1, "2–6 algorithms or settings in lockstep: same θ₀, same tasks")
        self.setCentralWidget(self.tabs)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        scroll.setMinimumWidth(290)
        self.panel_dock = QDockWidget("Parameters", self)
        self.panel_dock.setObjectName("parameters")
        self.panel_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.panel_dock)

        self.trace = TraceView(config)
        self.trace.setMinimumWidth(320)
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

        self._build_status_bar()
        self.sessions = SessionActions(self, settings)
        self.exports = ExportActions(self)
        self._build_view_menu()
        self._frames_per_step = frames_per_meta_step(config, self.order_box.currentData())
        self._cg_tab_wanted = False
        self._latest: Snapshot | None = None
        self._side_views = Throttle(self._refresh_side_views, self, min_ms=SIDE_VIEWS_MS,
                                    max_ms=4 * SIDE_VIEWS_MS)
        self._connect()
        fit_to(self, available_geometry(self))
        # first launch: the canvas gets the room, the trace what its text needs
        self.resizeDocks([self.panel_dock, self.trace_dock], [300, max(430, self.width() // 4)],
                         Qt.Orientation.Horizontal)
        restored_speed = self._restore_settings()
        if not fits(self, available_geometry(self)):  # saved on a bigger screen
            fit_to(self, available_geometry(self))
        if not restored_speed:
            self._choose_speed()
        QApplication.instance().installEventFilter(self)  # R and Space in number fields
        self._on_run_restarted(self.controller.config)
        self._on_snapshot(self.controller.snapshot())

    # --- construction -----------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("Playback", self)
        bar.setObjectName("playback")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icon = self.style().standardIcon
        self.play_action = QAction(play_icon(self, False), "Run", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setToolTip("Run / pause meta-training (Space)")
        self.step_inner_action = QAction(icon(QStyle.StandardPixmap.SP_MediaSeekForward),
                                         "Step inner", self)
        self.step_inner_action.setShortcut(QKeySequence(Qt.Key.Key_Right))
        self.step_inner_action.setToolTip("Show the next inner step (→)")
        self.step_meta_action = QAction(icon(QStyle.StandardPixmap.SP_MediaSkipForward),
                                        "Step meta", self)
        self.step_meta_action.setShortcut(QKeySequence("Shift+Right"))
        self.step_meta_action.setToolTip("One whole meta-step (Shift+→)")
        self.reset_action = QAction(icon(QStyle.StandardPixmap.SP_BrowserReload), "Reset", self)
        self.reset_action.setShortcut(QKeySequence(Qt.Key.Key_R))
        self.reset_action.setToolTip("Start again from θ₀ (R)")
        for action in (self.play_action, self.step_inner_action, self.step_meta_action,
                       self.reset_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            bar.addAction(action)
        bar.widgetForAction(self.play_action).setStyleSheet("font-weight: bold;")
        bar.addSeparator()
        bar.addWidget(QLabel(" Speed "))
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setValue(DEFAULT_SPEED_INDEX)
        self.speed_slider.setFixedWidth(150)
        self.speed_slider.setToolTip("Animation frames per second; the last notch trains at "
                                     "full speed and shows only the trail and the latest paths")
        bar.addWidget(self.speed_slider)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(90)
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

    def _build_view_menu(self) -> None:
        """Every panel can be hidden (collapsed) and brought back: room on small screens."""
        menu = self.menuBar().addMenu("&View")
        intro = QAction("Scenario description", self, checkable=True, checked=True)
        intro.toggled.connect(lambda on: self.intro.set_collapsed(not on))
        self.intro.collapsed_changed.connect(lambda folded: intro.setChecked(not folded))
        menu.addAction(intro)
        for dock in (self.panel_dock, self.trace_dock, self.function_dock, self.method_dock):
            menu.addAction(dock.toggleViewAction())
        self.view_menu = menu

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
        self.play_action.triggered.connect(self._on_play_triggered)
        self.step_inner_action.triggered.connect(self._on_step_inner_triggered)
        self.step_meta_action.triggered.connect(self._on_step_meta_triggered)
        self.reset_action.triggered.connect(self._on_reset)
        self.comparison.comparison_started.connect(self._on_comparison_started)
        self.canvas.worker.surface_ready.connect(self._update_computing)
        self.canvas.worker.failed.connect(self._update_computing)
        self.intro.collapsed_changed.connect(self._on_intro_collapsed)
        self.banner.action_button.clicked.connect(self._on_reset)
        self.speed_slider.valueChanged.connect(self._on_speed_moved)
        self.order_box.currentIndexChanged.connect(self._on_order_chosen)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.trace_dock.visibilityChanged.connect(self._on_trace_dock_shown)
        self.function_dock.visibilityChanged.connect(self._on_function_dock_shown)
        self.method_dock.visibilityChanged.connect(self._on_method_dock_shown)

    # --- controller → views -----------------------------------------------------------
    @Slot(object)
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self._latest = snapshot
        self.canvas.show_snapshot(snapshot)
        self._update_computing()
        if snapshot.playing and snapshot.full_speed:
            # the canvas gets every snapshot; tables, curves and the side views a few a
            # second (the latest one when they run): together they cost more than the canvas
            self._side_views.request()
        else:  # animating, stepping or paused: every frame at once, the final one included
            self._side_views.run()

    @Slot()
    def _refresh_side_views(self) -> None:
        """The trace (table, loss curves), function and method views and the status bar, for
        the latest snapshot; a view nobody can see waits until it is shown."""
        snapshot = self._latest
        if _seen(self.trace):
            self.trace.show_snapshot(snapshot)
        if not self.function_view.visibleRegion().isEmpty():  # refits cost ms: only if seen
            self.function_view.show_snapshot(snapshot)
        if not self.method_view.visibleRegion().isEmpty():
            self.method_view.show_snapshot(snapshot)
        if self._cg_tab_wanted and self.trace.tabs.isTabVisible(1):
            self._cg_tab_wanted = False  # an iMAML scenario opens on its CG residuals
            self.trace.tabs.setCurrentIndex(1)
        if self.comparison_visible():
            return  # the status bar counts the comparison's steps meanwhile
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
        self._follow_frames_per_step()

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
        self._update_computing()
        self.intro.set_hint(get_family(config.family).movable_optima)
        try:
            device = str(resolve_device(config.device))
        except Exception as exc:  # shown, not raised: the worker reports it properly too
            device = f"{config.device} (unavailable: {exc})"
        self.device_label.setText(f"device: {device}")

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        if not self.comparison_visible():
            self._show_playing(playing)
        self.canvas.set_interactive(not playing)

    def _show_playing(self, playing: bool) -> None:
        self.play_action.setText("Pause" if playing else "Run")
        self.play_action.setIcon(play_icon(self, playing))

    # --- the landscape being computed ---------------------------------------------------
    @Slot()
    def _update_computing(self, *_args) -> None:
        """"Computing the landscape…" over the canvas until its first surface arrives."""
        waiting = self.canvas.shown_surface is None
        if waiting != self.computing.isVisible():
            self.computing.setVisible(waiting)
            self._place_computing()

    def _place_computing(self) -> None:
        self.computing.adjustSize()
        self.computing.move((self.canvas.width() - self.computing.width()) // 2,
                            (self.canvas.height() - self.computing.height()) // 2)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self._place_computing()
        elif event.type() == QEvent.Type.ShortcutOverride and self._number_field_key(event):
            # A spin box claims every printable key, then rejects "r" and " ": let Reset (R)
            # and Run (Space) work while the field just edited still has the focus.
            event.ignore()
            return True
        return False

    def _number_field_key(self, event: QEvent) -> bool:
        if not isinstance(event, QKeyEvent) or event.key() not in _SHORTCUT_KEYS or \
                event.modifiers() not in (Qt.KeyboardModifier.NoModifier,
                                          Qt.KeyboardModifier.KeypadModifier):
            return False
        focus = QApplication.focusWidget()
        while focus is not None and not isinstance(focus, QAbstractSpinBox):
            focus = focus.parentWidget()
        return focus is not None and focus.window() is self

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
        speed = SPEEDS[self.speed_slider.value()]
        view = WindowState(
            tab="compare" if self.comparison_visible() else "landscape",
            landscape=self.canvas.state,
            playback=PlaybackState(speed="full" if math.isinf(speed) else speed,
                                  order=self.order_box.currentData()),
            comparison=ComparisonState(
                variants=[list(spec) for spec in self.comparison.variant_specs()],
                layout=self.comparison.layout_box.currentText(),
                target=self.comparison.target()),
            function=self.function_view.state)
        return Session(self.controller.config, view)

    def apply_session(self, session: Session) -> None:
        """Show a validated session (or preset): config first, then the window state."""
        view, landscape, playback = session.view, session.view.landscape, session.view.playback
        self.comparison.stop()
        self.intro.set_text(WELCOME_TITLE, WELCOME_TEXT)  # a preset shows its own text after
        self.controller.replace_config(session.config)
        speed = FULL_SPEED if playback.speed == "full" else float(playback.speed)
        speed = preset_speed(speed, frames_per_meta_step(session.config, playback.order))
        finite = [i for i, s in enumerate(SPEEDS) if not math.isinf(s)]
        index = len(SPEEDS) - 1 if math.isinf(speed) else min(
            finite, key=lambda i: abs(math.log(SPEEDS[i] / speed)))
        self.speed_slider.setValue(index)
        self.order_box.setCurrentIndex(max(0, self.order_box.findData(playback.order)))
        try:
            self.canvas.apply_state(landscape)
        except LandscapeError as exc:
            self.statusBar().showMessage(f"Surface not available here: {exc}", 6000)
        if view.comparison.variants:
            self.comparison.set_variants([tuple(spec) for spec in view.comparison.variants])
        self.comparison.layout_box.setCurrentText(view.comparison.layout)
        self.comparison.set_target(view.comparison.target)
        self.function_view.apply_state(view.function)  # a task out of range is ignored
        self.tabs.setCurrentIndex(1 if view.tab == "compare" else 0)
        if view.tab == "compare":
            self.comparison.set_base_config(session.config)
            self.comparison.start()
        self._show_own_dock(session.config)

    def show_intro(self, title: str, description: str) -> None:
        """The scenario's title and description above the canvas (presets, ``--preset``)."""
        self.intro.set_text(title, description)
        self.intro.set_collapsed(False)

    def _show_own_dock(self, config: Config) -> None:
        """The dock that has something to show for this problem: the function view for
        families with data, else the algorithm trace (on its CG residuals for iMAML)."""
        if get_family(config.family).has_data:
            self.function_dock.raise_()
        else:
            self.trace_dock.raise_()
        self._cg_tab_wanted = config.algorithm == "imaml"
        if not self._cg_tab_wanted:
            self.trace.tabs.setCurrentIndex(0)

    def comparison_visible(self) -> bool:
        return self.tabs.currentWidget() is self.comparison_page

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
        self._return_focus()

    def _return_focus(self) -> None:
        """After Enter in a text field or a choice in a list, the canvas takes the keys again,
        so R and Space reach Reset and Run (a field would type them, a list jump to "reptile").
        Spin boxes keep the focus for their arrow keys; R and Space pass them anyway."""
        focused = QApplication.focusWidget()
        if focused is None or not self.panel.isAncestorOf(focused):
            return
        in_spin_box = isinstance(focused.parentWidget(), QAbstractSpinBox)
        if isinstance(focused, QComboBox) or (isinstance(focused, QLineEdit) and not in_spin_box):
            self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    @Slot()
    def _on_resample_requested(self) -> None:
        self._on_changes_requested({"seed": (self.controller.config.seed + 1) % (2**31 - 1)})

    @Slot(object)
    def _on_theta_dragged(self, theta: np.ndarray) -> None:
        if self.controller.playing:
            return
        theta = self._rounded_to_view(np.asarray(theta, dtype=np.float64))
        self.controller.set_theta0(theta)
        self.statusBar().showMessage("New initialisation θ₀ = (" +
                                     ", ".join(f"{v:.3g}" for v in theta) + ")", 4000)

    def _rounded_to_view(self, theta: np.ndarray) -> np.ndarray:
        """A dragged point to the precision a pixel has (0.1 % of the view), not 16 digits.
        Points of a projection plane (the MLP) are kept exact."""
        if theta.size > 64 or self.canvas.plane is not None:
            return theta
        (x0, x1), (y0, y1) = self.canvas.view.viewRange()
        span = max(x1 - x0, y1 - y0)
        if not (span > 0 and math.isfinite(span)):
            return theta
        decimals = max(0, int(math.ceil(-math.log10(span / 1000.0))))
        return np.round(theta, decimals)

    @Slot(int, object)
    def _on_optimum_dragged(self, task: int, point) -> None:
        if self.controller.playing:
            return
        point = tuple(self._rounded_to_view(np.asarray(point, dtype=np.float64)))
        try:
            self.controller.move_optimum(task, point)
        except ConfigError as exc:
            self.statusBar().showMessage(f"Not applied: {exc}", 8000)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        """The comparison starts from the single run's current problem; pause the single run
        meanwhile, so the two do not compete for the CPU. The toolbar drives the visible one."""
        if self.tabs.widget(index) is self.comparison_page:
            self.controller.pause()
            self.comparison.set_base_config(self.controller.config)
            comparison = self.comparison.controller
            self._show_playing(comparison is not None and comparison.playing)
            self._on_comparison_snapshot(None if comparison is None else comparison.snapshot())
        else:
            if self.comparison.controller is not None:
                self.comparison.controller.pause()
            self._show_playing(self.controller.playing)
            self._on_snapshot(self.controller.snapshot())

    # --- the toolbar drives what is visible ---------------------------------------------
    def _comparison_controller(self):
        """The comparison's controller, started from its rows if it was not yet."""
        if self.comparison.controller is None and not self.comparison.start():
            self.statusBar().showMessage(self.comparison.message.text(), 8000)
            return None
        return self.comparison.controller

    @Slot()
    def _on_play_triggered(self) -> None:
        if not self.comparison_visible():
            self.controller.toggle_play()
        elif (comparison := self._comparison_controller()) is not None:
            comparison.toggle_play()

    @Slot()
    def _on_step_inner_triggered(self) -> None:
        if not self.comparison_visible():
            self.controller.step_inner()
        elif (comparison := self._comparison_controller()) is not None:
            comparison.step()  # the comparison animates whole meta-steps only

    @Slot()
    def _on_step_meta_triggered(self) -> None:
        if not self.comparison_visible():
            self.controller.step_meta()
        elif (comparison := self._comparison_controller()) is not None:
            comparison.step()

    @Slot(int)
    def _on_comparison_started(self, _count: int) -> None:
        comparison = self.comparison.controller
        comparison.playing_changed.connect(self._on_comparison_playing_changed)
        comparison.snapshot_published.connect(self._on_comparison_snapshot)
        self._on_comparison_snapshot(comparison.snapshot())

    @Slot(bool)
    def _on_comparison_playing_changed(self, playing: bool) -> None:
        if self.comparison_visible():
            self._show_playing(playing)

    @Slot(object)
    def _on_comparison_snapshot(self, snapshot) -> None:
        if not self.comparison_visible():
            return
        if snapshot is None:
            self.step_label.setText("not started")
            self.loss_label.setText("press Run (Space) to start the comparison")
            self.rate_label.setText("")
            return
        self.step_label.setText(f"step {snapshot.steps}")
        self.loss_label.setText(f"comparing {len(snapshot.variants)} variants")
        self.rate_label.setText("" if snapshot.playing else "paused")

    @Slot(bool)
    def _on_trace_dock_shown(self, visible: bool) -> None:
        if visible:
            self.trace.show_snapshot(self.controller.snapshot())

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
        if self.comparison_visible():
            if self.comparison.controller is not None:
                self.comparison.controller.reset()
            return
        self.banner.hide()
        self.controller.reset()

    @Slot(int)
    def _on_speed_moved(self, index: int) -> None:
        speed = SPEEDS[index]
        self.speed_label.setText("full speed" if math.isinf(speed) else f"{speed:g} frames/s")
        self.controller.set_speed(speed)

    @Slot(int)
    def _on_order_chosen(self, _index: int) -> None:
        self.controller.set_order(self.order_box.currentData())
        self._follow_frames_per_step()

    def _follow_frames_per_step(self) -> None:
        """More frames per meta-step (inner steps, tasks, CG, order): a speed that keeps a
        meta-step about a second. The slider stays the user's until the work changes."""
        frames = frames_per_meta_step(self.controller.config, self.order_box.currentData())
        if frames != self._frames_per_step:
            self._frames_per_step = frames
            self._choose_speed()

    def _choose_speed(self) -> None:
        if math.isinf(SPEEDS[self.speed_slider.value()]):
            return  # full speed shows no animation: nothing to wait for
        self._frames_per_step = frames_per_meta_step(self.controller.config,
                                                     self.order_box.currentData())
        self.speed_slider.setValue(SPEEDS.index(speed_for(self._frames_per_step)))

    @Slot(bool)
    def _on_intro_collapsed(self, collapsed: bool) -> None:
        if self.settings is not None:
            self.settings.setValue("window/intro_collapsed", collapsed)

    # --- settings and closing ---------------------------------------------------------
    def _restore_settings(self) -> bool:
        """The previous session's geometry, docks and speed; True if a speed was restored."""
        if self.settings is None:
            return False
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        if str(self.settings.value("window/intro_collapsed", "false")).lower() == "true":
            self.intro.set_collapsed(True)
        speed = self.settings.value("playback/speed_index")
        if speed is not None:
            try:
                self.speed_slider.setValue(int(speed))
                return True
            except (TypeError, ValueError):
                pass
        return False

    def save_settings(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("playback/speed_index", self.speed_slider.value())
        self.settings.setValue("session/config", json.dumps(config_json(self.controller.config)))
        self.settings.sync()

    def confirm_close(self) -> bool:
        """Save / Discard / Cancel when the session has unsaved changes; True to close."""
        if not self.isWindowModified():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"The session “{self.sessions.name}” has changes that were not saved.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.sessions.save()
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_close():
            event.ignore()
            return
        QApplication.instance().removeEventFilter(self)
        self.save_settings()
        self.controller.shutdown()
        self._side_views.stop()
        self.canvas.shutdown()
        self.comparison.shutdown()
        self.function_view.shutdown()
        super().closeEvent(event)


def _seen(widget: QWidget) -> bool:
    """On screen (not in a hidden dock or tab), or in a window never shown (scripts, tests)."""
    return not widget.window().isVisible() or not widget.visibleRegion().isEmpty()


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
