"""Children that end with their parent, however the parent ends (no Qt).

A killed parent runs no clean-up: its workers would wait on their command queues forever
(each child holds both ends of its queue's pipe, so it never sees end-of-file there), and an
ffmpeg fed by it would keep encoding. Two mechanisms, one per kind of child:

- Python children get the read end of a *lifeline* pipe whose only write end stays in the
  parent (not inheritable, and forkserver children are forked from the forkserver, which
  never had it). A daemon thread in the child blocks on it; end-of-file means the parent is
  gone, and the child exits at once. This works whatever process forked the child.
- Native children (ffmpeg) get ``PR_SET_PDEATHSIG`` on Linux: the kernel kills them when
  the thread that started them ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

_PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_read_fd: int | None = None
_owner_pid: int | None = None
_keep: list[int] = []  # write ends, never closed: they close when this process ends


def lifeline_fd() -> int:
    """The read end of this process's lifeline (made once per process)."""
    global _read_fd, _owner_pid
    with _lock:
        if _read_fd is None or _owner_pid != os.getpid():
            read_fd, write_fd = os.pipe()  # both non-inheritable: no exec'd program gets them
            _read_fd, _owner_pid = read_fd, os.getpid()
            _keep.append(write_fd)
        return _read_fd



class Lifeline:
    """Pass one among a child process's arguments: the child receives this process's lifeline
    as a file descriptor (an ``int``) to give to :func:`watch_parent`."""

    def __reduce__(self):
        from multiprocessing.reduction import DupFd

        # Pickled while the process starts, so DupFd hands the descriptor to the starting
        # method itself (forkserver, spawn): no sharing thread, nothing left if it never starts.
        return _received, (DupFd(lifeline_fd()),)


def _received(duplicate) -> int:
    return duplicate.detach()


def watch_parent(read_fd: int) -> None:
    """In a child: exit (code 0, no clean-up) as soon as the lifeline ``read_fd`` reaches
    end-of-file, i.e. when every process holding its write end has ended."""

    def watch() -> None:
        try:
            while os.read(read_fd, 1):
                pass
        except OSError:
            pass
        os._exit(0)  # the parent is gone: nobody will read our results

    threading.Thread(target=watch, name="maml-gui lifeline", daemon=True).start()


def die_with_parent() -> None:
    """In a freshly forked native child (``preexec_fn``): be killed when the parent ends.

    Linux only; elsewhere a no-op (macOS has no equivalent; the child then ends when its
    input pipe closes)."""
    os.setpgrp()  # as imageio-ffmpeg does: Ctrl-C in a terminal goes to us, not to ffmpeg
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


@contextmanager
def native_children_die_with_parent() -> Iterator[None]:
    """Programs imageio-ffmpeg starts inside this block get :func:`die_with_parent`."""
    from imageio_ffmpeg import _io

    original = _io._popen_kwargs

    def popen_kwargs(prevent_sigint: bool = False) -> dict:
        kwargs = original(prevent_sigint)
        if os.name == "posix":
            kwargs["preexec_fn"] = die_with_parent
        return kwargs

    _io._popen_kwargs = popen_kwargs
    try:
        yield
    finally:
        _io._popen_kwargs = original
