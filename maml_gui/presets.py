"""Presets: named scenario files in ``resources/presets/`` (config plus what to show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from maml_gui.core.config import Config, ConfigError, make_config
from maml_gui.core.safe_read import InputFileError, read_json
from maml_gui.paths import resource_dir
from maml_gui.runtime.session_file import check_view


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    config: Config
    view: dict[str, Any] = field(default_factory=dict)  # canvas choices (surface, range, ...)


def preset_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("presets").glob("*.json"))


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
                      view=check_view(data.get("view", {}), f"preset {name}: view"))
    except (InputFileError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError("preset", name, f"the preset file is damaged ({exc})") from None
