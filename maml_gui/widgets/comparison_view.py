"""Comparison mode: 2–6 algorithms (or settings) on the same tasks from the same θ₀.

Overlay: one plot with the shared mean task loss behind every variant's trail and current
meta-gradient arrow. Small multiples: one panel per variant on its own meta-objective,
axes linked. Below, a metrics table updated live.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QPushButton, QSplitter, QStackedWidget, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms import algorithm_label
from maml_gui.core.comparison import (
    MAX_VARIANTS, MIN_VARIANTS, Variant, build_variants, metrics_for,
    parse_overrides,
)
from maml_gui.core.config import ALGORITHMS, Config, ConfigError
from maml_gui.core.contours import contour_levels, contour_segments
from maml_gui.core.landscape import (
    LandscapeError, LandscapeEvaluator, Plane, landscape_tasks, pca_plane,
)
from maml_gui.core.tasks import make_family
from maml_gui.core.training import initial_theta
from maml_gui.palette import LANDSCAPE_COLORMAP, SCREEN, Theme, algorithm_colour
from maml_gui.plots.items import ArrowSet, pen, place_legend
from maml_gui.runtime.comparison_controller import (
    STEP_RATES, ComparisonController, ComparisonSnapshot,
)
from maml_gui.runtime.landscape_worker import LandscapeRequest, make_landscape_worker
from maml_gui.runtime.throttle import Throttle
from maml_gui.view.projection import TrailCache, evenly_spaced

ARTICLE_FOUR = ("maml", "fomaml", "reptile", "imaml")  # the article's comparison figure
SURFACE_GRID = 144  # per panel; computed by a landscape worker when the variants start
ARROW_FRACTION = 0.15
TABLE_MS = 200.0  # the metrics table's shortest refresh interval while running
METRIC_COLUMNS = ("variant", "meta-loss after", "worst task", "cos to MAML", "ms / step",
                  "grad evals / step", "steps to target")


class VariantRow(QWidget):
    """Algorithm + settings of one variant."""

    def __init__(self, algorithm: str, overrides: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.algorithm = QComboBox()
        for name in ALGORITHMS:
            self.algorithm.addItem(algorithm_label(name), name)
        self.algorithm.setCurrentIndex(self.algorithm.findData(algorithm))
        self.settings = QLineEdit(overrides)
        self.settings.setPlaceholderText("same settings (or e.g. inner_lr=0.05, inner_steps=3)")
        self.settings.setToolTip("Settings this variant changes, as key=value pairs separated "
                                 "by commas: inner_lr, inner_steps, outer_lr, outer_optimizer, "
                                 "imaml_lambda, cg_steps, cg_damping, cg_tol, tr_lr")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.algorithm)
        layout.addWidget(self.settings, 1)

    def spec(self) -> tuple[str, dict]:
        return self.algorithm.currentData(), parse_overrides(self.settings.text())


class ComparisonView(QWidget):
    """Variant editor, overlay / small-multiple plots and the live metrics table."""

    comparison_started = Signal(int)
    """A comparison of this many variants started."""

    def __init__(self, config: Config, parent: QWidget | None = None, *, theme: Theme = SCREEN):
        super().__init__(parent)
        self.theme = theme
        self.surface_grid = SURFACE_GRID  # exports ask for more
        self._base = config
        self.controller: ComparisonController | None = None
        self._plane: Plane | None = None
        self._plane_steps = 0
        self._snapshot: ComparisonSnapshot | None = None
        self._overlay_title = ""
        self._colour_bar: pg.ColorBarItem | None = None
        self._figure_mode = False
        self._worker = None  # a landscape worker, made when the first surfaces are needed
        self._jobs: list[tuple[int | None, Config, str]] = []
        self._generation = 0
        self._trail_caches: list[TrailCache] = []
        # while running, the table follows a few times a second (its text relayouts cost more
        # than the plots); a paused or finished comparison shows its last step at once
        self._table_refresh = Throttle(self._refresh_table, self, min_ms=TABLE_MS,
                                       max_ms=4 * TABLE_MS)

        self.rows: list[VariantRow] = []
        self.rows_box = QVBoxLayout()
        self.add_button = QPushButton("+ variant")
        self.remove_button = QPushButton("− variant")
        self.article_button = QPushButton("Article's four")
        self.article_button.setToolTip("MAML, FOMAML, Reptile and iMAML, as in the article")
        self.start_button = QPushButton("Start comparison")
        self.start_button.setToolTip("Run the variants in lockstep from the current θ₀ on the "
                                     "current tasks (the settings of the Parameters panel)")
        self.play_button = QPushButton("▶ Run")
        self.step_button = QPushButton("Step")
        self.reset_button = QPushButton("Reset")
        self.rate_box = QComboBox()
        for rate in STEP_RATES:
            self.rate_box.addItem("full speed" if math.isinf(rate) else f"{rate:g} steps/s", rate)
        self.rate_box.setCurrentIndex(1)
        self.layout_box = QComboBox()
        self.layout_box.addItems(["overlay", "small multiples"])
        self.target_box = QDoubleSpinBox()
        self.target_box.setDecimals(6)
        self.target_box.setRange(-1e12, 1e12)
        self._target_set = False  # set from the first step's loss, then by the user
        self._target_fixed = False  # chosen by the user or a session: kept across restarts
        self.target_box.setSingleStep(0.01)
        self.target_box.setToolTip("Post-adaptation meta-loss a variant must reach for "
                                   "'steps to target'")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #E07070;")

        buttons = QHBoxLayout()
        for widget in (self.add_button, self.remove_button, self.article_button,
                       self.start_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        controls = QHBoxLayout()
        for widget in (self.play_button, self.step_button, self.reset_button, QLabel("speed"),
                       self.rate_box, QLabel("layout"), self.layout_box,
                       QLabel("target loss"), self.target_box):
            controls.addWidget(widget)
        controls.addStretch(1)

        self.overlay = pg.PlotWidget(background=theme.background)
        self.overlay_plot = self.overlay.getPlotItem()
        # before the first start: say what to do rather than show an empty 0–1 plot
        self.overlay_plot.hideAxis("left")
        self.overlay_plot.hideAxis("bottom")
        self._hint = pg.TextItem("Choose the variants above, then press “Start comparison”",
                                 color=theme.foreground, anchor=(0.5, 0.5))
        self.overlay_plot.addItem(self._hint)
        self._hint.setPos(0.5, 0.5)
        self.multiples = pg.GraphicsLayoutWidget()
        self.multiples.setBackground(theme.background)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.overlay)
        self.stack.addWidget(self.multiples)
        self.table = QTableWidget(0, len(METRIC_COLUMNS))
        self.table.setHorizontalHeaderLabels(METRIC_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.stack)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        # room for all six rows without scrolling
        self._table_minimum = (self.table.horizontalHeader().sizeHint().height()
                               + MAX_VARIANTS * self.table.verticalHeader().defaultSectionSize() + 6)
        self.table.setMinimumHeight(self._table_minimum)
        self.editor = QWidget()
        editor_layout = QVBoxLayout(self.editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addLayout(self.rows_box)
        editor_layout.addLayout(buttons)
        editor_layout.addWidget(self.message)
        editor_layout.addLayout(controls)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor)
        layout.addWidget(splitter, 1)

        for algorithm in ARTICLE_FOUR:
            self._add_row(algorithm)
        self.add_button.clicked.connect(lambda: self._add_row("maml"))
        self.remove_button.clicked.connect(self._remove_row)
        self.article_button.clicked.connect(self._article_four)
        self.start_button.clicked.connect(self.start)
        self.play_button.clicked.connect(self._on_play_clicked)
        self.step_button.clicked.connect(self._on_step_clicked)
        self.reset_button.clicked.connect(self._on_reset_clicked)
        self.rate_box.currentIndexChanged.connect(self._on_rate_changed)
        self.layout_box.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.stack.currentChanged.connect(self._on_layout_shown)
        self.target_box.valueChanged.connect(self._on_target_changed)
        self._update_buttons()

    # --- figures ----------------------------------------------------------------------
    def set_figure_mode(self, on: bool) -> None:
        """Only the plots and the table, the table exactly as tall as its rows, no splitter
        handle and no scroll bars (for exported figures)."""
        self._figure_mode = on
        self.editor.setVisible(not on)
        self.splitter.setHandleWidth(0 if on else 5)
        policy = Qt.ScrollBarPolicy.ScrollBarAlwaysOff if on else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        self.table.setHorizontalScrollBarPolicy(policy)
        self.table.setVerticalScrollBarPolicy(policy)
        self.table.setMinimumHeight(0 if on else self._table_minimum)
        self._fit_table()

    def _fit_table(self) -> None:
        """In figures: the table's height is its header and rows, nothing empty below."""
        if not self._figure_mode:
            return
        height = (self.table.horizontalHeader().sizeHint().height()
                  + sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
                  + 2 * self.table.frameWidth())
        self.table.setFixedHeight(height)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def show_comparison(self, snapshot: ComparisonSnapshot) -> None:
        """Draw a comparison computed elsewhere (an export, a test), without a controller."""
        built = getattr(self, "_built_for", None)
        if built != snapshot.variants:
            self._plane, self._plane_steps = None, 0
            self._target_set = self._target_fixed
            self._build_plots(list(snapshot.variants))
            self._built_for = snapshot.variants
        self._on_snapshot(snapshot)

    # --- variants ---------------------------------------------------------------------
    def set_base_config(self, config: Config) -> None:
        """The problem (tasks, θ₀, seed, ...) and default settings the variants start from."""
        self._base = config

    def _add_row(self, algorithm: str, overrides: str = "") -> None:
        if len(self.rows) >= MAX_VARIANTS:
            return
        row = VariantRow(algorithm, overrides)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._update_buttons()

    def _remove_row(self) -> None:
        if len(self.rows) > MIN_VARIANTS:
            self.rows.pop().deleteLater()
        self._update_buttons()

    def _article_four(self) -> None:
        while len(self.rows) > len(ARTICLE_FOUR):
            self.rows.pop().deleteLater()
        while len(self.rows) < len(ARTICLE_FOUR):
            self._add_row("maml")
        for row, algorithm in zip(self.rows, ARTICLE_FOUR):
            row.algorithm.setCurrentIndex(row.algorithm.findData(algorithm))
            row.settings.clear()
        self._update_buttons()

    def set_variants(self, specs: list[tuple[str, str]]) -> None:
        """Replace the rows: (algorithm, settings text) pairs (for sessions and tests)."""
        while self.rows:
            self.rows.pop().deleteLater()
        for algorithm, overrides in specs:
            self._add_row(algorithm, overrides)

    def target(self) -> float | None:
        """The loss "steps to target" counts to (None until the first step sets it)."""
        return self.target_box.value() if self._target_set else None

    def set_target(self, value: float | None) -> None:
        """Fix the target loss (None: half way from the first step's loss, set then)."""
        if value is None:
            self._target_set = self._target_fixed = False
            return
        self.target_box.blockSignals(True)
        self.target_box.setValue(value)
        self.target_box.blockSignals(False)
        self._target_set = self._target_fixed = True
        self._refresh_table()

    def variant_specs(self) -> list[tuple[str, str]]:
        return [(row.algorithm.currentData(), row.settings.text()) for row in self.rows]

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(len(self.rows) < MAX_VARIANTS)
        self.remove_button.setEnabled(len(self.rows) > MIN_VARIANTS)
        running = self.controller is not None
        for button in (self.play_button, self.step_button, self.reset_button):
            button.setEnabled(running)

    # --- running ----------------------------------------------------------------------
    def start(self) -> bool:
        """Build the variants from the rows and start them (paused). False on bad input."""
        try:
            variants = build_variants(self._base, [row.spec() for row in self.rows])
        except ConfigError as exc:
            self.message.setText(f"Not started: {exc}")
            return False
        self.message.setText("")
        self.stop()
        self.controller = ComparisonController(variants, self)
        self.controller.snapshot_published.connect(self._on_snapshot)
        self.controller.playing_changed.connect(self._on_playing_changed)
        self.controller.failed.connect(self._on_failed)
        self.controller.set_rate(self.rate_box.currentData())
        self._plane = None
        self._plane_steps = 0
        self._target_set = self._target_fixed
        self._build_plots(variants)
        self._built_for = tuple(variants)
        self._update_buttons()
        self.comparison_started.emit(len(variants))
        self._on_snapshot(self.controller.snapshot())
        return True

    def shutdown(self) -> None:
        """Stop the comparison and the landscape worker (bounded wait)."""
        self.stop()
        self._table_refresh.stop()
        self._jobs = []
        if self._worker is not None:
            self._worker.stop()
            self._worker.wait(1000)
            self._worker = None

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.shutdown()
            self.controller.deleteLater()
            self.controller = None
        self._update_buttons()

    @Slot()
    def _on_play_clicked(self) -> None:
        if self.controller is not None:
            self.controller.toggle_play()

    @Slot()
    def _on_step_clicked(self) -> None:
        if self.controller is not None:
            self.controller.step()

    @Slot()
    def _on_reset_clicked(self) -> None:
        if self.controller is not None:
            self.controller.reset()

    @Slot(int)
    def _on_rate_changed(self, _index: int) -> None:
        if self.controller is not None:
            self.controller.set_rate(self.rate_box.currentData())

    @Slot(int)
    def _on_layout_shown(self, _index: int) -> None:
        if self._snapshot is not None:
            self._on_snapshot(self._snapshot)  # it was not drawn while hidden

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        self.play_button.setText("⏸ Pause" if playing else "▶ Run")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.message.setText(f"Comparison stopped: {message}")

    # --- plots ------------------------------------------------------------------------
    def _build_plots(self, variants: list[Variant]) -> None:
        config = variants[0].config
        self._family = make_family(config)
        self._tasks = landscape_tasks(config)
        self._theta0 = initial_theta(config)
        self.overlay_plot.clear()  # the start hint too
        self.overlay_plot.showAxis("left")
        self.overlay_plot.showAxis("bottom")
        if self.overlay_plot.legend is not None:
            self.overlay_plot.legend.scene().removeItem(self.overlay_plot.legend)
            self.overlay_plot.legend = None
        self.multiples.clear()
        self.overlay_plot.addLegend(offset=(8, 8), labelTextColor=self.theme.foreground,
                                    brush=pg.mkBrush(0, 0, 0, 120) if not self.theme.print_theme
                                    else pg.mkBrush(255, 255, 255, 210))
        self._overlay_image = self._add_image(self.overlay_plot)
        self._overlay_contours = pg.PlotCurveItem(connect="pairs",
                                                  pen=pen(self.theme.contour, 1.0, 0.45))
        self._overlay_contours.setZValue(-5)
        self.overlay_plot.addItem(self._overlay_contours)
        if self._colour_bar is None:
            self._colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get(LANDSCAPE_COLORMAP),
                                               interactive=False, width=14)
            self._colour_bar.setImageItem(self._overlay_image, insert_in=self.overlay_plot)
            self._colour_bar.axis.enableAutoSIPrefix(False)
            self._colour_bar.axis.setPen(self.theme.foreground)
            self._colour_bar.axis.setTextPen(self.theme.foreground)
            self._colour_bar.axis.setLabel("mean loss", color=self.theme.foreground)
        else:
            self._colour_bar.setImageItem(self._overlay_image)
        self._trails, self._arrows, self._markers = [], [], []
        self._trail_caches = [TrailCache() for _ in variants]
        self._panels, self._panel_images, self._panel_trails, self._panel_arrows = [], [], [], []
        columns = 3 if len(variants) > 4 else 2
        for index, variant in enumerate(variants):
            colour = algorithm_colour(variant.config.algorithm, self._variant_shade(variants, index))
            trail = self.overlay_plot.plot(pen=pen(colour, 2.5), name=variant.label,
                                           shadowPen=pen(self.theme.outline, 4.5, 0.5))
            trail.setZValue(10)
            self._trails.append(trail)
            self._arrows.append(ArrowSet(self.overlay_plot, colour, width=3.0))
            marker = pg.ScatterPlotItem(size=10, brush=colour, pen=pen(self.theme.outline, 1.5))
            marker.setZValue(30)
            self.overlay_plot.addItem(marker)
            self._markers.append(marker)
            panel = self.multiples.addPlot(row=index // columns, col=index % columns,
                                           title=variant.label)
            if self._panels:
                panel.setXLink(self._panels[0])
                panel.setYLink(self._panels[0])
            self._panels.append(panel)
            self._panel_images.append(self._add_image(panel))
            panel_trail = panel.plot(pen=pen(colour, 2.5), shadowPen=pen(self.theme.outline, 4.5, 0.5))
            panel_trail.setZValue(10)
            self._panel_trails.append(panel_trail)
            self._panel_arrows.append(ArrowSet(panel, colour, width=3.0))
        names = self._family.axis_names or ("u (PCA direction 1)", "v (PCA direction 2)")
        for plot in (self.overlay_plot, *self._panels):
            plot.setLabel("bottom", names[0], color=self.theme.foreground)
            plot.setLabel("left", names[1], color=self.theme.foreground)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(self.theme.foreground)
                plot.getAxis(axis).setPen(self.theme.foreground)
            plot.titleLabel.setAttr("color", self.theme.foreground)
        self._fit()
        self._compute_surfaces(variants)

    @staticmethod
    def _variant_shade(variants: list[Variant], index: int) -> int:
        same = [v for v in variants[:index] if v.config.algorithm == variants[index].config.algorithm]
        return len(same)

    @staticmethod
    def _add_image(plot: pg.PlotItem) -> pg.ImageItem:
        image = pg.ImageItem(axisOrder="row-major")
        image.setColorMap(pg.colormap.get(LANDSCAPE_COLORMAP))
        image.setZValue(-10)
        plot.addItem(image)
        return image

    def _fit(self) -> None:
        if self._family.param_dim == 2:
            xmin, xmax, ymin, ymax = self._family.default_view(self._tasks)
        else:
            uv = self._project(self._all_points()) if self._plane is not None else np.zeros((1, 2))
            low, high = uv.min(0), uv.max(0)
            span = np.maximum(high - low, 1.0)
            (xmin, ymin), (xmax, ymax) = low - 0.3 * span, high + 0.3 * span
        for plot in (self.overlay_plot, *self._panels[:1]):
            plot.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        self._range = (xmin, xmax, ymin, ymax)

    def _compute_surfaces(self, variants: list[Variant]) -> None:
        """Backgrounds: the shared mean loss (overlay) and each variant's own meta-objective.

        In the window they come one after another from a landscape worker, never from the
        GUI thread (seven 96² grids of an iMAML surface take seconds); a figure computes
        them here, since it is written only once everything is drawn.
        """
        if self._family.param_dim != 2:
            self._overlay_title = "trails on the PCA plane of all variants' paths"
            self.overlay_plot.setTitle(self._overlay_title, size="9pt")
            return
        self._overlay_title = "mean task loss (what every method starts from)"
        self.overlay_plot.setTitle(self._overlay_title, size="9pt")
        jobs = [(None, variants[0].config, "mean")] + [
            (index, variant.config, "mean" if variant.config.algorithm == "pretrain" else "meta")
            for index, variant in enumerate(variants)]
        if not self._figure_mode:
            self._jobs = jobs
            self._next_surface()
            return
        xmin, xmax, ymin, ymax = self._range
        for index, config, name in jobs:
            evaluator = LandscapeEvaluator(config, self._tasks, dtype=torch.float32)
            try:
                surface = evaluator.grid(name, (xmin, xmax), (ymin, ymax), self.surface_grid)
            except LandscapeError:
                continue
            self._show_surface(index, surface)

    def _show_surface(self, index: int | None, surface) -> None:
        """Draw a surface on the overlay (``index`` None) or on variant ``index``'s panel."""
        if index is None:
            self._show_image(self._overlay_image, surface, self._overlay_contours,
                             self._colour_bar)
        elif index < len(self._panel_images):
            self._show_image(self._panel_images[index], surface)

    def _next_surface(self) -> None:
        """Ask the landscape worker for the next surface still to draw (newest wins there, so
        one at a time)."""
        if not self._jobs:
            return
        if self._worker is None:
            self._worker = make_landscape_worker(self)
            self._worker.surface_ready.connect(self._on_surface_ready)
            self._worker.failed.connect(self._on_surface_failed)
        index, config, name = self._jobs[0]
        xmin, xmax, ymin, ymax = self._range
        self._generation += 1
        self._worker.request(LandscapeRequest(
            generation=self._generation, config=config, tasks=self._tasks, surface=name,
            xrange=(xmin, xmax), yrange=(ymin, ymax), resolutions=(self.surface_grid,)))

    @Slot(int, object)
    def _on_surface_ready(self, generation: int, surface) -> None:
        if generation != self._generation or not self._jobs:
            return  # a surface of variants that were replaced since
        index, _, _ = self._jobs.pop(0)
        self._show_surface(index, surface)
        self._next_surface()

    @Slot(int, str)
    def _on_surface_failed(self, generation: int, _message: str) -> None:
        if generation == self._generation and self._jobs:
            self._jobs.pop(0)  # e.g. a variant without a meta surface: its panel stays plain
            self._next_surface()

    def surfaces_pending(self) -> bool:
        """Backgrounds are still being computed (tests, scripts)."""
        return bool(self._jobs)

    @staticmethod
    def _show_image(image: pg.ImageItem, surface, contours: pg.PlotCurveItem | None = None,
                    colour_bar: pg.ColorBarItem | None = None) -> None:
        z = surface.z
        finite = z[np.isfinite(z)]
        if finite.size == 0:
            return
        low, high = np.percentile(finite, [0.5, 97.0])
        high = max(high, low + 1e-12)
        if contours is not None:
            levels = contour_levels(np.clip(z, low, high), 12)
            segments, _ = contour_segments(surface.x, surface.y, z, levels)
            contours.setData(segments[:, 0], segments[:, 1]) if len(segments) else \
                contours.setData([], [])
        if colour_bar is not None:
            colour_bar.setLevels((low, high))
        dx = (surface.x[-1] - surface.x[0]) / (len(surface.x) - 1)
        dy = (surface.y[-1] - surface.y[0]) / (len(surface.y) - 1)
        image.setImage(np.where(np.isfinite(z), z, high), autoLevels=False,
                       levels=(low, max(high, low + 1e-12)))
        image.setRect(QRectF(surface.x[0] - dx / 2, surface.y[0] - dy / 2,
                             surface.x[-1] - surface.x[0] + dx, surface.y[-1] - surface.y[0] + dy))

    def _all_points(self) -> np.ndarray:
        if self._snapshot is None:
            return np.atleast_2d(self._theta0)
        # evenly spaced rows of each trail, its last included: a plane fit and a view range
        # need no more, and the MLP's four whole trails are ~60 MB to copy
        trails = [evenly_spaced(h.thetas) for h in self._snapshot.histories if len(h.thetas)]
        return np.concatenate(trails) if trails else np.atleast_2d(self._theta0)

    def _project(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(points)
        if self._family.param_dim == 2:
            return points[:, :2]
        if self._plane is None:
            return np.zeros((len(points), 2))
        uv, _ = self._plane.project(np.nan_to_num(points))
        return uv

    @Slot(object)
    def _on_snapshot(self, snapshot: ComparisonSnapshot) -> None:
        self._snapshot = snapshot
        if self._family.param_dim != 2 and snapshot.steps >= 3 and \
                snapshot.steps >= max(1.5 * self._plane_steps, self._plane_steps + 10):
            points = self._all_points()
            points = points[np.all(np.isfinite(points), axis=1)]
            if np.ptp(points, axis=0).max() > 0:
                self._plane = pca_plane(points, points[-1], max_points=200)
                self._plane_steps = snapshot.steps
                self._fit()
        (x0, x1), (y0, y1) = self.overlay_plot.getViewBox().viewRange()
        diagonal = math.hypot(x1 - x0, y1 - y0)
        # on screen, only the layout shown is drawn (the other one when it is chosen);
        # a view never shown (an export) draws both
        live = self.isVisible() and not self._figure_mode
        overlay = not live or self.stack.currentWidget() is self.overlay
        multiples = not live or self.stack.currentWidget() is self.multiples
        for index, history in enumerate(snapshot.histories):
            trail = self._trail_caches[index].project(
                history, self._project, (snapshot.run_id, id(self._plane))) \
                if len(history.thetas) else np.zeros((0, 2))
            trails = [self._trails[index]] * overlay + [self._panel_trails[index]] * multiples
            arrows = [self._arrows[index]] * overlay + [self._panel_arrows[index]] * multiples
            for item in trails:
                item.setData(trail[:, 0], trail[:, 1]) if len(trail) else item.setData([], [])
            record = history.latest
            if record is None:
                start = self._project(self._theta0)[0]
                self._markers[index].setData([start[0]], [start[1]])
                for item in arrows:
                    item.clear()
                continue
            theta = self._project(record.theta_next)[0]
            self._markers[index].setData([theta[0]], [theta[1]])
            direction = self._project(record.theta_next - record.meta_grad)[0] - theta
            length = float(np.hypot(*direction))
            for item in arrows:
                if np.isfinite(length) and length > 0 and not record.diverged:
                    tip = theta + ARROW_FRACTION * diagonal * direction / length
                    item.set_arrows(theta[None], tip[None])
                else:
                    item.clear()
        first = snapshot.histories[0].loss_after if snapshot.histories else np.zeros(0)
        # the first step's loss, not the latest: a comparison drawn after the run (an
        # export) gets the same target as the window that watched it from the start
        if not self._target_set and len(first) and np.isfinite(first[0]):
            loss = float(first[0])  # default: halfway (in |loss|) from the first loss
            self.target_box.blockSignals(True)
            self.target_box.setValue(loss - 0.5 * abs(loss))
            self.target_box.blockSignals(False)
            self._target_set = True
        if snapshot.playing and not self._figure_mode:
            self._table_refresh.request()
        else:
            self._table_refresh.run()
        self._show_step(snapshot.steps)
        if self._figure_mode or snapshot.steps <= 1:
            # where the trails are not (they all start at θ₀, often in a corner)
            points = [item.getData() for item in self._trails]
            points = [np.column_stack(xy) for xy in points if xy[0] is not None and len(xy[0])]
            place_legend(self.overlay_plot.legend, self.overlay_plot.getViewBox(),
                         np.concatenate(points) if points else np.zeros((0, 2)))

    def _show_step(self, steps: int) -> None:
        """The meta-step count in the plots' titles (the window and figures alike)."""
        title = self._overlay_title + f"  ·  meta-step {steps}"
        if self.overlay_plot.titleLabel.text != title:
            self.overlay_plot.setTitle(title, size="9pt", color=self.theme.foreground)
        for panel, variant in zip(self._panels, self._snapshot.variants):
            text = f"{variant.label} · meta-step {steps}"
            if panel.titleLabel.text != text:
                panel.setTitle(text, size="9pt", color=self.theme.foreground)

    @Slot(float)
    def _on_target_changed(self, _value: float) -> None:
        self._target_set = self._target_fixed = True
        self._refresh_table()

    def metrics(self) -> list:
        if self._snapshot is None:
            return []
        target = self.target_box.value() if self._target_set else None
        return [metrics_for(variant.label, history, target)
                for variant, history in zip(self._snapshot.variants, self._snapshot.histories)]

    @Slot()
    def _refresh_table(self) -> None:
        rows = self.metrics()
        # the target in the header: "—" below then reads as "not reached yet", not "unknown"
        target = f" ≤ {self.target_box.value():.3g}" if self._target_set else ""
        headers = [*METRIC_COLUMNS[:-1], METRIC_COLUMNS[-1] + target]
        if self._figure_mode:  # a figure's columns share its width: headers on two lines
            headers = [text.replace(" ", "\n", 1) if " " in text else text for text in headers]
            headers[-1] = headers[-1].replace(" target ", " target\n")
        for column, text in enumerate(headers):
            if self.table.horizontalHeaderItem(column).text() != text:
                self.table.setHorizontalHeaderItem(column, QTableWidgetItem(text))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (row.label + ("  (diverged)" if row.diverged else ""), _fmt(row.meta_loss),
                     _fmt(row.worst_loss), _fmt(row.maml_cosine, 4),
                     _fmt(1000 * row.seconds_per_step, 3), _fmt(row.evaluations_per_step, 4),
                     "—" if row.steps_to_target is None else str(row.steps_to_target))
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
            colour = algorithm_colour(self._snapshot.variants[r].config.algorithm,
                                      self._variant_shade(list(self._snapshot.variants), r))
            self.table.item(r, 0).setForeground(pg.mkColor(colour))
        self._fit_table()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"
