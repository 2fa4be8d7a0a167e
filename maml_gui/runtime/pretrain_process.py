"""The pretraining (ERM baseline) serve loop (no Qt): one training, progress while it runs.

Run by a :class:`~maml_gui.runtime.channel.Channel`. The only command is ``("stop",)``.
Results: ``("progress", done, total)`` at most every ``PROGRESS_INTERVAL_S``,
``("finished", theta)`` (a float64 vector) or ``("failed", message)``, then ``("done",)``.
"""

from __future__ import annotations

import time
from typing import Any

from maml_gui.core.config import make_config
from maml_gui.core.function_space import train_pretrained
from maml_gui.runtime.channel import drain_commands, failure_message

PROGRESS_INTERVAL_S = 0.05  # progress at most ~20 times a second


def serve(config_dict: dict[str, Any], steps: int, commands, results) -> None:
    """Train the baseline for ``steps`` steps unless stopped first."""
    stopped = False
    last = 0.0

    def should_stop() -> bool:
        nonlocal stopped
        stopped = stopped or any(c[0] == "stop" for c in drain_commands(commands))
        return stopped

    def progress(done: int, total: int, _record) -> None:
        nonlocal last
        now = time.perf_counter()
        if done == total or now - last >= PROGRESS_INTERVAL_S:
            last = now
            results.put(("progress", done, total))

    try:
        theta = train_pretrained(make_config(config_dict), steps, progress=progress,
                                 should_stop=should_stop)
        if theta is not None and not should_stop():
            results.put(("finished", theta))
    except Exception as exc:  # relayed to the view: the app must stay usable
        results.put(("failed", failure_message(exc)))
    finally:
        results.put(("done",))
