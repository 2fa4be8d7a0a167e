"""Recomputing a run exactly: its starting config plus the live changes made during it.

Training is deterministic on the CPU given the config (seed included), θ₀ and which hot
settings changed before which step. The window keeps only a bounded history, so exports of
a whole run recompute it from this change log instead of holding every step in memory.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from maml_gui.core.config import Config
from maml_gui.core.trace import StepRecord
from maml_gui.core.training import train


def hyper_changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """The hot settings that differ between two records' ``hyper``."""
    if previous is None:
        return {}
    return {key: value for key, value in current.items() if previous.get(key) != value}


def replay(config: Config, steps: int, changes: Iterable[tuple[int, Mapping[str, Any]]] = (),
           *, theta0: np.ndarray | None = None) -> list[StepRecord]:
    """The records of a run of ``steps`` meta-steps where, for each ``(step, settings)``, the
    settings applied from meta-step ``step`` on (0-based, as in ``StepRecord.step``)."""
    by_step: dict[int, dict[str, Any]] = {}
    for step, settings in changes:
        by_step.setdefault(int(step), {}).update(settings)
    if 0 in by_step:
        config = config.with_changes(by_step.pop(0))
    records: list[StepRecord] = []
    if steps <= 0:
        return records
    generator = train(config, steps, theta0=theta0)
    record = next(generator)
    while True:
        records.append(record)
        if record.diverged or len(records) == steps:
            break
        record = generator.send(by_step.get(record.step + 1) or None)
    generator.close()
    return records
