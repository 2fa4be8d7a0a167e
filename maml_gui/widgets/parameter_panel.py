"""The settings panel, generated from the core field tables.

Every row comes from a :class:`~maml_gui.core.config.Field` (``FIELDS`` and each task family's
``fields``): its editor kind, range, default, tooltip and hot/cold marking. The only things
written here are the layout (which section holds which field) and a few words for the
"null" check boxes. Nothing is applied until it validates against the whole configuration
with :meth:`Config.with_changes`; a refused value stays in its editor with the reason under it.
"""

from __future__ import annotations

from functools import partial
from itertools import combinations
from typing import Any, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout, QGroupBox, QLabel, QLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.config import FIELDS, Config, ConfigError, Field
from maml_gui.core.device import list_devices
from maml_gui.core.tasks import DEFAULT_FAMILY, FAMILIES, make_family
from maml_gui.widgets.field_editors import (
    BoolEditor, Choice, FieldEditor, NullableIntEditor, make_editor,
)

COLD_MARK = "↻"
LEGEND = f"{COLD_MARK}  changes restart the run; other settings apply live."

#: Which section shows which top-level field, in order. The "Task" section holds the family
#: combo box, the family's own fields and the "Resample tasks" button.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Algorithm", ("algorithm", "outer_optimizer", "theta0")),
    ("Inner loop", ("inner_lr", "inner_steps")),
    ("Outer loop", ("outer_lr", "meta_batch")),
    ("iMAML", ("imaml_lambda", "cg_steps", "cg_damping", "cg_tol")),
    ("TR-MAML", ("tr_lr",)),
    ("TreeMAML", ("tree_clusters", "tree_thresholds", "tree_first_order")),
    ("B-SMALL", ("bsmall_lambda", "bsmall_log_sigma0", "bsmall_noise")),
    ("MetaNAS", ("metanas_ops", "metanas_temperature", "metanas_inner_optimizer",
                 "metanas_arch_outer_lr", "metanas_warmup", "metanas_prune",
                 "metanas_prune_every")),
    ("iTAML", ("itaml_variant", "itaml_memory", "itaml_decay", "itaml_session_steps",
               "itaml_batch")),
    ("Task", ()),
    ("Run", ("seed", "device", "dtype", "record_paths", "record_every", "record_task_grads")),
)
#: Fields with no editor: the length of a headless run means nothing in the window.
NOT_SHOWN = frozenset({"steps"})
#: Text of the check box that sets a nullable integer to null.
NULL_TEXT = {"meta_batch": "all tasks", "itaml_batch": "all session data"}

#: The task family is the ``family`` key of ``task``, not a Field of any table; this one
#: only gives the combo box its label and tooltip (choices and default come from the registry).
FAMILY_FIELD = Field(
    "family", "choice", DEFAULT_FAMILY,
    "The kind of tasks meta-learned. Each family has its own parameters, listed below it; "
    "choosing a family starts from its defaults.",
    label="task family", choices=tuple(FAMILIES), group="task",
)
#: Hot settings some algorithm reads (per-algorithm ``uses``); the others never grey out.
ALGORITHM_SETTINGS = frozenset(name for cls in ALGORITHMS.values() for name in cls.uses)
_TOP_FIELDS = {f.name: f for f in FIELDS}


class ParameterPanel(QWidget):
    """Every setting of a :class:`Config`, grouped in sections, validated before it is sent.

    Hot settings are sent as the user changes them (a slider drag once, on release); cold
    ones are marked with :data:`COLD_MARK` because they restart the run. After sending, the
    panel expects the owner to call :meth:`set_config` with the config actually applied.

    Parameters
    ----------
    config
        The configuration shown first.
    parent
        The Qt parent.
    """

    changes_requested = Signal(dict)
    """Validated changes the user committed: {"inner_lr": 0.05} or {"task.n_points": 40}; hot and cold keys may appear."""
    resample_requested = Signal()
    """The user asked for new random tasks (the lead handles it by bumping the seed)."""

    def __init__(self, config: Config, parent: QWidget | None = None):
        super().__init__(parent)
        self._config = config
        self._shown_config: Config | None = None
        self._family_shown: str | None = None
        self._editors: dict[str, FieldEditor] = {}
        self._labels: dict[str, QWidget] = {}
        self._sections: dict[str, QGroupBox] = {}
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinAndMaxSize)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        legend.setToolTip("Settings marked ↻ restart the run from θ₀ (history cleared) when changed.\n"
                          "Unmarked settings change a running session at the next step.")
        layout.addWidget(legend)
        self.legend = legend

        placed = {name for _title, names in SECTIONS for name in names} | NOT_SHOWN
        unplaced = tuple(f.name for f in FIELDS if f.name not in placed)  # fields added later
        for title, names in SECTIONS:
            box = QGroupBox(title)
            self._sections[title] = box
            layout.addWidget(box)
            if title == "Task":
                self._build_task_section(box)
                continue
            form = _form(box)
            for name in names + (unplaced if title == "Run" else ()):
                self._add_row(form, _TOP_FIELDS[name], name)
        layout.addStretch(1)
        self._show(config, force=True)

    # --- public API -------------------------------------------------------------------------
    def config(self) -> Config:
        """The configuration currently shown (including changes sent but not yet confirmed)."""
        return self._config

    def set_config(self, config: Config) -> None:
        """Show ``config`` without emitting anything.

        Called after every applied change, preset load or θ drag. An editor holding a refused
        value keeps it (and its message) as long as that field's value did not change.
        """
        self._config = config
        self._show(config)

    def editor(self, name: str) -> FieldEditor:
        """The editor of a field: ``"inner_lr"``, ``"task.n_points"`` or ``"task.family"``."""
        try:
            return self._editors[name]
        except KeyError:
            raise KeyError(f"no editor for {name!r} (known: {', '.join(self._editors)})") from None

    def label(self, name: str) -> QWidget:
        """The label of a field's row (a check box's own text for booleans)."""
        return self._labels[name]

    def section(self, title: str) -> QGroupBox:
        """A section's group box by title ("Algorithm", "Inner loop", …, "Task", "Run")."""
        return self._sections[title]

    # --- building ---------------------------------------------------------------------------
    def _build_task_section(self, box: QGroupBox) -> None:
        self._task_layout = QVBoxLayout(box)
        self._task_layout.setContentsMargins(8, 4, 8, 8)
        family_form = QFormLayout()
        _style_form(family_form)
        self._task_layout.addLayout(family_form)
        choices = [Choice(name, cls.label, cls.description) for name, cls in FAMILIES.items()]
        self._add_row(family_form, FAMILY_FIELD, "task.family", choices=choices, show_note=True)
        self._family_box = QWidget()
        self._task_layout.addWidget(self._family_box)
        self.resample_button = QPushButton("Resample tasks")
        self.resample_button.setToolTip(
            "Draw new random tasks and data (the seed moves on; fixed values such as listed "
            "optima stay). Restarts the run.")
        self.resample_button.clicked.connect(self.resample_requested)
        self._task_layout.addWidget(self.resample_button)

    def _build_family_fields(self, family: str) -> None:
        """Replace the rows of the previous family's fields by ``family``'s."""
        for key in [k for k in self._editors if k.startswith("task.") and k != "task.family"]:
            del self._editors[key]
            del self._labels[key]
        old = self._family_box
        self._family_box = QWidget()
        form = _form(self._family_box, margins=False)
        for field in FAMILIES[family].fields:
            self._add_row(form, field, f"task.{field.name}")
        self._task_layout.replaceWidget(old, self._family_box)
        old.hide()
        old.deleteLater()
        self._family_shown = family

    def _add_row(self, form: QFormLayout, field: Field, key: str,
                 choices: list[Choice] | None = None, show_note: bool = False) -> None:
        if choices is None:
            choices = self._choices_for(key)
            show_note = key == "algorithm"
        editor = make_editor(field, key, choices=choices, null_text=NULL_TEXT.get(key, "auto"),
                             show_note=show_note)
        title = field.title if field.hot else f"{field.title}  {COLD_MARK}"
        if isinstance(editor, BoolEditor):
            editor.check.setText(title)
            label: QWidget = editor.check
            form.addRow(editor)
        else:
            label = QLabel(title)  # not word-wrapped: a wrapped QLabel breaks at ~half width
            label.setBuddy(editor.inputs()[0])
            form.addRow(label, editor)
        tooltip = field.tooltip()
        label.setToolTip(tooltip)
        editor.set_tooltip(tooltip)
        editor.value_committed.connect(partial(self._on_value_committed, editor))
        self._editors[key] = editor
        self._labels[key] = label

    @staticmethod
    def _choices_for(key: str) -> list[Choice] | None:
        if key == "algorithm":
            return [Choice(name, cls.label, cls.summary) for name, cls in ALGORITHMS.items()]
        if key == "device":
            return [Choice(d.name, d.name, d.reason, d.available) for d in list_devices()]
        return None

    # --- showing ----------------------------------------------------------------------------
    def _show(self, config: Config, source: FieldEditor | None = None, force: bool = False) -> None:
        """Bring every editor (except ``source``, which shows what the user just entered) to ``config``."""
        previous = self._shown_config
        if config.family != self._family_shown:
            self._build_family_fields(config.family)
            force = True
        for key, editor in self._editors.items():
            if editor is source:
                continue
            value = _value(config, key)
            if not force and editor.has_pending_input() and previous is not None \
                    and _value(previous, key, missing=object()) == value:
                continue  # keep the user's refused entry until they fix it or the value moves
            shown, hint = self._display_value(config, key, editor, value)
            editor.show_value(shown, hint, force=force)
        self._update_availability(config)
        self._shown_config = config

    def _display_value(self, config: Config, key: str, editor: FieldEditor,
                       value: Any) -> tuple[Any, Any]:
        """What a nullable editor shows: "auto" is ticked whenever null gives this very config."""
        if not isinstance(editor, NullableIntEditor):
            return value, None
        if value is None:
            return None, _null_resolves_to(config, key)
        try:
            same = config.with_changes({key: None}) == config
        except ConfigError:
            same = False
        return (None, value) if same else (value, None)

    def _update_availability(self, config: Config) -> None:
        """Grey out the hot settings the chosen algorithm does not read, saying why."""
        algorithm = ALGORITHMS[config.algorithm]
        uses = set(algorithm.uses)
        reads = ", ".join(_TOP_FIELDS[name].title for name in algorithm.uses)
        for name in ALGORITHM_SETTINGS & set(self._editors):
            used = name in uses
            tooltip = _TOP_FIELDS[name].tooltip()
            if not used:
                tooltip = (f"Not used by {algorithm.label}, which reads only: {reads}.\n\n"
                           f"{tooltip}")
            for widget in (self._editors[name], self._labels[name]):
                widget.setEnabled(used)
            self._editors[name].set_tooltip(tooltip)
            self._labels[name].setToolTip(tooltip)
        for title, names in SECTIONS:
            specific = [n for n in names if n in ALGORITHM_SETTINGS]
            unused = bool(specific) and not any(n in uses for n in specific)
            self._sections[title].setEnabled(not unused)  # greys the title too
            self._sections[title].setToolTip(f"Not used by {algorithm.label}." if unused else "")

    # --- committing -------------------------------------------------------------------------
    def _on_value_committed(self, editor: FieldEditor, value: Any) -> None:
        fallbacks = _family_switch_fallbacks(value) if editor.key == "task.family" else []
        self._request({editor.key: value}, editor, fallbacks)

    def _request(self, changes: dict[str, Any], editor: FieldEditor,
                 fallbacks: list[Mapping[str, Any]] = ()) -> None:
        """Validate ``changes`` against the current config; emit them, or show why not."""
        try:
            new = self._config.with_changes(changes)
        except ConfigError as first_error:
            for extra in fallbacks:
                try:  # dict order matters: task.family first, as it resets the task
                    new = self._config.with_changes({**changes, **extra})
                except ConfigError:
                    continue
                changes = {**changes, **extra}
                break
            else:
                self._refuse(editor, first_error)
                return
        editor.set_error(None)
        if new == self._config:
            return
        self._config = new
        self._show(new, source=editor)
        self.changes_requested.emit(changes)

    def _refuse(self, editor: FieldEditor, error: ConfigError) -> None:
        if editor.reverts_on_error:  # a combo or check box: show the value still in force
            value = _value(self._config, editor.key)
            editor.show_value(*self._display_value(self._config, editor.key, editor, value),
                              force=True)
        editor.set_error(str(error))


def _family_switch_fallbacks(family: str) -> list[dict[str, Any]]:
    """Extra changes tried, fewest first, when a family switch alone does not validate.

    θ₀ and the meta-batch often do not fit another family, and TR-MAML needs a fixed task
    pool: rather than refuse the switch, reset those (the emitted dict lists every change).
    """
    extras: list[dict[str, Any]] = [{"theta0": None}, {"meta_batch": None}]
    if any(f.name == "fixed_tasks" for f in FAMILIES[family].fields):
        extras.append({"task.fixed_tasks": True})
    fallbacks = []
    for size in range(1, len(extras) + 1):
        for combination in combinations(extras, size):
            fallbacks.append({k: v for extra in combination for k, v in extra.items()})
    return fallbacks


def _form(parent: QWidget, margins: bool = True) -> QFormLayout:
    form = QFormLayout(parent)
    _style_form(form)
    if not margins:
        form.setContentsMargins(0, 0, 0, 0)
    return form


def _style_form(form: QFormLayout) -> None:
    # Labels above their editors: long labels such as "largest eigenvalue ↻" are never
    # clipped in a ~320 px dock, and editors get the full width.
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setVerticalSpacing(4)


def _value(config: Config, key: str, missing: Any = None) -> Any:
    """A field's value as plain JSON-like data (lists, not tuples) by its dotted key."""
    if key.startswith("task."):
        value = config.task.get(key[len("task."):], missing)
    else:
        value = getattr(config, key, missing)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _null_resolves_to(config: Config, key: str) -> int | None:
    """The number a null field stands for, where known (the meta-batch: every task)."""
    if key == "meta_batch":
        family = make_family(config)
        pool = family.pool_size()
        return pool if pool is not None else family.tasks_per_step()
    return None


__all__ = ["COLD_MARK", "LEGEND", "ParameterPanel", "SECTIONS"]
