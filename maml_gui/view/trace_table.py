"""What the trace view shows, without Qt: the per-task table of a meta-step at an animation
frame, the frame in words and the settings line.

The window's table model (:class:`~maml_gui.widgets.trace_view.TaskTableModel`) and the
trace figure's painted table (:mod:`maml_gui.plots.trace`) both read these, so the figure
shows the window's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.animation import Frame, visible
from maml_gui.core.config import FIELD_BY_NAME, Config
from maml_gui.core.trace import StepRecord

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
# settings shown above the code, by their fields' symbols; Reptile's outer step is ε
_SHOWN_SETTINGS = ("inner_lr", "inner_steps", "outer_lr", "imaml_lambda", "cg_damping", "cg_steps",
                   "cg_tol", "tr_lr")


def format_number(value: float) -> str:
    """Four significant digits (``nan`` and ``inf`` stay readable)."""
    return f"{float(value):.4g}"


def superscript(number: int) -> str:
    return str(number).translate(_SUPERSCRIPT)


def describe_frame(record: StepRecord, frame: Frame) -> str:
    """What ``frame`` of ``record``'s meta-step shows, in words (e.g. "task 1, inner step 2 of 3")."""
    who = "all tasks" if frame.task is None else f"task {frame.task}"
    k = record.inner_steps
    if frame.phase == "sample":
        text = f"sample {record.n_tasks} task{'s' if record.n_tasks != 1 else ''}"
    elif frame.phase == "inner":
        text = f"{who}, inner step {frame.inner_step} of {k}"
    elif frame.phase == "cg":
        residuals = record.diagnostics["cg_residuals"]
        iterations = residuals.shape[-1] - 1
        text = f"{who}, CG iteration {frame.cg_iteration} of {iterations}"
        if frame.task is not None:
            text += f" (‖r‖ = {format_number(residuals[frame.task, frame.cg_iteration])})"
    elif frame.phase == "task_grad":
        text = f"{who}: meta-gradient"
        if frame.task is not None:
            norm = np.linalg.norm(record.task_meta_grads[frame.task])
            text += f" ‖g{frame.task}‖ = {format_number(norm)}"
    elif frame.phase == "aggregate":
        text = f"aggregate: ‖g‖ = {format_number(np.linalg.norm(record.meta_grad))}"
    elif frame.phase == "update":
        text = "outer update θ → θ'"
    else:
        text = "task weights p updated"
    return f"meta-step {record.step + 1} · {text}"


def settings_text(config: Config | None, algorithm: str | None,
                  record: StepRecord | None) -> str:
    """The settings the meta-step used, by their symbols (``α = 0.4 · k = 2 · β = 0.1 · SGD``)."""
    cls = ALGORITHMS.get(algorithm)
    if cls is None or config is None:
        return " "
    values = dict(record.hyper) if record is not None else config.hot_values()
    parts = []
    for name in _SHOWN_SETTINGS:
        if name in cls.uses and name in values:
            symbol = "ε" if (algorithm == "reptile" and name == "outer_lr") else \
                FIELD_BY_NAME[name].symbol
            parts.append(f"{symbol} = {values[name]:.4g}")
    optimizer = config.outer_optimizer
    parts.append({"sgd": "SGD", "adam": "Adam"}.get(optimizer, optimizer))
    if record is not None:
        parts.append(f"n = {record.n_tasks}")
    return " · ".join(parts)


@dataclass(frozen=True)
class Column:
    key: str  # "before", "after", "grad", "weight", "cg", "loss<j>", "norm<j>"
    header: str
    tooltip: str


def table_columns(record: StepRecord | None) -> list[Column]:
    """The per-task table's columns for ``record`` (none without a record)."""
    if record is None:
        return []
    columns = [Column("before", "L before", "query loss at θ (before adaptation)"),
               Column("after", "L after", "query loss at φᵢᵏ (after adaptation)"),
               Column("grad", "‖gᵢ‖", "norm of the task's meta-gradient gᵢ")]
    if "task_weights" in record.diagnostics:
        columns.append(Column("weight", "weight p", "TR-MAML task weight pᵢ (bar: relative to "
                                                    "the largest weight of all tasks)"))
    if "cg_residuals" in record.diagnostics:
        columns.append(Column("cg", "CG ‖r‖", "iMAML: final relative CG residual "
                                              "‖∇Lq − Mgᵢ‖/‖∇Lq‖, recomputed from gᵢ"))
    for j in range(record.inner_steps + 1):
        columns.append(Column(f"loss{j}", f"Lˢ(φ{superscript(j)})",
                              f"support loss at inner step {j}" + (" (φ⁰ = θ)" if j == 0 else "")))
        if j < record.inner_steps:
            columns.append(Column(f"norm{j}", f"‖∇{superscript(j)}‖",
                                  f"norm of the inner-loop gradient at φ{superscript(j)} "
                                  "(of the objective the inner loop descends)"))
    return columns


def column_values(record: StepRecord | None, columns: list[Column]) -> np.ndarray:
    """The frame-independent numbers ``(tasks, columns)`` (TR-MAML's weights: NaN here, see
    :func:`frame_view`)."""
    if record is None:
        return np.zeros((0, 0))
    out = np.empty((record.n_tasks, len(columns)))
    for c, column in enumerate(columns):
        key = column.key
        if key == "before":
            out[:, c] = record.loss_before
        elif key == "after":
            out[:, c] = record.loss_after
        elif key == "grad":
            out[:, c] = np.linalg.norm(record.task_meta_grads, axis=1)
        elif key == "weight":
            out[:, c] = np.nan
        elif key == "cg":
            out[:, c] = record.diagnostics["cg_residuals"][:, -1]
        elif key.startswith("loss"):
            out[:, c] = record.inner_losses[:, int(key[4:])]
        else:
            out[:, c] = record.inner_grad_norms[:, int(key[4:])]
    return out


def task_weights(record: StepRecord, frame: Frame | None) -> tuple[np.ndarray, np.ndarray]:
    """TR-MAML: each batch task's weight pᵢ (after the ascent from the ``weights`` frame on)
    and its bar length relative to the largest weight of the pool."""
    key = "task_weights_next" if frame is not None and frame.phase == "weights" else "task_weights"
    pool = record.diagnostics[key]
    ids = record.task_ids
    weights = np.where(ids >= 0, pool[np.clip(ids, 0, None)], np.nan)
    largest = float(np.max(pool)) if pool.size else 0.0
    bars = np.nan_to_num(weights / largest) if largest > 0 else np.zeros_like(weights)
    return weights, bars


@dataclass
class FrameView:
    """The table at a frame: ``reached`` marks the numbers the animation has computed,
    ``focus`` the cell being computed (row None: every row), ``bars`` TR-MAML's weight bars."""

    reached: np.ndarray
    focus: tuple[int | None, int] | None
    current_task: int | None
    bars: np.ndarray


def frame_view(record: StepRecord | None, frame: Frame | None, columns: list[Column],
               values: np.ndarray) -> FrameView:
    """What ``frame`` shows of the table; fills TR-MAML's weight column of ``values``."""
    keys = [c.key for c in columns]
    bars = np.zeros(0)
    if "weight" in keys and record is not None:
        weights, bars = task_weights(record, frame)
        values[:, keys.index("weight")] = weights
    if record is None or frame is None:
        return FrameView(np.ones(values.shape, dtype=bool), None, None, bars)
    state = visible(record, frame)
    points = state.path_points
    reached = np.ones(values.shape, dtype=bool)
    for c, key in enumerate(keys):
        if key in ("after", "grad", "cg"):
            reached[:, c] = state.task_grads
        elif key.startswith("loss"):
            reached[:, c] = points > int(key[4:])
        elif key.startswith("norm"):
            reached[:, c] = points > int(key[4:]) + 1
    focus_key = {"inner": f"loss{frame.inner_step}", "cg": "cg", "task_grad": "grad",
                 "weights": "weight"}.get(frame.phase)
    focus = (frame.task, keys.index(focus_key)) if focus_key in keys else None
    return FrameView(reached, focus, frame.task, bars)


__all__ = ["Column", "FrameView", "column_values", "describe_frame", "format_number",
           "frame_view", "settings_text", "superscript", "table_columns", "task_weights"]
