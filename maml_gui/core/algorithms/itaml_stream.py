"""iTAML's task stream: sessions, the bounded exemplar memory, μₛ and the paper's inference.

Rules read from brjathu/iTAML (REFERENCE-EXTENSIONS § 3): task s arrives in session s (from
0); after session s the memory keeps ⌊M/((s+1)·C)⌋ exemplars of every seen class, the first
in index order (no herding), so an old class keeps a prefix of what it kept before; session
s trains on task s's data ∪ the memory left by session s − 1.

A family's "exemplars" are its per-sample support tensors (``x_support``, ``y_support``,
sliced on axis 1). The blob family's classes are its labels; a regression family (softplus)
has one class per task; a family without samples (quadratic) counts each task as one
exemplar, so there the memory only decides whether an old task stays in the stream.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from maml_gui.core.optimizers import Adam
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily

SAMPLE_KEYS = ("x_support", "y_support")
#: the paper's inference-time adaptation: 1 epoch of Adam at lr 10⁻³, minibatches of 64
INFERENCE_LR, INFERENCE_BATCH = 1e-3, 64


def interpolation_weight(session: int, decay: float, n_tasks: int) -> float:
    """μₛ = exp(−β_decay · s / T): how far the base moves towards the tasks' mean."""
    return math.exp(-decay * session / n_tasks)


def session_of(step: int, session_steps: int, n_tasks: int) -> int:
    """The session meta-step ``step`` belongs to; the last session goes on for ever."""
    return min(step // session_steps, n_tasks - 1)


def classes_per_task(family: TaskFamily) -> int:
    return int(getattr(family, "classes_per_task", 1))


def sample_classes(family: TaskFamily, pool: TaskBatch) -> np.ndarray:
    """Global class of every exemplar ``(T, N)``: t·C + label for classifiers, else t."""
    n = pool.n
    c = classes_per_task(family)
    if "x_support" not in pool.tensors:
        return np.arange(n)[:, None]
    count = pool["x_support"].shape[1]
    if c > 1:
        labels = pool["y_support"].detach().cpu().numpy().astype(np.int64)
        return np.arange(n)[:, None] * c + labels
    return np.broadcast_to(np.arange(n)[:, None], (n, count)).copy()


def class_ranks(classes: np.ndarray) -> np.ndarray:
    """Each exemplar's rank among its class's exemplars in index order (0 = first)."""
    ranks = np.zeros_like(classes)
    for row in range(classes.shape[0]):
        for value in np.unique(classes[row]):
            where = np.flatnonzero(classes[row] == value)
            ranks[row, where] = np.arange(where.size)
    return ranks


def per_class_quota(memory: int, session: int, classes: int) -> int:
    """⌊M / ((s+1)·C)⌋: exemplars kept per seen class after session ``session``."""
    return memory // ((session + 1) * classes)


def memory_mask(ranks: np.ndarray, memory: int, after_session: int, classes: int) -> np.ndarray:
    """Which exemplars ``(T, N)`` the memory holds after session ``after_session`` (−1: none)."""
    kept = np.zeros(ranks.shape, dtype=bool)
    if after_session < 0:
        return kept
    quota = per_class_quota(memory, after_session, classes)
    seen = min(after_session + 1, ranks.shape[0])
    kept[:seen] = ranks[:seen] < quota
    return kept


def session_mask(ranks: np.ndarray, memory: int, session: int, classes: int,
                 use_memory: bool = True) -> np.ndarray:
    """Session ``session``'s training data ``(T, N)``: task s's exemplars ∪ the memory."""
    data = memory_mask(ranks, memory, session - 1, classes) if use_memory else \
        np.zeros(ranks.shape, dtype=bool)
    data[session] = True
    return data


def memory_counts(classes: np.ndarray, kept: np.ndarray, n_classes: int) -> np.ndarray:
    """Exemplars held per global class ``(T·C,)``."""
    return np.bincount(classes[kept], minlength=n_classes)


def draw_minibatch(data: np.ndarray, size: int | None, generator: torch.Generator) -> np.ndarray:
    """``size`` exemplars of ``data`` ``(T, N)`` drawn without replacement (all if None)."""
    where = np.flatnonzero(data)
    if size is None or size >= where.size:
        return data.copy()
    chosen = torch.randperm(where.size, generator=generator)[:size].numpy()
    picked = np.zeros(data.size, dtype=bool)
    picked[where[chosen]] = True
    return picked.reshape(data.shape)


def task_subset(pool: TaskBatch, task: int, samples: np.ndarray) -> TaskBatch:
    """Task ``task`` of ``pool`` (one row) with only the exemplars ``samples`` ``(N,)`` bool."""
    one = pool.select([task])
    if "x_support" not in one.tensors:
        return one
    index = torch.as_tensor(np.flatnonzero(samples), dtype=torch.long)
    tensors = dict(one.tensors)
    for key in SAMPLE_KEYS:
        tensors[key] = tensors[key][:, index.to(tensors[key].device)]
    return TaskBatch(tensors, one.ids)


def task_scores(family: TaskFamily, theta: torch.Tensor, pool: TaskBatch) -> tuple[np.ndarray, str]:
    """Every task's score at ``theta``: test accuracy (classifiers, task-aware) or query loss."""
    rows = theta.detach().unsqueeze(0).expand(pool.n, -1)
    if hasattr(family, "accuracy"):
        return family.accuracy(rows, pool, QUERY).cpu().numpy(), "accuracy"
    with torch.no_grad():
        return family.loss(rows, pool, QUERY).cpu().numpy(), "loss"


def predict_tasks(family, theta: torch.Tensor, pool: TaskBatch) -> np.ndarray:
    """Task-prediction scores ``(T, T)``: row t = for the continuum of task t's test samples,
    the maximum logit within each task block, summed over the samples (t̂ = arg-max)."""
    with torch.no_grad():
        rows = theta.detach().unsqueeze(0).expand(pool.n, -1)
        logits = family.logits(rows, pool["x_query"])  # (T, M, T, C)
        return logits.amax(-1).sum(1).cpu().numpy()


def adapt_on_memory(family, theta: torch.Tensor, pool: TaskBatch, task: int,
                    kept: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """A copy of θ after one epoch of Adam (lr 10⁻³, batches of 64) on BCE of task ``task``'s
    block over its memory exemplars ``kept`` ``(T, N)``, as the paper's inference does."""
    phi = theta.detach().clone()
    where = np.flatnonzero(kept[task])
    if where.size == 0:
        return phi
    optimizer = Adam(INFERENCE_LR)
    order = torch.randperm(where.size, generator=generator).numpy()
    for start in range(0, where.size, INFERENCE_BATCH):
        chosen = np.zeros(kept.shape[1], dtype=bool)
        chosen[where[order[start:start + INFERENCE_BATCH]]] = True
        subset = task_subset(pool, task, chosen)
        row = phi.unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(family.loss(row, subset, SUPPORT).sum(), row)
        optimizer.step(phi, grad[0])
    return phi


def infer(family, theta: torch.Tensor, pool: TaskBatch, kept: np.ndarray, session: int,
          generator: torch.Generator) -> dict[str, np.ndarray]:
    """The paper's task-agnostic inference on every seen task's test continuum.

    For the continuum of task t: t̂ from :func:`predict_tasks`; a copy of θ adapted on t̂'s
    memory (skipped in session 0); classification within t̂'s block. A sample counts as
    right only when t̂ = t and its class is right. Returns the scores ``(T, T)``, t̂ ``(T,)``
    and the accuracies ``(T,)`` (NaN for tasks not seen yet).
    """
    scores = predict_tasks(family, theta, pool)
    chosen = scores.argmax(1)
    accuracy = np.full(pool.n, np.nan)
    for task in range(min(session + 1, pool.n)):
        guess = int(chosen[task])
        phi = theta if session == 0 else adapt_on_memory(family, theta, pool, guess, kept,
                                                         generator)
        if guess != task:
            accuracy[task] = 0.0
            continue
        with torch.no_grad():
            logits = family.logits(phi.unsqueeze(0), pool["x_query"][task:task + 1])[0, :, guess]
            accuracy[task] = float((logits.argmax(-1) == pool["y_query"][task]).double().mean())
    return {"task_prediction": scores, "predicted_task": chosen.astype(np.int64),
            "agnostic_accuracy": accuracy}
