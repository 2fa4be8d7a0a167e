"""The one check every command makes on its output path before any work.

An output never replaces an input of the same command (real paths are compared, through
symlinks and hard links), a read-only file is replaced only with ``--force`` (and stays
read-only), and a symlink is written through (:class:`maml_gui.core.io.AtomicPath` renames
onto the file it points to), never replaced by a regular file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from maml_gui.core.io import OutputPathError, check_writable


def _same_file(a: str | Path, b: str | Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def _read_only(path: Path) -> bool:
    # the mode bits too: root may write anything, but a 0444 file is still meant to stay
    return not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222


def check_output(out: str | Path, inputs: Iterable[tuple[str, str | Path | None]] = (), *,
                 force: bool = False, flag: str = "--out") -> Path:
    """Refuse ``out`` (:class:`OutputPathError`, a one-line reason) if it cannot be written,
    is one of ``inputs`` (``(flag, path)`` pairs; ``None`` paths are skipped) or is an
    existing read-only file and ``force`` is false. Returns ``out`` as a :class:`Path`."""
    target = check_writable(out)
    for input_flag, path in inputs:
        if path is not None and _same_file(target, path):
            raise OutputPathError(f"{flag} {out} is the same file as {input_flag} {path}: "
                                  "writing it would destroy the input; choose another name")
    real = Path(os.path.realpath(target))
    if real.exists() and _read_only(real) and not force:
        raise OutputPathError(f"{flag} {out} exists and is read-only: choose another name, or "
                              "add --force to replace it (the new file stays read-only)")
    return target


__all__ = ["check_output"]
