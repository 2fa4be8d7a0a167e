"""Where the shipped resources (presets, pseudo-code) live, installed or from a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_dir(*parts: str) -> Path:
    """A folder inside ``resources/`` (shipped as the ``maml_gui.resources`` package)."""
    try:
        root = resources.files("maml_gui.resources")
    except ModuleNotFoundError:  # running from a checkout that was never installed
        root = Path(__file__).resolve().parent.parent / "resources"
    return Path(str(root.joinpath(*parts)))
