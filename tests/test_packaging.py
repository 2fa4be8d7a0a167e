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


def test_version_is_printed_from_a_checkout_and_is_the_one_setuptools_builds(capsys):
    """The tests run from the checkout, where no package metadata exists: ``--version`` must
    not need it, and must print what an installed copy would report."""
    from importlib.metadata import PackageNotFoundError, version

    from setuptools.config.pyprojecttoml import read_configuration

    import maml_gui
    from maml_gui.cli import main

    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    built = read_configuration(ROOT / "pyproject.toml", expand=True)["project"]["version"]
    assert out == f"maml-gui {built}\n" and built == maml_gui.__version__
    try:
        assert version("maml-gui") == built  # an installed copy agrees
    except PackageNotFoundError:
        pass
