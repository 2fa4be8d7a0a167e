"""Runs without a worker thread: for exports, screenshots of a given state, and tests."""

from __future__ import annotations

import numpy as np

from maml_gui.core.animation import build_frames
from maml_gui.core.config import Config
from maml_gui.core.history import RunHistory
from maml_gui.core.tasks import make_family
from maml_gui.core.trace import StepRecord
from maml_gui.core.training import train
from maml_gui.runtime.run_controller import Snapshot


def run_offline(config: Config, steps: int, *, theta0: np.ndarray | None = None,
                keep: int = 64) -> RunHistory:
    """Train ``steps`` meta-steps in this thread; the history of the run (stops at divergence)."""
    history = RunHistory(make_family(config).param_dim, keep=keep)
    for record in train(config, steps, theta0=theta0):
        history.append(record)
    return history


def snapshot_of(config: Config, history: RunHistory, record: StepRecord | None = None, *,
                frame_index: int | None = None, order: str = "auto") -> Snapshot:
    """A :class:`Snapshot` showing ``record`` (default: the latest) at ``frame_index``
    (default: its last frame, i.e. the completed meta-step)."""
    record = history.latest if record is None else record
    frames = build_frames(record, order) if record is not None else ()
    index = len(frames) - 1 if frame_index is None else frame_index
    return Snapshot(run_id=0, config=config, record=record, frames=frames,
                    frame_index=max(index, 0), history=history, playing=False,
                    full_speed=False, steps_per_second=0.0)


def run_comparison_offline(variants, steps: int):
    """Train the comparison's variants in lockstep in this thread; their snapshot."""
    from maml_gui.runtime.comparison_controller import ComparisonSnapshot

    histories = []
    for variant in variants:
        history = RunHistory(make_family(variant.config).param_dim)
        for record in train(variant.config, steps, compare_to_maml=True):
            history.append(record)
        histories.append(history)
    return ComparisonSnapshot(run_id=0, variants=tuple(variants), histories=tuple(histories),
                              playing=False)
