"""The landscape serve loop (no Qt): requests in, surfaces out.

Run by a :class:`~maml_gui.runtime.channel.Channel` (a child process, or a thread where
processes are not available). Commands: ``("request", payload)`` replaces any request not
yet started; ``("stop",)``. Results: ``("surface", generation, surface)`` per resolution
(coarse first), ``("failed", generation, message)``, ``("finished", generation)`` when a
request is done or dropped for a newer one, and ``("done",)`` last.
"""

from __future__ import annotations

from typing import Any

from maml_gui.core.config import make_config
from maml_gui.core.landscape import LandscapeCancelled, LandscapeError, LandscapeEvaluator
from maml_gui.runtime.channel import drain_commands, failure_message


def serve(commands, results) -> None:
    """Compute requests until stopped, the newest request first (see the module docstring)."""
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
    waiting = drain_commands(commands)
    if any(command[0] == "stop" for command in waiting):
        return "stop"
    return waiting[-1][1] if waiting else None


def _compute(request: dict[str, Any], commands, results):
    """Every resolution of ``request``; returns a newer request (or "stop") that cut it short.

    The evaluator asks between chunks of the grid whether a newer request has come: a
    superseded request stops there (an MLP surface is hundreds of milliseconds of chunks),
    and its remaining resolutions are never sent."""
    generation = request["generation"]
    superseded: list[dict[str, Any] | str] = []

    def cancelled() -> bool:
        if not superseded:
            newer = _newest(commands)
            if newer is not None:
                superseded.append(newer)
        return bool(superseded)

    try:
        evaluator = LandscapeEvaluator(make_config(request["config"]), request["tasks"],
                                       weights=request["weights"], dtype=request["dtype"])
        for resolution in request["resolutions"]:
            surface = evaluator.grid(request["surface"], request["xrange"], request["yrange"],
                                     resolution, plane=request["plane"], anchor=request["anchor"],
                                     cancelled=cancelled)
            if cancelled():
                raise LandscapeCancelled()
            results.put(("surface", generation, surface))
    except LandscapeCancelled:
        results.put(("finished", generation))
        return superseded[0]
    except Exception as exc:  # shown in the window; the loop goes on serving
        results.put(("failed", generation, failure_message(exc, (LandscapeError,))))
    results.put(("finished", generation))
    return None
