"""TreeMAML (Garcia et al. 2021): inner steps pool the support gradients within task clusters.

No code of the authors is public; the rule here is reconstructed from the paper's text (see
REFERENCE-EXTENSIONS § 1). Clusters are nested from coarse (step 1) to fine (step k). With
Mⱼ[i, m] = 1[m ∈ Cⱼ(i)] / |Cⱼ(i)| (row-stochastic), every inner step is one matmul:

    φ⁰ = θ (every row),   φʲ = φʲ⁻¹ − α · Mⱼ · ∇Lˢ(φʲ⁻¹)

and the meta-gradient differentiates through the pooled path. Since task i's adapted φᵢ then
depends on other tasks' rows, the per-task gᵢ need a Jacobian (``independent_rows = False``).

Clusters are either fixed (``tree_clusters``, FixedTreeMAML) or learned at every inner step
(``tree_thresholds``): average-linkage agglomeration of the task gradients' cosine distances
within each parent cluster, cut at τⱼ (a toy stand-in for the paper's online top-down tree).
"""

from __future__ import annotations

import numpy as np
import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, mean_aggregate, query_loss, task_meta_gradients, task_rows,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch

#: per-step own gradients are kept for the landscape's faint arrows up to this many parameters
MAX_STORED_GRAD_DIM = 64


def cosine_distances(grads: np.ndarray | torch.Tensor) -> np.ndarray:
    """1 − cos∠(gₘ, gₘ′) for every pair of rows of ``grads`` ``(..., n, P)``: ``(..., n, n)``.

    A zero gradient is at distance 1 from all. Computed by torch (its one thread): numpy's
    BLAS would spread a 25 × 1761 product over every core, which on a loaded machine took
    200 ms instead of 1.
    """
    g = torch.as_tensor(grads).detach().to(torch.float64)
    norms = g.norm(dim=-1, keepdim=True)
    unit = g / torch.where(norms > 0, norms, torch.ones_like(norms))
    distance = (1.0 - unit @ unit.transpose(-1, -2)).cpu().numpy()
    n = distance.shape[-1]
    distance[..., np.arange(n), np.arange(n)] = 0.0
    return np.clip(distance, 0.0, 2.0)


def average_linkage_batch(distance: np.ndarray, parent: np.ndarray,
                          threshold: float) -> np.ndarray:
    """Average-linkage clusters within each parent cluster, for many problems at once.

    ``distance`` ``(C, n, n)``, ``parent`` ``(C, n)``. Two clusters of the same parent merge
    while their mean pairwise distance is strictly below ``threshold`` (τ = 0 keeps every task
    alone); merged clusters' mean distances follow the Lance–Williams update. Returns labels
    ``(C, n)``: each task's cluster's first member.
    """
    count, n, _ = distance.shape
    d = np.array(distance, dtype=np.float64)
    d[parent[:, :, None] != parent[:, None, :]] = np.inf  # never across parent clusters
    d[:, np.arange(n), np.arange(n)] = np.inf
    sizes = np.ones((count, n))
    alive = np.ones((count, n), dtype=bool)
    owner = np.tile(np.arange(n), (count, 1))  # a cluster is named by its smallest member
    problems = np.arange(count)
    for _ in range(n - 1):
        masked = np.where(alive[:, :, None] & alive[:, None, :], d, np.inf).reshape(count, -1)
        flat = masked.argmin(axis=1)
        going = masked[problems, flat] < threshold
        if not going.any():
            break
        r, flat = problems[going], flat[going]
        a, b = np.minimum(flat // n, flat % n), np.maximum(flat // n, flat % n)
        size_a, size_b = sizes[r, a], sizes[r, b]
        merged = (size_a[:, None] * d[r, a] + size_b[:, None] * d[r, b]) / (size_a + size_b)[:, None]
        d[r, a] = merged
        d[r, :, a] = merged
        d[r, a, a] = np.inf
        sizes[r, a] += size_b
        alive[r, b] = False
        owner[r] = np.where(owner[r] == b[:, None], a[:, None], owner[r])
    return owner


def average_linkage(distance: np.ndarray, threshold: float) -> np.ndarray:
    """Flat average-linkage clusters of one distance matrix cut at ``threshold``."""
    return average_linkage_batch(distance[None], np.zeros((1, distance.shape[0]), np.int64),
                                 threshold)[0]


def canonical(labels: np.ndarray) -> np.ndarray:
    """Labels renamed to the index of each cluster's first member (comparable across steps)."""
    out = np.empty_like(labels)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        out[members] = members[0]
    return out


def pooling_matrix(labels: np.ndarray) -> np.ndarray:
    """Mⱼ[i, m] = 1[m in i's cluster] / |i's cluster| (row-stochastic), for labels ``(..., n)``."""
    same = (labels[..., :, None] == labels[..., None, :]).astype(np.float64)
    return same / same.sum(axis=-1, keepdims=True)


def learned_labels(parent: np.ndarray, distance: np.ndarray, threshold: float) -> np.ndarray:
    """Split every parent cluster by average linkage on ``distance`` cut at ``threshold``;
    any leading dimensions of ``parent`` ``(..., n)`` and ``distance`` ``(..., n, n)`` are
    separate problems."""
    n = parent.shape[-1]
    labels = average_linkage_batch(distance.reshape(-1, n, n), parent.reshape(-1, n), threshold)
    return labels.reshape(parent.shape)


def level(values, step: int):
    """Entry ``step`` of a per-step list; steps past its end reuse the last (finest) entry."""
    return values[min(step, len(values) - 1)]


def step_labels(config: Config, ids: np.ndarray, step: int, parent: np.ndarray,
                grads: np.ndarray | torch.Tensor) -> np.ndarray:
    """Task clusters at inner step ``step`` (0-based): the fixed tree's level for the pool
    tasks ``ids``, or the learned split of ``parent`` ``(..., n)`` by the gradients ``grads``
    ``(..., n, P)`` (leading dimensions: separate problems, e.g. landscape grid points)."""
    if config.tree_clusters is not None:
        fixed = canonical(np.asarray(level(config.tree_clusters, step), dtype=np.int64)[ids])
        return np.broadcast_to(fixed, parent.shape).copy()
    return learned_labels(parent, cosine_distances(grads), level(config.tree_thresholds, step))


def _passes(labels: list[np.ndarray]) -> int:
    """Backward passes of the per-task Jacobian: the largest step-1 cluster's size."""
    return int(np.bincount(labels[0]).max()) if labels else 1


class TreeMAML(Algorithm):
    name = "tree_maml"
    label = "TreeMAML"
    summary = ("φʲ = φʲ⁻¹ − α·Mⱼ·∇Lˢ(φʲ⁻¹): gradients pooled within clusters that split "
               "step by step (rule reconstructed from the paper's text)")
    second_order = True
    independent_rows = False
    uses = ("inner_lr", "inner_steps", "outer_lr", "tree_clusters", "tree_thresholds",
            "tree_first_order")

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        n, k, alpha = batch.n, config.inner_steps, config.inner_lr
        first_order = config.tree_first_order
        rows = task_rows(theta, n)
        phi = rows
        parent = np.zeros(n, dtype=np.int64)
        points, losses, norms, labels, distances, own = [rows.detach()], [], [], [], [], []
        for step in range(k):
            if first_order:
                phi = phi.detach().requires_grad_(True)
            loss = self.family.loss(phi, batch, SUPPORT)
            (grad,) = torch.autograd.grad(loss.sum(), phi, create_graph=not first_order)
            plain = grad.detach().to(torch.float64)
            parent = step_labels(config, batch.ids, step, parent, plain)
            pooling = torch.as_tensor(pooling_matrix(parent), dtype=grad.dtype, device=grad.device)
            phi = phi - alpha * (pooling @ grad)
            points.append(phi.detach())
            losses.append(loss.detach())
            norms.append(grad.detach().norm(dim=-1))
            labels.append(parent)
            distances.append(cosine_distances(plain))
            own.append(plain.cpu().numpy())
        with torch.no_grad():
            losses.append(self.family.loss(phi.detach(), batch, SUPPORT))
        if first_order:
            phi = phi.detach().requires_grad_(True)
            loss_after = self.family.loss(phi, batch, QUERY)
            (task_grads,) = torch.autograd.grad(loss_after.sum(), phi)
        else:
            loss_after = self.family.loss(phi, batch, QUERY)
            # tasks in different step-1 clusters never share information
            groups = labels[0] if labels else np.arange(n)
            task_grads = task_meta_gradients(loss_after, rows, independent=False, groups=groups)
        diagnostics = {
            "cluster_labels": np.stack(labels, axis=1) if labels else np.zeros((n, 0), np.int64),
            # inner steps last: traces pad that axis when k changes during a run
            "grad_cosine_distances": np.stack(distances, axis=-1) if distances else
            np.zeros((n, n, 0)),
        }
        if theta.numel() <= MAX_STORED_GRAD_DIM and own:
            diagnostics["inner_grads"] = np.stack(own, axis=-1)  # (n, P, k): each task's own
        empty = torch.zeros(n, 0, dtype=theta.dtype, device=theta.device)
        return MetaGradient(
            task_grads=task_grads.detach(),
            aggregate=mean_aggregate(task_grads.detach()),
            paths=torch.stack(points, dim=1),
            inner_losses=torch.stack(losses, dim=1),
            inner_grad_norms=torch.stack(norms, dim=1) if norms else empty,
            loss_before=query_loss(self.family, batch, rows),
            loss_after=loss_after.detach(),
            grad_evals=n * (k + 1),
            hvp_evals=0 if first_order else n * k * _passes(labels),
            diagnostics=diagnostics,
        )
