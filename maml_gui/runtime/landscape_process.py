"""The body of a landscape process (no Qt): requests in, surfaces out.

Commands: ``("request", payload)`` replaces any request not yet started; ``("stop",)``.
Results: ``("surface", generation, surface)`` per resolution (coarse first),
``("failed", generation, message)``, ``("finished", generation)`` when a request is done or
dropped for a newer one, and ``("done",)`` last.
"""

from __future__ import annotations

import queue
import sys
import traceback
from typing import Any

import torch

from maml_gui.core.config import make_config
from maml_gui.core.landscape import LandscapeError, LandscapeEvaluator


def serve(commands, results) -> None:
    from maml_gui.runtime.processes import lower_priority

    lower_priority()
    torch.set_num_threads(1)
    pending: dict[str, Any] | None = None
    try:
        while True:
            command = commands.get() if pending is None else ("request", pending)
            pending = None
            if command[0] == "stop":
                return
            request = command[1]
            newer = _newest(commands)
            if newer == "stop":
                return
            if newer is not None:
                results.put(("finished", request["generation"]))
                pending = newer
                continue
            pending = _compute(request, commands, results)
            if pending == "stop":
                return
    finally:
        results.put(("done",))


def _newest(commands) -> dict[str, Any] | str | None:
    """The newest request waiting (``"stop"`` wins), without blocking."""
    newest = None
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            return newest
        if command[0] == "stop":
            return "stop"
        newest = command[1]


def _compute(request: dict[str, Any], commands, results):
    """Every resolution of ``request``; returns a newer request (or "stop") that cut it short."""
    generation = request["generation"]
    try:
        evaluator = LandscapeEvaluator(make_config(request["config"]), request["tasks"],
                                       weights=request["weights"], dtype=request["dtype"])
        for resolution in request["resolutions"]:
            surface = evaluator.grid(request["surface"], request["xrange"], request["yrange"],
                                     resolution, plane=request["plane"], anchor=request["anchor"])
            newer = _newest(commands)
            if newer is not None:
                results.put(("finished", generation))
                return newer
            results.put(("surface", generation, surface))
    except LandscapeError as exc:
        results.put(("failed", generation, str(exc)))
    except Exception as exc:  # shown in the window; the process goes on serving
        traceback.print_exc(file=sys.stderr)
        results.put(("failed", generation, f"{type(exc).__name__}: {exc}".splitlines()[0]))
    results.put(("finished", generation))
    return None
