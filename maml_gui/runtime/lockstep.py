"""Stepping one or several runs together (no Qt): shared by the thread and process workers."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from maml_gui.core.config import Config
from maml_gui.core.trace import StepRecord
from maml_gui.core.training import train


class Lockstep:
    """One meta-step of every run per :meth:`step`; a run that diverged is left out after it.

    Each run's trainer is built at its first step, with the changes sent before it applied,
    so configuration and device errors surface there (as exceptions).
    """

    def __init__(self, configs: Sequence[Config], theta0s: Sequence[np.ndarray | None] | None,
                 compare_to_maml: bool = False):
        self.configs = list(configs)
        self.theta0s = list(theta0s) if theta0s is not None else [None] * len(self.configs)
        self.compare = compare_to_maml
        self._generators: list[Any] = [None] * len(self.configs)
        self.active = [True] * len(self.configs)

    @property
    def running(self) -> bool:
        return any(self.active)

    def step(self, changes: Sequence[dict[str, Any]]) -> tuple[StepRecord | None, ...]:
        records: list[StepRecord | None] = []
        for index, generator in enumerate(self._generators):
            if not self.active[index]:
                records.append(None)
                continue
            if generator is None:
                config = self.configs[index]
                if changes[index]:
                    config = config.with_changes(changes[index])
                generator = self._generators[index] = train(
                    config, None, theta0=self.theta0s[index], compare_to_maml=self.compare)
                record = next(generator)
            else:
                record = generator.send(changes[index] or None)
            records.append(record)
            if record.diverged:
                self.active[index] = False
                generator.close()
        return tuple(records)
