"""Why a meta-step diverged: the computation that produced its first bad value, with numbers.

A value is bad when it is not finite or its magnitude passes :data:`EXPLODED`. A meta-step
computes, in this order: θ (made by the previous step's outer update) and its loss; each
task's inner loop φ⁰ = θ … φᵏ; the query loss at φᵏ; each task's meta-gradient (through the
inner loop, or iMAML's implicit solve); their aggregate; the outer update θ → θ'. The reason
names the first of these that went bad, with one judgement: when θ's loss or the inner loop
blows up just after an outer update, the inner loop is replayed from the previous θ on the
same tasks, and the two are weighed: the factor by which the outer update raised the loss at
θ against the largest factor by which the inner loop raises a task's support loss from the
previous θ (infinite if it blows up there too). The larger names the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from maml_gui.core.algorithms.imaml import curvature_warning
from maml_gui.core.trace import StepRecord

# A loss this large is as good as infinite: stop before float32 overflows into inf/NaN.
EXPLODED = 1e30

#: support losses (n, k+1) along every task's inner loop from a given θ, on the step's tasks
Replay = Callable[[np.ndarray], np.ndarray]


def bad(array: np.ndarray) -> np.ndarray:
    """Elementwise: not finite, or beyond :data:`EXPLODED`."""
    array = np.asarray(array)
    return ~np.isfinite(array) | (np.abs(array) > EXPLODED)


def any_bad(*arrays: np.ndarray | None) -> bool:
    """Whether any value of ``arrays`` is bad (:func:`bad`), from each array's extremes.

    NaN propagates through ``min``/``max`` and fails both comparisons: two reductions per
    array instead of four elementwise passes and their temporaries (a meta-step checks its
    1 MiB inner path this way).
    """
    for array in arrays:
        if array is None:
            continue
        array = np.asarray(array)
        if array.size and not (-EXPLODED <= array.min() and array.max() <= EXPLODED):
            return True
    return False


def _g(value: float) -> str:
    return f"{float(value):.3g}"


def _norm(vector: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(np.asarray(vector, dtype=np.float64)))


def _first_inner_blowup(record: StepRecord) -> tuple[int, int] | None:
    """(task, inner step j ≥ 1) of the earliest bad inner point or support loss."""
    bad_points = bad(record.inner_losses)
    if record.paths is not None and record.paths.shape[1] == record.inner_losses.shape[1]:
        bad_points = bad_points | bad(record.paths).any(axis=-1)
    bad_points[:, 0] = False  # φ⁰ = θ: the start, not the inner loop
    if not bad_points.any():
        return None
    step = int(np.argmax(bad_points.any(axis=0)))
    return int(np.argmax(bad_points[:, step])), step


def _rise(losses: np.ndarray) -> tuple[float, float] | None:
    """(start, peak) when the support loss rose along an inner loop (the step overshoots)."""
    finite = losses[np.isfinite(losses)]
    if losses.size < 2 or finite.size == 0 or not np.isfinite(losses[0]):
        return None
    peak = float(np.max(finite))
    return (float(losses[0]), peak) if peak > losses[0] else None


def _driver(record: StepRecord) -> tuple[str, bool]:
    """Which task made the step's meta-gradient large, and whether its inner loop overshot."""
    norms = np.array([_norm(g) for g in record.task_meta_grads])
    if norms.size < 2 or not np.isfinite(norms).all():
        return "", False
    task = int(np.argmax(norms))
    if norms[task] < 0.5 * norms.sum():  # no single task dominates the mean
        return "", False
    text = f"; ‖g‖ came mostly from task {task} (‖g{task}‖ = {_g(norms[task])}"
    rise = _rise(record.inner_losses[task])
    if rise is not None:
        text += (f", whose support loss rose from {_g(rise[0])} to {_g(rise[1])} along its inner "
                 f"loop at α = {record.hyper.get('inner_lr', float('nan')):g}")
    curvature = record.diagnostics.get("cg_min_curvature")
    if curvature is not None and curvature.reshape(-1)[task] <= 0:
        text += f"; its CG met pᵀMp/‖p‖² = {_g(curvature.reshape(-1)[task])} ≤ 0"
    return text + ")", rise is not None


def _outer_update(previous: StepRecord, optimizer: str, effect: str) -> str:
    """The outer update of ``previous`` named as the cause, with its size."""
    beta = previous.hyper.get("outer_lr", float("nan"))
    moved = _norm(previous.theta_next - previous.theta)
    name = "Adam" if optimizer == "adam" else "SGD"
    driver, overshoots = _driver(previous)
    advice = "lower β" + ("; a smaller α also calms that task's inner loop" if overshoots else "")
    return (f"outer update diverged: the outer update of step {previous.step} moved θ by "
            f"{_g(moved)} ({name}, β = {beta:g}, ‖g‖ = {_g(_norm(previous.meta_grad))}) and "
            f"{effect}{driver}: the outer learning rate β = {beta:g} is too high for the "
            f"meta-objective's curvature ({advice})")


def _inner_advice(record: StepRecord) -> str:
    alpha = record.hyper.get("inner_lr", float("nan"))
    proximal = ""
    if record.algorithm == "imaml":
        proximal = f"; the proximal term adds λ = {record.hyper.get('imaml_lambda', 0):g} to it"
    return (f"the inner learning rate α = {alpha:g} is too high for this task's curvature "
            f"(each inner step overshoots{proximal}; try a smaller α or fewer inner steps)")


def _inner_loop(record: StepRecord, task: int, step: int, weighed: str = "") -> str:
    losses = record.inner_losses[task]
    alpha = record.hyper.get("inner_lr", float("nan"))
    points = sorted({0, max(step - 2, 0), step - 1, step})
    shown = " → ".join(("… → " if b - a > 1 else "") + _g(losses[b])
                       for a, b in zip([points[0]] + points, points))
    lengths = ""
    if record.inner_grad_norms.shape[1] >= step:
        length = alpha * float(record.inner_grad_norms[task, step - 1])
        lengths = f"; inner step {step} moved φ by α‖∇‖ = {_g(length)}"
    return (f"inner loop diverged (task {task} blew up at inner step {step}: its support loss "
            f"went {shown}{lengths}{weighed}): {_inner_advice(record)}")


@dataclass(frozen=True)
class _Weighing:
    """How much the last outer update and the inner loop each multiply the loss."""

    outer: float  # mean support loss at θ over that at the previous θ (this step's tasks)
    inner: float  # the largest rise of a task's support loss along its inner loop from there
    task: int  # that task
    before: float  # mean support loss at the previous θ
    after: float  # and at θ

    @property
    def inner_wins(self) -> bool:
        return self.inner > self.outer

    def outer_words(self) -> str:
        inner = ("while the inner loop from the previous θ does not raise it" if self.inner <= 1 else
                 f"more than the inner loop raises it from the previous θ (at most "
                 f"{_g(self.inner)}-fold, task {self.task})")
        return (f"on this step's tasks the mean support loss at θ rose {_g(self.outer)}-fold, "
                f"from {_g(self.before)} to {_g(self.after)}, {inner}")

    def inner_words(self) -> str:
        inner = "to infinity" if not np.isfinite(self.inner) else f"{_g(self.inner)}-fold"
        return (f"; from the previous θ the inner loop already raises task {self.task}'s "
                f"support loss {inner}, more than the last outer update's {_g(self.outer)}-fold "
                "rise of the loss at θ")


def _weigh(record: StepRecord, previous: StepRecord | None,
           replay: Replay | None) -> _Weighing | None:
    """Outer update against inner loop on this step's tasks; None without the means."""
    if previous is None or replay is None:
        return None
    before = replay(previous.theta)
    start, now = before[:, 0], record.inner_losses[:, 0]
    if bad(start).any() or np.any(start <= 0) or np.any(now <= 0):  # ratios need losses > 0
        return None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rises = np.where(bad(before).any(axis=1), np.inf, np.max(before, axis=1) / start)
        outer = float(np.mean(now) / np.mean(start))
    outer = outer if np.isfinite(outer) else np.inf
    task = int(np.argmax(rises))
    return _Weighing(float(outer), float(rises[task]), task, float(np.mean(start)),
                     float(np.mean(now)))


def _meta_gradient(record: StepRecord) -> str:
    norms = np.array([_norm(g) for g in record.task_meta_grads])
    task = int(np.argmax(bad(norms) | bad(record.task_meta_grads).any(axis=-1)))
    alpha, k = record.hyper.get("inner_lr", float("nan")), record.inner_steps
    if record.algorithm == "imaml":
        residual = record.diagnostics.get("cg_residuals")
        numbers = f"‖g{task}‖ = {_g(norms[task])}"
        if residual is not None:
            numbers += f", CG residual {_g(residual[task, -1])}"
        warning = curvature_warning(record.diagnostics, record.hyper)
        cause = warning if warning else (
            f"raise λ = {record.hyper.get('imaml_lambda', float('nan')):g} or the CG damping δ "
            f"= {record.hyper.get('cg_damping', 0):g}")
        return f"implicit solve diverged (task {task}: {numbers}): {cause}"
    if record.algorithm in ("maml", "tr_maml"):
        return (f"meta-gradient diverged (task {task}: ‖g{task}‖ = {_g(norms[task])} while its "
                f"inner path stayed finite): backpropagating through the {k} inner steps "
                f"multiplies it by I − α∇²Lˢ at every step; the inner learning rate α = "
                f"{alpha:g} is too high for this task's curvature (try a smaller α or fewer "
                "inner steps)")
    return (f"meta-gradient diverged (task {task}: the query gradient ‖g{task}‖ = "
            f"{_g(norms[task])} at its adapted point): the inner learning rate α = {alpha:g} "
            "carried it too far (try a smaller α or fewer inner steps)")


def _memo(replay: Replay) -> Replay:
    results: dict[bytes, np.ndarray] = {}

    def cached(theta: np.ndarray) -> np.ndarray:
        key = np.asarray(theta).tobytes()
        if key not in results:
            results[key] = replay(theta)
        return results[key]
    return cached


def diagnose(record: StepRecord, *, optimizer: str, previous: StepRecord | None = None,
             replay: Replay | None = None) -> str:
    """The reason a step with a bad value diverged, naming the computation that produced it.

    Parameters
    ----------
    record : the diverged step (full inner paths).
    optimizer : the outer optimizer's name (``"sgd"`` or ``"adam"``).
    previous : the step before, whose outer update produced ``record.theta``; None at the
        first step of a run.
    replay : support losses (n, k+1) of this step's inner loops started from another θ with
        the current settings; it lets an outer update that moved θ into trouble be told from
        an inner loop that overshoots anywhere.
    """
    if replay is not None:
        replay = _memo(replay)  # an inner loop's cost: run it once
    theta_loss = np.concatenate([record.loss_before, record.inner_losses[:, 0]])
    if any_bad(record.theta, theta_loss):
        if previous is None:
            return ("θ or its loss is not finite at the start of this step (the outer learning "
                    f"rate β = {record.hyper.get('outer_lr', float('nan')):g} may be too high, "
                    "or θ₀ is out of range)")
        weighing = _weigh(record, previous, replay)
        if weighing is not None and weighing.inner_wins:
            return (f"inner loop diverged (the loss at θ reached {_g(np.max(np.abs(theta_loss)))}"
                    f"{weighing.inner_words()}): {_inner_advice(record)}")
        effect = (weighing.outer_words() if weighing is not None else
                  f"the loss at θ went from {_g(previous.meta_loss_before)} to "
                  f"{_g(np.max(np.abs(theta_loss)))}")
        return _outer_update(previous, optimizer, effect)
    blowup = _first_inner_blowup(record)
    if blowup is not None:
        task, step = blowup
        weighing = _weigh(record, previous, replay)
        if weighing is None:
            return _inner_loop(record, task, step)
        if weighing.inner_wins:
            return _inner_loop(record, task, step, weighing.inner_words())
        return _outer_update(previous, optimizer, (
            f"{weighing.outer_words()}; there task {task}'s inner loop blew up at inner step "
            f"{step}"))
    if any_bad(record.loss_after):
        task = int(np.argmax(bad(record.loss_after)))
        return (f"inner loop diverged (task {task}'s query loss at its adapted φ is "
                f"{_g(record.loss_after[task])} while the support loss there is "
                f"{_g(record.inner_losses[task, -1])}): {_inner_advice(record)}")
    if any_bad(record.task_meta_grads):
        return _meta_gradient(record)
    if any_bad(record.meta_grad):
        return (f"aggregate meta-gradient diverged (‖g‖ = {_g(_norm(record.meta_grad))}, the "
                f"largest task's ‖gᵢ‖ = "
                f"{_g(max(_norm(g) for g in record.task_meta_grads))}): lower α or β")
    return _outer_update(record, optimizer, "left θ at "
                         f"‖θ'‖ = {_g(_norm(record.theta_next))}, no longer finite")
