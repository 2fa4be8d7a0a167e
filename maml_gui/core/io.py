"""Writing files so that a failure never leaves a partial file behind."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path


class OutputPathError(OSError):
    """The output path cannot be written (missing folder, no permission, ...)."""


def check_writable(target: str | Path) -> Path:
    """Raise :class:`OutputPathError` with a readable reason if ``target`` cannot be written."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputPathError(f"{target} is a folder, not a file name")
    if not folder.exists():
        raise OutputPathError(f"cannot write {target}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {target}: no permission to write in {folder}")
    return target


class AtomicPath:
    """A temporary path beside ``target`` (same extension) that replaces it only on success.

    >>> with AtomicPath("out.png") as temp:   # doctest: +SKIP
    ...     write_png(temp)                    # on an exception, temp is deleted
    """

    def __init__(self, target: str | Path):
        check_writable(target)
        # through symlinks: the file a link points to is replaced, the link itself stays
        self.target = Path(os.path.realpath(target)) if os.path.islink(target) else Path(target)
        check_writable(self.target)
        self.temp = self.target.with_name(
            f".{self.target.stem}.partial-{uuid.uuid4().hex[:8]}{self.target.suffix}"
        )

    def commit(self) -> None:
        try:  # a replaced file keeps its permissions (a read-only one stays read-only)
            mode = stat.S_IMODE(os.stat(self.target).st_mode)
        except OSError:
            mode = None
        if mode is not None:
            os.chmod(self.temp, mode)
        os.replace(self.temp, self.target)

    def discard(self) -> None:
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> Path:
        return self.temp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    with AtomicPath(target) as temp:
        temp.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    with AtomicPath(target) as temp:
        temp.write_text(text, encoding="utf-8")
