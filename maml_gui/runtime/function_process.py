"""The function view's fine-tuning serve loop (no Qt): requests in, fits out.

Run by a :class:`~maml_gui.runtime.channel.Channel` (a child process, or a thread where
processes are not available). Commands: ``("fit", generation, config_json, request)`` (a
:class:`~maml_gui.view.function_data.FitRequest` without its config) replaces any request
not yet started; ``("stop",)``. Results: ``("fitted", generation, fits)`` or
``("failed", generation, message)`` for the newest request, and ``("done",)`` last.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from maml_gui.core.config import ConfigError, make_config
from maml_gui.runtime.channel import drain_commands, failure_message
from maml_gui.view.function_data import FunctionFitter


def serve(commands, results) -> None:
    """Fine-tune the newest request until stopped (see the module docstring)."""
    fitter = FunctionFitter()
    config_dict: dict[str, Any] | None = None
    config = None
    try:
        while True:
            waiting = [commands.get(), *drain_commands(commands)]
            if any(command[0] == "stop" for command in waiting):
                return
            _, generation, request_config, request = waiting[-1]  # older ones: superseded
            try:
                if request_config != config_dict:
                    config, config_dict = make_config(request_config), request_config
                fits = fitter.fits(dataclasses.replace(request, config=config))
            except Exception as exc:  # shown in the window; the loop goes on serving
                results.put(("failed", generation, failure_message(exc, (ConfigError,))))
                continue
            results.put(("fitted", generation, fits))
    finally:
        results.put(("done",))
