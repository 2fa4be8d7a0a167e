"""The thin Qt side of a view state: holds one, replaces it, says what changed.

The state objects (:mod:`maml_gui.view`) know nothing of Qt; a widget binds to a
:class:`ViewModel` the way glue's options widgets bind to a viewer state and napari's Qt
layer subscribes to its models. Every change goes through the state's validation, so an
invalid value never reaches a view.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from maml_gui.view import ViewState


class ViewModel(QObject):
    """Holds a :class:`~maml_gui.view.ViewState` and emits :attr:`changed` when it changes."""

    changed = Signal(object, object)
    """The state was replaced: the new state and the sorted list of the fields that changed."""

    def __init__(self, state: ViewState, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state

    @property
    def state(self) -> ViewState:
        return self._state

    def set_state(self, state: ViewState) -> None:
        """Replace the whole state (e.g. a session was opened)."""
        if type(state) is not type(self._state):
            raise TypeError(f"expected a {type(self._state).__name__}, got {type(state).__name__}")
        old, self._state = self._state.to_json(), state
        names = sorted(name for name, value in state.to_json().items() if old.get(name) != value)
        if names:
            self.changed.emit(state, names)

    def update(self, **changes: Any) -> None:
        """Change some fields (validated: :class:`~maml_gui.view.ViewStateError`)."""
        self.set_state(self._state.replace(**changes))
