"""The "Method" dock: the view of what the current algorithm adds (TreeMAML's tree, B-SMALL's
sparsity, MetaNAS's operation weights, iTAML's stream), or a line saying there is none."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from maml_gui.core.algorithms.norml import DEMO_ANGLES
from maml_gui.core.config import Config
from maml_gui.core.tasks import make_family
from maml_gui.widgets.bsmall_view import BSmallView
from maml_gui.widgets.itaml_view import ITAMLView
from maml_gui.widgets.metanas_view import MetaNASView
from maml_gui.widgets.norml_view import NoRMLView
from maml_gui.widgets.tree_view import TreeView


def parameter_name(block: str, shape: tuple[int, ...], index: int) -> str:
    """Entry ``index`` of a parameter block: ``W12`` (row 1, column 2), ``b2``, ``log_sigma``."""
    if int(np.prod(shape)) == 1:
        return block
    if len(shape) == 2:
        return f"{block}{index // shape[1] + 1}{index % shape[1] + 1}"
    return f"{block}{index + 1}"


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
        self.norml = NoRMLView()  # meta-RL: NoRML, DR and MAML-RL on the point robot
        for widget in (self.none, self.tree, self.bsmall, self.metanas, self.itaml, self.norml):
            self.addWidget(widget)
        self._config = config
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        """Pick (and shape) the view for ``config``'s algorithm."""
        self._config = config
        algorithm = config.algorithm
        if getattr(make_family(config), "reinforcement", False):
            self._show_norml(config)
        elif algorithm == "tree_maml":
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
            self.none.setText("This view shows what TreeMAML, B-SMALL, MetaNAS, iTAML and NoRML "
                              "add: choose one of them as the algorithm (NoRML: on the "
                              "point_robot task family).")
            self.setCurrentWidget(self.none)

    def _show_norml(self, config: Config) -> None:
        model = make_family(config)
        names = [parameter_name(name, shape, i) for name, shape in model.policy_layout()
                 for i in range(int(np.prod(shape)))]
        self.norml.set_model(names, config.algorithm == "norml", len(DEMO_ANGLES))
        self.setCurrentWidget(self.norml)

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
            self.bsmall.show_records(records, self._config.bsmall_lambda, snapshot.history)
        elif self.currentWidget() is self.metanas:
            self.metanas.show_records(records, frame.inner_step if animating else None,
                                      snapshot.history)
        elif self.currentWidget() is self.itaml:
            self.itaml.show_records(records, self._config.itaml_decay)
        elif self.currentWidget() is self.norml:
            playing = frame is not None and not snapshot.full_speed
            self.norml.show_records(
                records, (snapshot.frame_index + 1) / len(snapshot.frames) if playing else None)
