"""The frames of one meta-step's animation, and what is visible at each (no Qt).

Distill's way: a meta-step's paths are computed whole, then a clock steps a frame index
through them. The same frames drive the canvas, the trace view's highlighted line and
exported GIF/MP4 animations, so all three always agree.

Phases, in order: ``sample`` (θ and the tasks), ``inner`` (inner step j of task i, or of
all tasks together), ``cg`` (iMAML's conjugate-gradient iterations), ``task_grad`` (task i's
meta-gradient), ``aggregate`` (their mean), ``update`` (the outer step to θ'), and for
TR-MAML ``weights`` (the task-weight ascent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maml_gui.core.trace import StepRecord

PHASES = ("sample", "inner", "cg", "task_grad", "aggregate", "update", "weights")


@dataclass(frozen=True)
class Frame:
    """One animation frame: the phase, the task it concerns (None: all) and the inner step
    or CG iteration it has reached."""

    phase: str
    task: int | None = None
    inner_step: int = 0
    cg_iteration: int = 0


def one_by_one(order: str, n_tasks: int) -> bool:
    """Animate tasks one after another (``auto``: when there are at most four)."""
    return order == "one_by_one" or (order == "auto" and n_tasks <= 4)


def build_frames(record: StepRecord, order: str = "auto") -> tuple[Frame, ...]:
    """Every frame of ``record``'s meta-step."""
    n, k = record.n_tasks, record.inner_steps
    residuals = record.diagnostics.get("cg_residuals")
    cg_iterations = 0 if residuals is None else residuals.shape[-1] - 1
    frames = [Frame("sample")]
    if one_by_one(order, n):
        for task in range(n):
            frames += [Frame("inner", task, j) for j in range(1, k + 1)]
            frames += [Frame("cg", task, k, it) for it in range(1, cg_iterations + 1)]
            frames.append(Frame("task_grad", task, k, cg_iterations))
    else:
        frames += [Frame("inner", None, j) for j in range(1, k + 1)]
        frames += [Frame("cg", None, k, it) for it in range(1, cg_iterations + 1)]
        frames.append(Frame("task_grad", None, k, cg_iterations))
    frames += [Frame("aggregate", None, k, cg_iterations), Frame("update", None, k, cg_iterations)]
    if "task_weights_next" in record.diagnostics:
        frames.append(Frame("weights", None, k, cg_iterations))
    return tuple(frames)


@dataclass(frozen=True)
class Visible:
    """What a frame shows: inner-path points per task, which task gradients, and so on."""

    path_points: np.ndarray  # (n,) number of points of each task's path to draw (1 = just θ)
    task_grads: np.ndarray  # (n,) bool
    aggregate: bool
    updated: bool  # θ has moved to θ' (the trail includes it)
    weights_updated: bool


def visible(record: StepRecord, frame: Frame) -> Visible:
    n, k = record.n_tasks, record.inner_steps
    order = PHASES.index(frame.phase)
    everyone_done = order >= PHASES.index("aggregate")
    if frame.task is None:
        points = np.full(n, 1 + (k if everyone_done or frame.phase != "inner" else frame.inner_step))
        if frame.phase == "sample":
            points[:] = 1
        grads = np.full(n, frame.phase == "task_grad" or everyone_done)
    else:
        index = np.arange(n)
        points = np.where(index < frame.task, k + 1, 1)
        points[frame.task] = 1 + (frame.inner_step if frame.phase == "inner" else k)
        grads = (index < frame.task) | ((index == frame.task) & (frame.phase == "task_grad"))
    return Visible(
        path_points=points.astype(int),
        task_grads=grads.astype(bool),
        aggregate=everyone_done,
        updated=order >= PHASES.index("update"),
        weights_updated=frame.phase == "weights",
    )


def final_frame(record: StepRecord, order: str = "auto") -> Frame:
    return build_frames(record, order)[-1]
