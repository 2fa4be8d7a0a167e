"""One small editor widget per kind of :class:`~maml_gui.core.config.Field`.

Every editor takes its range, choices and nullability from the field itself, so nothing
written in the field table is repeated here. An editor only turns user input into a value
and emits :attr:`FieldEditor.value_committed`; the parameter panel validates that value
against the whole configuration and calls :meth:`FieldEditor.set_error` when it is refused.

:func:`make_editor` picks the editor for a field:

============================  ==================================================
field                         editor
============================  ==================================================
choice (or explicit choices)  :class:`ChoiceEditor` (a combo box)
bool                          :class:`BoolEditor` (a check box)
int                           :class:`IntEditor` (a spin box)
nullable int                  :class:`NullableIntEditor` ("auto" box + spin box)
float with ``log_scale``      :class:`LogFloatEditor` (log slider + spin box)
other float                   :class:`FloatEditor` (spin box, ``%g`` notation)
str                           :class:`TextEditor` (a line edit)
lists, matrices, ranges, ...  :class:`JsonEditor` (a line edit holding JSON)
============================  ==================================================
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QLineEdit,
    QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from maml_gui.core.config import Field

ERROR_COLOUR = "#c62828"
_FRAME_GAP = 2  # px between the (possibly red) frame and the inputs
_ERROR_FRAME_STYLE = (f"QFrame#fieldInputs {{ border: {_FRAME_GAP}px solid {ERROR_COLOUR}; "
                      "border-radius: 3px; }")
#: Lowest value a log-scale slider reaches when the field allows 0 (the spin box still can).
LOG_FLOOR = 1e-5
_INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
_FLOAT_LIMIT = 1e300
_PARTIAL_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?\d*)?$")


def _significant(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits (slider positions give round numbers)."""
    return float(f"{value:.{digits}g}")


class _WheelGuard:
    """Mixin: ignore the mouse wheel unless the widget has focus.

    The panel lives in a scroll area; without this, scrolling the panel would change
    whatever spin box, combo box or slider passes under the pointer.
    """

    def wheelEvent(self, event):  # noqa: N802 (Qt override)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area scrolls instead


class _FieldRange:
    """Mixin for spin boxes: arrows stay inside the field's range, typing may leave it.

    The spin box's own range is much wider than the field's, so that a typed value out of
    range is not silently clamped or dropped by Qt but reaches the panel's validation, which
    refuses it with a message naming the field and its range.
    """

    _low = -math.inf
    _high = math.inf

    def set_field_range(self, low: float | None, high: float | None) -> None:
        self._low = -math.inf if low is None else low
        self._high = math.inf if high is None else high

    def field_range(self) -> tuple[float, float]:
        """The (inclusive) range that stepping keeps to."""
        return self._low, self._high

    def clamp(self, value: float) -> float:
        """``value`` moved into the field's range."""
        return min(max(value, self._low), self._high)

    def stepEnabled(self):  # noqa: N802 (Qt override)
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() < self._high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > self._low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


class _SpinBox(_WheelGuard, _FieldRange, QSpinBox):
    """An integer spin box over the field's range (see :class:`_FieldRange`)."""

    def __init__(self, field: Field, parent: QWidget | None = None):
        super().__init__(parent)
        self.setRange(-_INT_LIMIT, _INT_LIMIT)
        self.set_field_range(field.low, field.high)
        self.setKeyboardTracking(False)  # typing "40" commits once, on Enter or focus loss
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccelerated(True)

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt override)
        self.setValue(int(self.clamp(self.value() + steps * self.singleStep())))


class _ComboBox(_WheelGuard, QComboBox):
    pass


class _Slider(_WheelGuard, QSlider):
    pass


class ScientificSpinBox(_WheelGuard, _FieldRange, QDoubleSpinBox):
    """A double spin box that shows and accepts ``%g`` notation (``1e-10``, ``0.05``, ``250``).

    A plain ``QDoubleSpinBox`` rounds to a fixed number of decimals, which cannot hold both
    ``cg_tol = 1e-10`` and ``λ = 1e6``. Stepping is relative to the value's magnitude
    (×10^0.1 per step on log-scale fields, one unit of the second significant digit otherwise).

    Parameters
    ----------
    field
        The field edited: its range bounds stepping (see :class:`_FieldRange`).
    zero_step
        The first step up from 0.
    """

    def __init__(self, field: Field, zero_step: float = 0.1, parent: QWidget | None = None):
        super().__init__(parent)
        self._log_scale = field.log_scale
        self._zero_step = zero_step
        self.setRange(-_FLOAT_LIMIT, _FLOAT_LIMIT)
        self.set_field_range(field.low, field.high)
        self.setDecimals(300)  # keep full precision; the text is formatted by textFromValue
        self.setKeyboardTracking(False)  # typing "0.05" commits once, on Enter or focus loss
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccelerated(True)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.10g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt override)
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D102 (Qt override)
        stripped = text.strip()
        try:
            number = float(stripped)
        except ValueError:
            partial = _PARTIAL_NUMBER.match(stripped) is not None
            state = QValidator.State.Intermediate if partial else QValidator.State.Invalid
            return state, text, pos
        if not math.isfinite(number):
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= number <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt override)
        value = self.value()
        if value == 0.0:
            new = self._zero_step * steps if steps > 0 else 0.0
        elif self._log_scale and value > 0:
            new = _significant(value * 10 ** (0.1 * steps))
        else:
            magnitude = 10 ** (math.floor(math.log10(abs(value))) - 1)
            new = float(f"{value + steps * magnitude:.12g}")
        self.setValue(self.clamp(new))


class FieldEditor(QWidget):
    """Base class: one field's input widget(s) above a (normally hidden) error message.

    Parameters
    ----------
    field
        The field edited.
    key
        The name used in change dicts: ``"inner_lr"`` or ``"task.n_points"``.
    """

    value_committed = Signal(object)
    """The user committed a new value (not yet validated against the rest of the config)."""

    #: Whether a refused value is taken back (combo boxes, check boxes) rather than kept for fixing.
    reverts_on_error = False

    def __init__(self, field: Field, key: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = field
        self.key = key
        self._shown: Any = object()  # nothing shown yet
        self._error = ""
        # The inputs sit in a frame that turns red on error: styling the inputs themselves
        # would replace their native look (spin-box arrows shrink, sliders lose their groove).
        self._frame = QFrame()
        self._frame.setObjectName("fieldInputs")
        self._row = QHBoxLayout(self._frame)
        self._row.setContentsMargins(_FRAME_GAP, _FRAME_GAP, _FRAME_GAP, _FRAME_GAP)
        self._error_label = QLabel()
        self._error_label.setWordWrap(True)
        self._error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self._error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._frame)
        layout.addWidget(self._error_label)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    # --- for subclasses -------------------------------------------------------------------
    def inputs(self) -> list[QWidget]:
        """The widgets the user types or clicks into (each gets the field's tooltip)."""
        raise NotImplementedError

    def _display(self, value: Any, hint: Any) -> None:
        """Show ``value`` with every input's signals blocked."""
        raise NotImplementedError

    def _commit(self, value: Any) -> None:
        self.value_committed.emit(value)

    # --- public -------------------------------------------------------------------------
    def show_value(self, value: Any, hint: Any = None, force: bool = False) -> None:
        """Show ``value`` without emitting anything, and clear any error.

        Parameters
        ----------
        value
            The field's value in the config (already validated).
        hint
            Extra information some editors show (the resolved number behind "auto").
        force
            Redraw even when ``value`` is what the editor last showed.
        """
        if not force and (value, hint) == self._shown and not self._error:
            return
        self._shown = (value, hint)
        for widget in self.inputs():
            widget.blockSignals(True)
        try:
            self._display(value, hint)
        finally:
            for widget in self.inputs():
                widget.blockSignals(False)
        self.set_error(None)

    def set_error(self, message: str | None) -> None:
        """Show ``message`` under the editor with a red border, or clear both (``None``)."""
        self._error = message or ""
        self._error_label.setText(self._error)
        self._error_label.setVisible(bool(self._error))
        self._frame.setStyleSheet(_ERROR_FRAME_STYLE if self._error else "")

    def error(self) -> str:
        """The error message shown, or ``""``."""
        return self._error

    def has_pending_input(self) -> bool:
        """True while the editor shows something the config does not hold (a refused value)."""
        return bool(self._error)

    def set_tooltip(self, text: str) -> None:
        """Give the editor and each of its inputs the same tooltip."""
        self.setToolTip(text)
        for widget in self.inputs():
            widget.setToolTip(text)


class IntEditor(FieldEditor):
    """An integer in the field's range; commits on Enter, focus loss or each arrow step."""

    def __init__(self, field: Field, key: str, parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.spin = _SpinBox(field)
        self.spin.valueChanged.connect(self._commit)
        self._row.addWidget(self.spin, 1)

    def inputs(self) -> list[QWidget]:
        return [self.spin]

    def _display(self, value: Any, hint: Any) -> None:
        self.spin.setValue(int(value))


class NullableIntEditor(FieldEditor):
    """An integer or null: an "auto"/"all tasks" check box beside a spin box.

    While the box is checked the spin box is disabled and shows ``hint``, the number null
    currently resolves to (when the panel knows it).
    """

    def __init__(self, field: Field, key: str, null_text: str = "auto",
                 parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.null_check = QCheckBox(null_text)
        self.spin = _SpinBox(field)
        self.spin.valueChanged.connect(self._on_spin_changed)
        self.null_check.toggled.connect(self._on_null_toggled)
        self._row.addWidget(self.null_check)
        self._row.addWidget(self.spin, 1)

    def inputs(self) -> list[QWidget]:
        return [self.null_check, self.spin]

    def _display(self, value: Any, hint: Any) -> None:
        self.null_check.setChecked(value is None)
        self.spin.setEnabled(value is not None)
        shown = value if value is not None else hint
        if shown is not None:
            self.spin.setValue(int(shown))

    def _on_null_toggled(self, checked: bool) -> None:
        self.spin.setEnabled(not checked)
        self._commit(None if checked else self.spin.value())

    def _on_spin_changed(self, value: int) -> None:
        if not self.null_check.isChecked():
            self._commit(value)


class FloatEditor(FieldEditor):
    """A number in the field's range, typed or stepped, in ``%g`` notation (``1e-10`` works)."""

    def __init__(self, field: Field, key: str, parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.spin = ScientificSpinBox(field, zero_step=_zero_step(field))
        self.spin.valueChanged.connect(self._commit)
        self._row.addWidget(self.spin, 1)

    def inputs(self) -> list[QWidget]:
        return [self.spin]

    def _display(self, value: Any, hint: Any) -> None:
        self.spin.setValue(float(value))


class LogFloatEditor(FieldEditor):
    """A learning rate or similar: a log10 slider plus a spin box.

    The slider spans :attr:`DECADES` decades of the field's range (at most), with
    :attr:`STEPS_PER_DECADE` positions a decade, and rounds to 3 significant digits: over the
    whole range (1e-5 … 100, seven decades) a 150 px slider moved α from 0.1 to 7.9 in 40 px.
    The span starts at :attr:`WINDOW_LOW` and moves by whole decades when a value outside it is
    shown (typed in the spin box, loaded from a preset), so the slider always covers the
    value; the spin box reaches the whole range (0 included where allowed). A mouse drag
    commits once, on release; keyboard and spin-box changes commit at once.
    """

    STEPS_PER_DECADE = 50
    DECADES = 3
    WINDOW_LOW = 1e-2  # 0.01 … 10: where the learning rates of these tasks live

    def __init__(self, field: Field, key: str, parent: QWidget | None = None):
        super().__init__(field, key, parent)
        low = field.low if field.low is not None and field.low > 0 else LOG_FLOOR
        high = field.high if field.high is not None else 1e6
        self._range_low = math.log10(max(low, LOG_FLOOR))
        self._range_high = math.log10(high)
        self.slider = _Slider(Qt.Orientation.Horizontal)
        self.slider.setSingleStep(self.STEPS_PER_DECADE // 10)
        self.slider.setPageStep(self.STEPS_PER_DECADE)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(self.STEPS_PER_DECADE)  # a tick per decade
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._set_window(math.log10(self.WINDOW_LOW))
        self.spin = ScientificSpinBox(field, zero_step=10 ** self._range_low)
        self.spin.setMinimumWidth(80)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.slider.sliderReleased.connect(self._on_slider_released)
        self.spin.valueChanged.connect(self._on_spin_changed)
        self._row.addWidget(self.slider, 3)
        self._row.addWidget(self.spin, 2)

    def inputs(self) -> list[QWidget]:
        return [self.slider, self.spin]

    def _set_window(self, log_low: float) -> None:
        """Let the slider span DECADES decades from ``log_low`` (kept inside the field's range)."""
        span = min(self.DECADES, self._range_high - self._range_low)
        self._log_low = min(max(log_low, self._range_low), self._range_high - span)
        self._log_high = self._log_low + span
        self.slider.setRange(0, round(span * self.STEPS_PER_DECADE))
        low, high = 10 ** self._log_low, 10 ** self._log_high
        self.slider.setToolTip(f"{_significant(low):g} … {_significant(high):g} (log scale); "
                               "type any other value in the box")

    def _cover(self, value: float) -> None:
        """Move the slider's span by whole decades until it covers ``value``."""
        if value <= 0:
            return
        log_value = math.log10(value)
        if log_value < self._log_low - 1e-9:
            self._set_window(math.floor(log_value))
        elif log_value > self._log_high + 1e-9:
            self._set_window(math.ceil(log_value) - (self._log_high - self._log_low))

    def position_of(self, value: float) -> int:
        """Slider position showing ``value`` (values at or below the floor sit at the left end)."""
        if value <= 0:
            return 0
        position = round((math.log10(value) - self._log_low) * self.STEPS_PER_DECADE)
        return min(max(position, 0), self.slider.maximum())

    def value_at(self, position: int) -> float:
        """The (rounded) value at a slider position."""
        value = _significant(10 ** (self._log_low + position / self.STEPS_PER_DECADE))
        return self.spin.clamp(value)

    def _display(self, value: Any, hint: Any) -> None:
        self.spin.setValue(float(value))
        self._cover(float(value))
        self.slider.setValue(self.position_of(float(value)))

    def _on_slider_changed(self, position: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self.value_at(position))
        self.spin.blockSignals(False)
        if not self.slider.isSliderDown():  # keys, clicks on the groove: apply now
            self._commit(self.spin.value())

    def _on_slider_released(self) -> None:
        self._commit(self.spin.value())

    def _on_spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self._cover(value)
        self.slider.setValue(self.position_of(value))
        self.slider.blockSignals(False)
        self._commit(value)


@dataclass(frozen=True)
class Choice:
    """One entry of a :class:`ChoiceEditor`: the value stored, the text shown, its tooltip."""

    value: str
    text: str = ""
    tooltip: str = ""
    enabled: bool = True


class ChoiceEditor(FieldEditor):
    """A combo box over ``choices``; disabled entries stay visible with their reason as tooltip.

    Parameters
    ----------
    choices
        The entries; defaults to the field's own ``choices``.
    show_note
        Show the current entry's tooltip (an algorithm's summary, a family's description)
        as a wrapped line under the combo box.
    """

    reverts_on_error = True

    def __init__(self, field: Field, key: str, choices: Sequence[Choice] | None = None,
                 show_note: bool = False, parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.combo = _ComboBox()
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(8)
        self.model = QStandardItemModel(self.combo)
        self.combo.setModel(self.model)
        for choice in choices if choices is not None else [Choice(c) for c in field.choices]:
            self._add(choice)
        self.combo.currentIndexChanged.connect(self._on_index_changed)
        self._row.addWidget(self.combo, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        self.note.setVisible(show_note)
        self._show_note = show_note
        self.layout().insertWidget(1, self.note)

    def _add(self, choice: Choice) -> QStandardItem:
        item = QStandardItem(choice.text or choice.value)
        item.setData(choice.value, Qt.ItemDataRole.UserRole)
        if choice.tooltip:
            item.setToolTip(choice.tooltip)
        if not choice.enabled:
            item.setFlags(item.flags() & ~(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable))
        self.model.appendRow(item)
        return item

    def inputs(self) -> list[QWidget]:
        return [self.combo]

    def item(self, value: str) -> QStandardItem | None:
        """The model item of ``value``, or None."""
        for row in range(self.model.rowCount()):
            item = self.model.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == value:
                return item
        return None

    def values(self) -> list[str]:
        """Every value offered, in order (enabled or not)."""
        return [self.model.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.model.rowCount())]

    def current_value(self) -> str:
        return self.combo.currentData(Qt.ItemDataRole.UserRole)

    def select(self, value: str) -> None:
        """Choose ``value`` as the user would (emits when it is a change)."""
        item = self.item(value)
        if item is None:
            raise KeyError(f"{self.key} offers no {value!r}")
        self.combo.setCurrentIndex(item.row())

    def _display(self, value: Any, hint: Any) -> None:
        item = self.item(value)
        if item is None:  # e.g. a session file naming cuda:3 on a machine without it
            item = self._add(Choice(value, tooltip="not offered on this machine", enabled=False))
        self.combo.setCurrentIndex(item.row())
        self._update_note()

    def _update_note(self) -> None:
        if self._show_note:
            item = self.item(self.current_value())
            self.note.setText(item.toolTip() if item is not None else "")

    def _on_index_changed(self, index: int) -> None:
        self._update_note()
        self._commit(self.current_value())


class BoolEditor(FieldEditor):
    """A check box; its own text is the field's label (the panel gives it no separate label)."""

    reverts_on_error = True

    def __init__(self, field: Field, key: str, text: str = "", parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.check = QCheckBox(text or field.title)
        self.check.toggled.connect(self._commit)
        self._row.addWidget(self.check, 1)

    def inputs(self) -> list[QWidget]:
        return [self.check]

    def _display(self, value: Any, hint: Any) -> None:
        self.check.setChecked(bool(value))


_PLACEHOLDERS = {
    "vector": "[x₁, x₂, …]",
    "range": "[low, high]",
    "ints": "[n₁, n₂, …]",
    "points": "[[x, y], …]",
    "pointsets": "[[[x, y], …], …]",
    "matrices": "[[[a, b], [c, d]], …]",
}


class JsonEditor(FieldEditor):
    """A line edit holding the value as JSON; empty means null where the field allows it.

    Commits on Enter or focus loss; malformed JSON is reported here, with its position.
    """

    def __init__(self, field: Field, key: str, parent: QWidget | None = None):
        super().__init__(field, key, parent)
        self.line_edit = QLineEdit()
        self.line_edit.setMaxLength(50_000_000)  # the default 32767 would cut a long θ₀
        if field.nullable:
            self.line_edit.setPlaceholderText(f"empty: {field.null_means or 'null'}")
        else:
            self.line_edit.setPlaceholderText(_PLACEHOLDERS.get(field.kind, "JSON"))
        self.line_edit.setClearButtonEnabled(field.nullable)
        self.line_edit.editingFinished.connect(self._on_editing_finished)
        self._row.addWidget(self.line_edit, 1)

    def inputs(self) -> list[QWidget]:
        return [self.line_edit]

    def has_pending_input(self) -> bool:
        editing = self.line_edit.hasFocus() and self.line_edit.isModified()
        return bool(self._error) or editing

    def text_of(self, value: Any) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False)

    def _display(self, value: Any, hint: Any) -> None:
        self.line_edit.setText(self.text_of(value))
        self.line_edit.setCursorPosition(0)
        self.line_edit.setModified(False)

    def parse(self, text: str) -> Any:
        """The value of ``text``; raises ``ValueError`` with a readable message."""
        text = text.strip()
        if not text:
            if self.field.nullable:
                return None
            raise ValueError(f"{self.key}: a value is required, e.g. {_PLACEHOLDERS.get(self.field.kind, 'JSON')}")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.key}: not valid JSON ({exc.msg} at character {exc.pos + 1}); "
                             f"expected e.g. {_PLACEHOLDERS.get(self.field.kind, 'a JSON value')}") from None
        except RecursionError:  # a pasted value nested thousands deep
            raise ValueError(f"{self.key}: nested too deeply") from None

    def _on_editing_finished(self) -> None:
        try:
            value = self.parse(self.line_edit.text())
        except ValueError as exc:
            self.set_error(str(exc))
            return
        self._commit(value)


class TextEditor(JsonEditor):
    """A line edit holding plain text (``str`` fields)."""

    def text_of(self, value: Any) -> str:
        return "" if value is None else str(value)

    def parse(self, text: str) -> Any:
        text = text.strip()
        return None if not text and self.field.nullable else text


def make_editor(field: Field, key: str, choices: Sequence[Choice] | None = None,
                null_text: str = "auto", show_note: bool = False) -> FieldEditor:
    """The editor for ``field`` (see the module docstring for which kind gets which)."""
    if choices is not None or field.kind == "choice":
        return ChoiceEditor(field, key, choices, show_note=show_note)
    if field.kind == "bool":
        return BoolEditor(field, key)
    if field.kind == "int":
        return NullableIntEditor(field, key, null_text) if field.nullable else IntEditor(field, key)
    if field.kind == "float" and not field.nullable:
        return LogFloatEditor(field, key) if field.log_scale else FloatEditor(field, key)
    if field.kind == "str":
        return TextEditor(field, key)
    return JsonEditor(field, key)


def _zero_step(field: Field) -> float:
    """First step up from 0: the default's order of magnitude (at most 0.1)."""
    default = field.default
    if isinstance(default, (int, float)) and default > 0:
        return min(10.0 ** math.floor(math.log10(default)), 0.1)
    return 0.1


__all__ = [
    "BoolEditor", "Choice", "ChoiceEditor", "FieldEditor", "FloatEditor", "IntEditor",
    "JsonEditor", "LOG_FLOOR", "LogFloatEditor", "NullableIntEditor", "ScientificSpinBox",
    "TextEditor", "make_editor",
]
