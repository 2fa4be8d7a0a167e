"""The hand-written package list in pyproject.toml covers every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "maml_gui").rglob("__init__.py")
    }
    assert found | {"maml_gui.resources"} == listed


def test_resources_are_shipped():
    from maml_gui.paths import resource_dir

    assert list(resource_dir("presets").glob("*.json"))
