"""Presets: named scenario files in ``resources/presets/`` (config plus what to show)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from maml_gui.core.config import Config, ConfigError, make_config
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


def preset_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("presets").glob("*.json"))


def load_preset(name: str) -> Preset:
    path = resource_dir("presets") / f"{name}.json"
    if not path.is_file():
        raise ConfigError("preset", name, f"unknown preset: choose one of {', '.join(preset_names())}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return Preset(name=name, title=data["title"], description=data["description"],
                  config=make_config(data["config"]),
                  view=read_view(data.get("view", {}), f"preset {name}: view"))
