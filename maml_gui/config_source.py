"""A config from any file maml-gui writes: a config, session, trace, figure, animation or data.

``--config`` of ``run``, ``landscape``, ``export`` and the window (``--screenshot`` included)
all come here, so each accepts the same files; every file is read through
:mod:`maml_gui.core.safe_read`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maml_gui.core.config import Config, ConfigError, config_from_json
from maml_gui.core.safe_read import (
    MAX_CONFIG_BYTES, InputFileError, open_regular, parse_json, read_json,
)
from maml_gui.view import WindowState

EXPORT_SUFFIXES = (".png", ".svg", ".pdf", ".gif", ".mp4", ".csv", ".npz")
TRACE_STEPS_MARK = b'\n "steps": ['  # where a streamed JSON trace's header ends


@dataclass(frozen=True)
class ConfigSource:
    """The config a file holds and the view it was drawn with (the default view if none)."""

    config: Config
    view: WindowState = field(default_factory=WindowState)


def load_config_source(path: str | Path) -> ConfigSource:
    """The config (and view) of ``path``; :class:`ConfigError` naming the file otherwise."""
    from maml_gui.runtime.session_file import SESSION_FORMAT, SessionError, read_view

    path = Path(path)
    if path.suffix.lower() in EXPORT_SUFFIXES:
        from maml_gui.export import ExportError
        from maml_gui.export.data import read_embedded_session

        try:
            data, view = read_embedded_session(path)
        except ExportError as exc:
            raise ConfigError("config", str(path), str(exc)) from None
        return ConfigSource(config_from_json(data, str(path)), view)
    data = _read_json_config(path)
    view = WindowState()
    if isinstance(data, dict) and data.get("format") == SESSION_FORMAT:
        try:
            view = read_view(data.get("view", {}))
        except SessionError as exc:
            raise ConfigError("config", str(path), str(exc)) from None
    return ConfigSource(config_from_json(data, str(path)), view)


def _read_json_config(path: Path) -> Any:
    """A JSON config file; of a JSON trace larger than a config may be, only the header
    (traces are streamed with the config first, so any trace works as a config)."""
    try:
        return read_json(path, what="config")
    except InputFileError as exc:
        try:
            with open_regular(path, limit=2**62, what="config") as handle:
                head = handle.read(MAX_CONFIG_BYTES)
        except InputFileError:
            raise ConfigError("config", str(path), str(exc)) from None
        end = head.find(TRACE_STEPS_MARK)
        if not head.startswith(b'{\n "format": "maml-gui-trace"') or end < 0:
            raise ConfigError("config", str(path), str(exc)) from None
        try:
            return parse_json(head[:end].rstrip(b", \n") + b"\n}", f"trace {path.name}")
        except InputFileError as header_exc:
            raise ConfigError("config", str(path), str(header_exc)) from None


__all__ = ["ConfigSource", "EXPORT_SUFFIXES", "load_config_source"]
