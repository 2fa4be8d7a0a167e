"""maml_gui.core stays headless: importing everything in it never loads Qt."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import builtins, importlib, pkgutil, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "shiboken6"):
        raise ImportError(f"core imported Qt: {name}")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import maml_gui.core
for info in pkgutil.walk_packages(maml_gui.core.__path__, "maml_gui.core."):
    importlib.import_module(info.name)
loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "superqt")]
assert not loaded, loaded
print("ok", len([m for m in sys.modules if m.startswith("maml_gui.core")]))
"""


def test_core_never_imports_qt():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
