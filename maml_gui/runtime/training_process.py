"""The training serve loop (no Qt): commands in, step records out.

Run by a :class:`~maml_gui.runtime.channel.Channel`: in a child process, so that training
never competes with the window for Python's GIL, or in a thread where processes are not
available. Commands (tuples on ``commands``):

- ``("steps", n)``: allow n more meta-steps; ``("free", on)``: as fast as possible or not
- ``("changes", run | None, {...})``: hot settings for the next step
- ``("ack", n)``: the window took n results (a stalled window makes the process wait)
- ``("stop",)``: finish after the current step

Results (tuples on ``results``): ``("records", (record, ...))``, ``("failed", message)``,
and ``("done",)`` last.
"""

from __future__ import annotations

import queue
from typing import Any

import numpy as np

# Imported at the top, not in serve(): the forkserver preloads this module, so every training
# process starts with torch and the engine already imported (milliseconds, not seconds).
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.device import DeviceError
from maml_gui.runtime.channel import failure_message
from maml_gui.runtime.lockstep import Lockstep

# Unacknowledged steps the process may run ahead of the window.
MAX_AHEAD = 512


def serve(config_dicts: list[dict[str, Any]], theta0s: list[np.ndarray | None],
          compare_to_maml: bool, commands, results) -> None:
    """Train until stopped or every run diverged (see the module's docstring)."""
    try:
        runner = Lockstep([make_config(c) for c in config_dicts], theta0s, compare_to_maml)
        state = _State(len(config_dicts))
        while runner.running:
            if not state.read(commands):
                break
            changes, state.changes = state.changes, [{} for _ in config_dicts]
            results.put(("records", runner.step(changes)))
            state.ahead += 1
    except Exception as exc:  # relayed to the window, which stays usable
        results.put(("failed", failure_message(exc, (ConfigError, DeviceError))))
    finally:
        results.put(("done",))


class _State:
    """What the window has allowed so far."""

    def __init__(self, runs: int):
        self.budget = 0
        self.free = False
        self.ahead = 0
        self.changes: list[dict[str, Any]] = [{} for _ in range(runs)]

    def permitted(self) -> bool:
        return (self.free or self.budget > 0) and self.ahead < MAX_AHEAD

    def read(self, commands) -> bool:
        """Apply every pending command, blocking until a step is permitted; False on stop."""
        while True:
            block = not self.permitted()
            try:
                command = commands.get(block=block)
            except queue.Empty:
                break
            if command[0] == "stop":
                return False
            self._apply(command)
        if not self.free:
            self.budget -= 1
        return True

    def _apply(self, command: tuple) -> None:
        kind = command[0]
        if kind == "steps":
            self.budget += command[1]
        elif kind == "free":
            self.free = command[1]
            if not self.free:
                self.budget = 0
        elif kind == "ack":
            self.ahead = max(0, self.ahead - command[1])
        elif kind == "changes":
            _, run, changes = command
            for index in range(len(self.changes)) if run is None else [run]:
                self.changes[index].update(changes)
