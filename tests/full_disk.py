"""A disk that fills up after the first write, for tests of 'no partial file is left'."""

from __future__ import annotations

import builtins
import errno


class FullFile:
    """Writes half of the first chunk, then raises ENOSPC on the next write."""

    def __init__(self, handle):
        self.handle, self.written = handle, 0

    def write(self, data):
        if self.written:  # the second write finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.handle.write(data[: max(len(data) // 2, 1)])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def fill_disk(monkeypatch, under: str | None = None) -> None:
    """Make every file opened for writing (below ``under``, if given) run out of space."""
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FullFile(handle) if "w" in mode and (under is None or under in str(file)) \
            else handle

    monkeypatch.setattr(builtins, "open", full_open)
