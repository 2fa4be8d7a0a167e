"""Child processes for heavy work (training, landscapes), started through a forkserver.

Training and landscapes are thousands of small torch calls, each holding Python's GIL for a
moment; from threads of the window's process they made the window wait for the GIL many
times per frame. In child processes they cannot. The forkserver imports the engine once
(the preload below, which imports no Qt), so each child starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os

# The pretraining loop is not preloaded: it is rare, and its first start may pay its imports.
PRELOAD = ["maml_gui.runtime.training_process", "maml_gui.runtime.landscape_process",
           "maml_gui.runtime.function_process"]


# Children yield the CPU to the window when both want it (2 cores, 3 busy parties).
CHILD_NICENESS = 10


def lower_priority() -> None:
    """Called first thing in a child: the window must win every contest for a core."""
    try:
        os.nice(CHILD_NICENESS)
    except (AttributeError, OSError):  # not on this platform, or not permitted: carry on
        pass


def available() -> bool:
    """Child processes are used where the platform has a forkserver (Linux, macOS)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context
