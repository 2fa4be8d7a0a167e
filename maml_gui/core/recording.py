"""What a trace stores, sized for the model.

Losses (before/after adaptation, per task, along the inner loop) are stored every step:
they are a few numbers per task. The big arrays (θ, θ after the update, the aggregate
meta-gradient, every task's meta-gradient, the inner-loop paths) are P numbers or n × P
numbers each; they are stored on *recorded* steps only: every ``every`` steps, and the last
step of the trace. A 2-parameter landscape keeps everything every step; the sinusoid MLP
(P = 1,761) keeps θ and the aggregate meta-gradient every 100 steps and no task arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from maml_gui.core.trace import StepRecord

#: up to this many parameters every array is stored every step by default
SMALL_MODEL = 64


def default_every(param_dim: int) -> int:
    """Steps between recorded steps for ``param_dim`` parameters: 1 up to 64, else a power of
    ten near P/20 (100 for P = 1,761), so the big arrays cost ~tens of bytes per step."""
    if param_dim <= SMALL_MODEL:
        return 1
    return 10 ** math.ceil(math.log10(param_dim / 20))


@dataclass(frozen=True)
class Recording:
    """The recording schedule of a trace.

    Attributes
    ----------
    every : recorded steps are the multiples of ``every`` (step 0 included) and the last one;
        they hold θ, θ_next and the aggregate meta-gradient
    task_grads : store every task's meta-gradient on recorded steps
    paths : ``full``, ``endpoints`` (θ and φᵏ) or ``none``: the inner-loop points stored
    """

    every: int = 1
    task_grads: bool = True
    paths: str = "full"

    @classmethod
    def from_config(cls, config: Any, param_dim: int, *, paths: str | None = None,
                    every: int | None = None) -> "Recording":
        """The schedule of ``config``'s ``record_*`` settings (``auto`` resolved by
        ``param_dim``); ``paths``/``every`` override them (the command-line flags)."""
        small = param_dim <= SMALL_MODEL
        paths = paths or config.record_paths
        if paths == "auto":
            paths = "full" if small else "none"
        task_grads = config.record_task_grads == "on" or (
            config.record_task_grads == "auto" and small)
        every = every or config.record_every or default_every(param_dim)
        return cls(every=int(every), task_grads=task_grads, paths=paths)

    def is_recorded(self, step: int) -> bool:
        return step % self.every == 0

    def thin(self, record: StepRecord, last: bool = False) -> StepRecord:
        """``record`` as this schedule stores it (``last``: the trace's final step)."""
        if last or self.is_recorded(record.step):
            return self.recorded_form(record)
        return self.unrecorded_form(record)

    def apply(self, records: Iterable[StepRecord]) -> Iterator[StepRecord]:
        """``records`` thinned one by one (one step of look-ahead finds the last)."""
        pending = None
        for record in records:
            if pending is not None:
                yield self.thin(pending)
            pending = record
        if pending is not None:
            yield self.thin(pending, last=True)

    def recorded_form(self, record: StepRecord) -> StepRecord:
        record = record.with_paths(self.paths)
        return record if self.task_grads else record.without("task_meta_grads")

    @staticmethod
    def unrecorded_form(record: StepRecord) -> StepRecord:
        return record.without("theta", "theta_next", "meta_grad", "task_meta_grads", "paths")

    def recorded_steps(self, first: int, end: int) -> int:
        """How many of the steps ``first … end − 1`` are recorded (the last one always is)."""
        if end <= first:
            return 0
        multiples = (end - 1) // self.every - (first - 1) // self.every  # floor: first = 0 works
        return multiples + ((end - 1) % self.every != 0)

    def to_meta(self) -> dict[str, Any]:
        """How the trace's ``meta["recording"]`` describes the schedule."""
        return {
            "every": self.every,
            "every_step": ["loss_before", "loss_after", "inner_losses", "inner_grad_norms",
                           "task_ids", "diagnostics"],
            "recorded_steps": ["theta", "theta_next", "meta_grad"]
                              + (["task_meta_grads"] if self.task_grads else [])
                              + ([] if self.paths == "none" else ["paths"]),
            "paths": self.paths,
            "rule": "recorded steps: step % every == 0, and the last step of the trace",
        }


def estimate_trace_bytes(sample: StepRecord, first: int, end: int, recording: Recording,
                         suffix: str, header: Mapping[str, Any]) -> int:
    """The size of a trace of steps ``first … end − 1`` written with ``recording``, from one
    real step ``sample`` encoded the way the writer encodes it (within a few per cent for
    NPZ; JSON's number lengths vary a little from step to step)."""
    from maml_gui.core.trace import header_bytes, record_bytes

    recorded = recording.recorded_steps(first, end)
    full_form = recording.recorded_form(sample)
    full = record_bytes(full_form, suffix)
    thin = record_bytes(recording.unrecorded_form(sample), suffix)
    unrecorded = end - first - recorded
    return header_bytes(header, suffix, full_form) + recorded * full + unrecorded * thin
