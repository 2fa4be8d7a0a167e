"""The window's Export menu: figures of every view, animations, trajectory data, grids.

Each action asks for options and a file name, then calls a method that does the work and
reports problems in the window (the methods are also what tests call). Figures are drawn in
the publication theme from the window's current state; animations and whole-run data are
recomputed exactly from the run's start config and its log of live changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
    QSpinBox,
)

from maml_gui.core.landscape import LandscapeError
from maml_gui.core.tasks import make_family
from maml_gui.export import ExportError
from maml_gui.widgets.folders import last_folder, remember_folder

if TYPE_CHECKING:
    from maml_gui.widgets.main_window import MainWindow

FIGURE_VIEWS = ("landscape", "trace", "function", "comparison")
IMAGE_FILTER = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"
ANIMATION_FILTER = "GIF animation (*.gif);;MP4 video (*.mp4)"
DATA_FILTER = "CSV table (*.csv);;JSON trace (*.json);;NumPy arrays (*.npz)"
GRID_FILTER = "NumPy arrays (*.npz);;CSV table (*.csv)"


class FigureOptions(QDialog):
    """Which view, size, scale and background."""

    def __init__(self, parent, views: list[str], current: str):
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        self.view = QComboBox()
        self.view.addItems(views)
        self.view.setCurrentText(current)
        self.width_box = _spin(200, 8192, 900)
        self.height_box = _spin(200, 8192, 700)
        self.scale = QComboBox()
        for scale in ("1", "2", "3", "4"):
            self.scale.addItem(f"{scale}×", float(scale))
        self.scale.setCurrentIndex(1)
        self.transparent = QCheckBox("transparent background (PNG, SVG)")
        form = QFormLayout(self)
        form.addRow("view", self.view)
        form.addRow("width (px)", self.width_box)
        form.addRow("height (px)", self.height_box)
        form.addRow("scale (PNG)", self.scale)
        form.addRow(self.transparent)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class AnimationOptions(QDialog):
    """Which meta-steps, frame rate and frame size."""

    def __init__(self, parent, steps: int):
        super().__init__(parent)
        self.setWindowTitle("Export animation")
        self.first = _spin(1, max(steps, 1), max(1, steps - 4))
        self.last = _spin(1, max(steps, 1), max(steps, 1))
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 60.0)
        self.fps.setValue(8.0)
        self.width_box = _spin(160, 4096, 640)
        self.height_box = _spin(120, 4096, 500)
        form = QFormLayout(self)
        form.addRow("first meta-step", self.first)
        form.addRow("last meta-step", self.last)
        form.addRow("frames per second", self.fps)
        form.addRow("width (px)", self.width_box)
        form.addRow("height (px)", self.height_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


class ExportActions(QObject):
    """Builds the Export menu and performs the exports for the window."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        menu = window.menuBar().addMenu("&Export")
        self.figure_action = menu.addAction("&Figure…")
        self.figure_action.setShortcut(QKeySequence("Ctrl+E"))
        self.figure_action.triggered.connect(self._on_figure)
        self.animation_action = menu.addAction("&Animation (GIF, MP4)…")
        self.animation_action.triggered.connect(self._on_animation)
        self.data_action = menu.addAction("&Trajectory data (CSV, JSON, NPZ)…")
        self.data_action.triggered.connect(self._on_data)
        self.grid_action = menu.addAction("Landscape &grid (NPZ, CSV)…")
        self.grid_action.triggered.connect(self._on_grid)
        self.menu = menu

    # --- the work (called by the menu actions and by tests) ----------------------------
    def export_figure(self, path: str | Path, view: str = "landscape", *,
                      size: tuple[int, int] = (900, 700), scale: float = 2.0,
                      transparent: bool = False) -> bool:
        window = self.window
        config = window.controller.config
        snapshot = window.controller.snapshot()
        try:
            if view == "landscape":
                from maml_gui.export.figure import export_landscape_image

                state = window.canvas.state  # the figure is built from it, not from the canvas
                export_landscape_image(
                    path, config, snapshot=snapshot, surface=state.surface,
                    log_scale=state.log_scale, view_range=state.range, plane=state.plane,
                    size=size, scale=scale, transparent=transparent, state=state,
                    shown_plane=window.canvas.plane,  # the plane on screen, exactly
                    arrow_scale=window.canvas.drawing.arrow_scale)  # and its legend's ×s
            elif view == "trace":
                from maml_gui.export.views import export_trace_image

                export_trace_image(path, config, snapshot, size=size, scale=scale,
                                   transparent=transparent)
            elif view == "comparison":
                comparison = window.comparison
                if comparison.controller is None:
                    raise ExportError("start a comparison first (Compare algorithms tab)")
                from maml_gui.export.views import export_comparison_image

                export_comparison_image(path, config, comparison.controller.snapshot(),
                                        size=size, scale=scale, transparent=transparent,
                                        layout=comparison.layout_box.currentText(),
                                        target=comparison.target())
            elif view == "function":
                from maml_gui.export.views import export_function_image

                function = window.function_view  # the figure is built from its state
                export_function_image(path, config, snapshot, size=size, scale=scale,
                                      transparent=transparent, state=function.state,
                                      baseline_theta=function.model.baseline_theta)
            else:
                raise ExportError(f"unknown view {view!r}")
        except (ExportError, OSError) as exc:
            return self._failed("figure", path, exc)
        return self._done(path)

    def export_animation(self, path: str | Path, first: int, last: int, *, fps: float = 8.0,
                         size: tuple[int, int] = (640, 500)) -> bool:
        """Meta-steps ``first`` … ``last`` (counted from 1), with a cancellable progress dialog."""
        from maml_gui.export.animation import export_animation, run_with_progress_dialog

        window = self.window
        canvas = window.canvas
        try:
            records = window.controller.replay_records()
            if not records:
                raise ExportError("there are no meta-steps to animate yet")
            if not 1 <= first <= last <= len(records):
                raise ExportError(f"meta-steps {first} … {last}: choose within 1 … {len(records)}")
            state = canvas.state
            finished = run_with_progress_dialog(window, lambda progress: export_animation(
                path, window.controller.config, records, start=first - 1, end=last, size=size,
                fps=fps, order=window.order_box.currentData(), surface=state.surface,
                log_scale=state.log_scale, view_range=state.range, plane=state.plane,
                state=state, progress=progress))
        except (ExportError, OSError) as exc:
            return self._failed("animation", path, exc)
        if not finished:
            window.statusBar().showMessage("Animation export cancelled: nothing was written", 5000)
            return False
        return self._done(path)

    def export_trajectory(self, path: str | Path) -> bool:
        from maml_gui.export.data import write_trajectory

        controller = self.window.controller
        family = make_family(controller.config)
        try:
            records = controller.replay_records()
            write_trajectory(path, controller.config, records, meta={
                "param_dim": family.param_dim, "axis_names": list(family.axis_names or ()),
                "blocks": family.blocks(),
                "live_changes": [[step, changes] for step, changes in controller.change_log],
            })
        except (ExportError, OSError) as exc:
            return self._failed("trajectory", path, exc)
        return self._done(path)

    def export_grid(self, path: str | Path) -> bool:
        from maml_gui.export.data import write_grid

        canvas = self.window.canvas
        try:
            surface = canvas.full_surface()  # the full grid, even if only the coarse is shown
            if surface is None:
                raise ExportError("the landscape has not been computed yet")
            write_grid(path, self.window.controller.config, surface, plane=canvas.plane)
        except (ExportError, LandscapeError, OSError) as exc:
            return self._failed("grid", path, exc)
        return self._done(path)

    def _failed(self, what: str, path, exc: Exception) -> bool:
        reason = getattr(exc, "strerror", None) or str(exc)
        self.window.show_error(f"<b>Could not export the {what}</b> to {path}: {reason}. "
                               "Nothing was written.")
        return False

    def _done(self, path) -> bool:
        self.window.statusBar().showMessage(f"Exported {path}", 6000)
        return True

    # --- menu actions -------------------------------------------------------------------
    def _ask_path(self, title: str, filters: str, default: str) -> str:
        start = str(last_folder(self.window.settings) / default)
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, filters)
        remember_folder(self.window.settings, path)
        return path

    @Slot()
    def _on_figure(self) -> None:
        current = "comparison" if self.window.comparison_visible() else "landscape"
        options = FigureOptions(self.window, list(FIGURE_VIEWS), current)
        if options.exec() != QDialog.DialogCode.Accepted:
            return
        path = self._ask_path("Export figure", IMAGE_FILTER, f"{self.window.sessions.name}.png")
        if path:
            self.export_figure(path, options.view.currentText(),
                               size=(options.width_box.value(), options.height_box.value()),
                               scale=options.scale.currentData(),
                               transparent=options.transparent.isChecked())

    @Slot()
    def _on_animation(self) -> None:
        steps = self.window.controller.history.total_steps
        options = AnimationOptions(self.window, steps)
        if options.exec() != QDialog.DialogCode.Accepted:
            return
        path = self._ask_path("Export animation", ANIMATION_FILTER,
                              f"{self.window.sessions.name}.gif")
        if path:
            self.export_animation(path, options.first.value(), options.last.value(),
                                  fps=options.fps.value(),
                                  size=(options.width_box.value(), options.height_box.value()))

    @Slot()
    def _on_data(self) -> None:
        path = self._ask_path("Export trajectory", DATA_FILTER, f"{self.window.sessions.name}.csv")
        if path:
            self.export_trajectory(path)

    @Slot()
    def _on_grid(self) -> None:
        path = self._ask_path("Export landscape grid", GRID_FILTER,
                              f"{self.window.sessions.name}-grid.npz")
        if path:
            self.export_grid(path)
