"""Comparison mode: 2–6 algorithms (or settings) on the same tasks from the same θ₀.

Overlay: one plot with the shared mean task loss behind every variant's trail and current
meta-gradient arrow. Small multiples: one panel per variant on its own meta-objective,
axes linked. Below, a metrics table updated live.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms import algorithm_label
from maml_gui.core.comparison import (
    MAX_VARIANTS, MIN_VARIANTS, Variant, build_variants, metrics_for, parse_overrides,
)
from maml_gui.core.config import ALGORITHMS, Config, ConfigError
from maml_gui.palette import SCREEN, Theme
from maml_gui.plots.comparison import (
    LAYOUTS, METRIC_COLUMNS, ComparisonPlot, default_target, fit_plane, metrics_rows,
)
from maml_gui.runtime.comparison_controller import (
    STEP_RATES, ComparisonController, ComparisonSnapshot,
)
from maml_gui.runtime.landscape_worker import LandscapeRequest, make_landscape_worker
from maml_gui.runtime.throttle import Throttle
from maml_gui.view.projection import REFIT_SECONDS

ARTICLE_FOUR = ("maml", "fomaml", "reptile", "imaml")  # the article's comparison figure
SURFACE_GRID = 144  # per panel; computed by a landscape worker when the variants start
TABLE_MS = 200.0  # the metrics table's shortest refresh interval while running


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
        self.surface_grid = SURFACE_GRID
        self._base = config
        self.controller: ComparisonController | None = None
        self._snapshot: ComparisonSnapshot | None = None
        self._worker = None  # a landscape worker, made when the first surfaces are needed
        self._jobs: list[tuple[int | None, Config, str]] = []
        self._generation = 0
        # at full speed the PCA plane is fitted in this thread (made for the first such fit)
        # and used by the first frame after it is done; (steps, fit) meanwhile, dropped when
        # the variants are built again or the run restarts
        self._fitter: ThreadPoolExecutor | None = None
        self._plane_fit: tuple[int, Future] | None = None
        self._plane_time = 0.0
        self._run_id: int | None = None  # the run drawn (a reset starts a new one)
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
        self.layout_box.addItems(list(LAYOUTS))
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
        # two rows: in one, the tab was wider than the window's centre at 1366 pixels and
        # the plot's right side (colour bar, legend) hid behind a scroll bar
        controls = QVBoxLayout()
        for widgets in ((self.play_button, self.step_button, self.reset_button, QLabel("speed"),
                         self.rate_box),
                        (QLabel("layout"), self.layout_box, QLabel("target loss"),
                         self.target_box)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            controls.addLayout(row)

        self.drawing = ComparisonPlot(theme)
        self.overlay_plot = self.drawing.overlay_plot
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(theme.background)
        self.plots.ci.setContentsMargins(0, 0, 0, 0)
        self.plots.addItem(self.drawing.root)
        self.table = QTableWidget(0, len(METRIC_COLUMNS))
        self.table.setHorizontalHeaderLabels(METRIC_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
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
        self.layout_box.currentIndexChanged.connect(self._on_layout_chosen)
        self.target_box.valueChanged.connect(self._on_target_changed)
        self._update_buttons()

    # --- drawing without a controller -------------------------------------------------
    def show_comparison(self, snapshot: ComparisonSnapshot) -> None:
        """Draw a comparison computed elsewhere (an export, a test), without a controller."""
        built = getattr(self, "_built_for", None)
        if built != snapshot.variants:
            self._target_set = self._target_fixed
            self._build_plots(list(snapshot.variants))
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
        self._target_set = self._target_fixed
        self._build_plots(variants)
        self._update_buttons()
        self.comparison_started.emit(len(variants))
        self._on_snapshot(self.controller.snapshot())
        return True

    def shutdown(self) -> None:
        """Stop the comparison, the plane fitter and the landscape worker (bounded wait)."""
        self.stop()
        self._table_refresh.stop()
        self._jobs = []
        self._plane_fit = None
        if self._fitter is not None:
            self._fitter.shutdown(wait=True, cancel_futures=True)  # one fit: ≤ ~0.1 s
            self._fitter = None
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
    def _on_layout_chosen(self, index: int) -> None:
        self.drawing.set_layout(LAYOUTS[index])
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
        """New items for ``variants``; their backgrounds come from the landscape worker, one
        after another, never from the GUI thread (seven 96² grids of an iMAML surface take
        seconds)."""
        self.drawing.build(variants)
        self._built_for = tuple(variants)
        self._plane_fit, self._plane_time = None, 0.0  # fit the new variants' plane when due
        self._jobs = self.drawing.surface_jobs()
        self._next_surface()

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
        xmin, xmax, ymin, ymax = self.drawing.range
        self._generation += 1
        self._worker.request(LandscapeRequest(
            generation=self._generation, config=config, tasks=self.drawing.tasks, surface=name,
            xrange=(xmin, xmax), yrange=(ymin, ymax), resolutions=(self.surface_grid,)))

    @Slot(int, object)
    def _on_surface_ready(self, generation: int, surface) -> None:
        if generation != self._generation or not self._jobs:
            return  # a surface of variants that were replaced since
        index, _, _ = self._jobs.pop(0)
        self.drawing.show_surface(index, surface)
        self._next_surface()

    @Slot(int, str)
    def _on_surface_failed(self, generation: int, _message: str) -> None:
        if generation == self._generation and self._jobs:
            self._jobs.pop(0)  # e.g. a variant without a meta surface: its panel stays plain
            self._next_surface()

    def surfaces_pending(self) -> bool:
        """Backgrounds are still being computed (tests, scripts)."""
        return bool(self._jobs)

    @Slot(object)
    def _on_snapshot(self, snapshot: ComparisonSnapshot) -> None:
        self._snapshot = snapshot
        self.drawing.set_smooth(not snapshot.full_speed)  # plain lines cost less: see there
        if snapshot.run_id != self._run_id:  # started or reset: a plane of its own trails
            self._run_id, self._plane_fit, self._plane_time = snapshot.run_id, None, 0.0
            self.drawing.forget_plane()
        beside = snapshot.playing and snapshot.full_speed
        self._take_fitted_plane()
        if beside and self.drawing.plane_due(snapshot.steps):
            self._fit_plane_beside(snapshot)
        elif not beside:
            self._plane_fit = None  # fitted here now if due: a late fit would go back
        # the legend moves only at the start: later it would jump while the trails grow
        # on screen, only the layout shown is drawn (the other one when it is chosen)
        self.drawing.show_snapshot(snapshot, place_legend_now=snapshot.steps <= 1,
                                   only_shown=self.isVisible(), refit=not beside)
        if not self._target_set:
            target = default_target(snapshot)
            if target is not None:
                self.target_box.blockSignals(True)
                self.target_box.setValue(target)
                self.target_box.blockSignals(False)
                self._target_set = True
        if snapshot.playing:
            self._table_refresh.request()
        else:
            self._table_refresh.run()

    def _fit_plane_beside(self, snapshot: ComparisonSnapshot) -> None:
        """Fit the plane in the fitter thread, at most every REFIT_SECONDS: the frames
        meanwhile are drawn on the old plane."""
        now = time.perf_counter()
        if self._plane_fit is not None or now - self._plane_time < REFIT_SECONDS:
            return
        self._plane_time = now
        if self._fitter is None:
            self._fitter = ThreadPoolExecutor(1, thread_name_prefix="maml-gui comparison plane")
        # the thread reads the histories while this thread appends to them: a fit may see a
        # row more, or the newest θ about to be rewritten (with the same value), or, when a
        # long run thins its history, a few moved rows; each is as good a plane of the trails
        self._plane_fit = (snapshot.steps, self._fitter.submit(fit_plane, snapshot.histories))

    def _take_fitted_plane(self) -> None:
        """Use the plane fitted beside, once it is done (a failed fit is fitted again when
        next due)."""
        if self._plane_fit is None or not self._plane_fit[1].done():
            return
        steps, future = self._plane_fit
        self._plane_fit = None
        if not future.cancelled() and future.exception() is None:
            self.drawing.use_plane(future.result(), steps)

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
        headers, rows, colours = metrics_rows(self._snapshot, self.target())
        for column, text in enumerate(headers):
            if self.table.horizontalHeaderItem(column).text() != text:
                self.table.setHorizontalHeaderItem(column, QTableWidgetItem(text))
        self.table.setRowCount(len(rows))
        for r, (cells, colour) in enumerate(zip(rows, colours)):
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
            self.table.item(r, 0).setForeground(pg.mkColor(colour))

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

