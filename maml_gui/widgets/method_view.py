"""The "Method" dock: the view of what the current algorithm adds (TreeMAML's tree, B-SMALL's
sparsity, MetaNAS's operation weights, iTAML's stream), or a line saying there is none."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from maml_gui.core.config import Config
from maml_gui.core.tasks import make_family
from maml_gui.widgets.bsmall_view import BSmallView
from maml_gui.widgets.itaml_view import ITAMLView
from maml_gui.widgets.metanas_view import MetaNASView
from maml_gui.widgets.tree_view import TreeView


class MethodView(QStackedWidget):
    """Shows the view of the configured algorithm; others get a short explanation."""

    def __init__(self, config: Config, parent: QWidget | None = None):
        super().__init__(parent)
        self.none = QLabel()
        self.none.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.none.setWordWrap(True)
        self.tree = TreeView()
        self.bsmall = BSmallView()
        self.metanas = MetaNASView()
        self.itaml = ITAMLView()
        for widget in (self.none, self.tree, self.bsmall, self.metanas, self.itaml):
            self.addWidget(widget)
        self._config = config
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        """Pick (and shape) the view for ``config``'s algorithm."""
        self._config = config
        algorithm = config.algorithm
        if algorithm == "tree_maml":
            self.setCurrentWidget(self.tree)
        elif algorithm == "b_small":
            self.bsmall.set_model(make_family(config))
            self.setCurrentWidget(self.bsmall)
        elif algorithm == "metanas":
            model = make_family(config)
            self.metanas.set_ops(model.ops, model.n_hidden)
            self.setCurrentWidget(self.metanas)
        elif algorithm == "itaml":
            self.itaml.set_config(config)
            self.setCurrentWidget(self.itaml)
        else:
            self.none.setText("This view shows what TreeMAML, B-SMALL, MetaNAS and iTAML add: "
                              "choose one of them as the algorithm.")
            self.setCurrentWidget(self.none)

    def show_snapshot(self, snapshot) -> None:
        """Draw the snapshot's record (and recent history) in the current view."""
        record = snapshot.record
        if record is None or record.algorithm != self._config.algorithm:
            return
        frame = snapshot.frames[snapshot.frame_index] if snapshot.frames else None
        animating = frame is not None and frame.phase == "inner" and not snapshot.full_speed
        records = list(snapshot.history.records)
        if not records or records[-1].step != record.step:
            records.append(record)
        if self.currentWidget() is self.tree:
            self.tree.show_record(record, max(frame.inner_step - 1, 0) if animating else None)
        elif self.currentWidget() is self.bsmall:
            self.bsmall.show_records(records, self._config.bsmall_lambda)
        elif self.currentWidget() is self.metanas:
            self.metanas.show_records(records, frame.inner_step if animating else None)
        elif self.currentWidget() is self.itaml:
            self.itaml.show_records(records, self._config.itaml_decay)
