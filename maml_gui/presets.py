"""Presets: named scenario files in ``resources/presets/`` (config plus what to show)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from maml_gui.core.config import Config, ConfigError, make_config
from maml_gui.core.safe_read import InputFileError, read_json
from maml_gui.paths import resource_dir
from maml_gui.runtime.session_file import read_view
from maml_gui.view import WindowState


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    config: Config
    view: WindowState = field(default_factory=WindowState)  # what to show (surface, range, ...)


_ARTICLE_NUMBER = re.compile(r"^Article (\d+)\b")


def preset_names() -> list[str]:
    """Preset names in menu order: the article's figures by number, then the others by title."""
    def order(path) -> tuple[int, int, str]:
        try:
            title = str(json.loads(path.read_text(encoding="utf-8")).get("title", ""))
        except (OSError, ValueError, AttributeError):
            title = ""
        match = _ARTICLE_NUMBER.match(title)
        return (0, int(match.group(1)), title) if match else (1, 0, (title or path.stem).casefold())

    return [p.stem for p in sorted(resource_dir("presets").glob("*.json"), key=order)]


def load_preset(name: str) -> Preset:
    """A shipped preset by name; :class:`ConfigError` for a name that is not one of them
    (names, never paths: ``../../x`` is refused before any file is touched)."""
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        raise ConfigError("preset", name, f"unknown preset: choose one of {', '.join(names)}")
    path = resource_dir("presets") / f"{name}.json"
    try:
        data = read_json(path, what="preset")
        return Preset(name=name, title=str(data["title"]), description=str(data["description"]),
                      config=make_config(data["config"]),
                      view=read_view(data.get("view", {}), f"preset {name}: view"))
    except (InputFileError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError("preset", name, f"the preset file is damaged ({exc})") from None
