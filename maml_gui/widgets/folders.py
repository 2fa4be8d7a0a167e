"""The folder the last Save, Open or Export dialog used: the next dialog starts there."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "files/last_folder"


def last_folder(settings: QSettings | None) -> Path:
    """The remembered folder if it still exists, else the home folder."""
    value = settings.value(KEY) if settings is not None else None
    folder = Path(str(value)) if value else None
    return folder if folder is not None and folder.is_dir() else Path.home()


def remember_folder(settings: QSettings | None, path: str | Path) -> None:
    """Remember the folder of ``path`` (a file chosen in a dialog)."""
    if settings is not None and path:
        settings.setValue(KEY, str(Path(path).resolve().parent))
