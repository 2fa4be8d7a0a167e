"""File and Presets menus: open/save sessions, recent sessions, presets, the window title."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from maml_gui.core.config import ConfigError
from maml_gui.presets import load_preset, preset_names
from maml_gui.runtime.session_file import Session, SessionError, read_session, write_session
from maml_gui.widgets.folders import last_folder, remember_folder

if TYPE_CHECKING:
    from maml_gui.widgets.main_window import MainWindow

MAX_RECENT = 8
SESSION_FILTER = ("maml-gui sessions (*.json);;"
                  "Exported figures, animations and data (*.png *.svg *.pdf *.gif *.mp4 *.csv *.npz);;"
                  "All files (*)")


class SessionActions(QObject):
    """Owns the session file name, the File/Presets menus and the unsaved-changes mark."""

    def __init__(self, window: MainWindow, settings: QSettings | None):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.path: Path | None = None
        self.name = "untitled"
        file_menu = window.menuBar().addMenu("&File")
        self.open_action = self._action(file_menu, "&Open session…", QKeySequence.StandardKey.Open,
                                        self._on_open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.save_action = self._action(file_menu, "&Save session", QKeySequence.StandardKey.Save,
                                        self._on_save)
        self.save_as_action = self._action(file_menu, "Save session &as…",
                                           QKeySequence("Ctrl+Shift+S"), self._on_save_as)
        self.file_menu = file_menu
        presets = window.menuBar().addMenu("&Presets")
        for name in preset_names():
            preset = load_preset(name)
            action = presets.addAction(preset.title)
            action.setToolTip(preset.description)
            action.setStatusTip(preset.description)
            action.triggered.connect(lambda _checked=False, n=name: self.apply_preset(n))
        presets.setToolTipsVisible(True)
        self.presets_menu = presets
        self._rebuild_recent()
        window.controller.config_applied.connect(self._on_config_applied)
        self.set_modified(False)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    # --- title --------------------------------------------------------------------------
    def set_modified(self, modified: bool) -> None:
        self.window.setWindowTitle(f"{self.name}[*] — maml-gui")
        self.window.setWindowModified(modified)

    @Slot(object)
    def _on_config_applied(self, _config) -> None:
        self.set_modified(True)

    # --- sessions -----------------------------------------------------------------------
    def open_session(self, path: str | Path) -> bool:
        """Load a session; on any problem say so and leave the current session untouched."""
        path = Path(path)
        try:
            session = read_session(path)
        except SessionError as exc:
            self.window.show_error(f"Could not open the session: {exc}")
            return False
        self.window.apply_session(session)
        self.path, self.name = path, path.stem
        self._remember(path)
        self.set_modified(False)
        self.window.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def save(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path is not None else self.path
        if target is None:
            return self._on_save_as()
        try:
            write_session(target, self.window.collect_session())
        except OSError as exc:
            self.window.show_error(f"Could not save the session to {target}: "
                                   f"{getattr(exc, 'strerror', None) or exc}")
            return False
        self.path, self.name = target, target.stem
        self._remember(target)
        self.set_modified(False)
        self.window.statusBar().showMessage(f"Saved {target}", 5000)
        return True

    def apply_preset(self, name: str) -> bool:
        try:
            preset = load_preset(name)
        except (ConfigError, SessionError, ValueError) as exc:
            self.window.show_error(f"Could not load the preset {name!r}: {exc}")
            return False
        self.window.apply_session(Session(preset.config, preset.view))
        self.path, self.name = None, preset.name
        self.set_modified(False)
        self.window.show_intro(preset.title, preset.description)
        return True

    @Slot()
    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", self._folder(),
                                              SESSION_FILTER)
        if path:
            remember_folder(self.settings, path)
            self.open_session(path)

    @Slot()
    def _on_save(self) -> None:
        self.save()

    @Slot()
    def _on_save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session as",
                                              str(Path(self._folder()) / f"{self.name}.json"),
                                              SESSION_FILTER)
        if path:
            remember_folder(self.settings, path)
        return self.save(path) if path else False

    def _folder(self) -> str:
        return str(self.path.parent) if self.path is not None else str(last_folder(self.settings))

    # --- recent -------------------------------------------------------------------------
    def recent(self) -> list[str]:
        if self.settings is None:
            return []
        value = self.settings.value("session/recent") or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def _remember(self, path: Path) -> None:
        if self.settings is None:
            return
        entries = [str(path.resolve())] + [p for p in self.recent() if p != str(path.resolve())]
        self.settings.setValue("session/recent", entries[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        entries = self.recent()
        for entry in entries:
            action = self.recent_menu.addAction(Path(entry).name)
            action.setToolTip(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.open_session(p))
        self.recent_menu.setEnabled(bool(entries))
