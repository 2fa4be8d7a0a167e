"""What every meta-learning algorithm computes, and the batched pieces they share.

Tasks are never looped over in Python: θ is copied into one row per task (a leaf of shape
``(n, P)``), the inner loop runs on all rows at once, and since the tasks do not interact,
one backward pass of the summed loss yields every task's own meta-gradient in its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import torch

from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily


@dataclass
class MetaGradient:
    """One meta-step's results for a batch of ``n`` tasks (tensors, detached)."""

    task_grads: torch.Tensor  # (n, P): gᵢ
    aggregate: torch.Tensor  # (P,): what the outer optimizer receives
    paths: torch.Tensor  # (n, k+1, P): φ⁰ = θ … φᵏ
    inner_losses: torch.Tensor  # (n, k+1): support loss along the path
    inner_grad_norms: torch.Tensor  # (n, k): norm of each inner step's gradient
    loss_before: torch.Tensor  # (n,): query loss at θ
    loss_after: torch.Tensor  # (n,): query loss at φᵏ (after adaptation)
    grad_evals: int  # gradient evaluations (all tasks together)
    hvp_evals: int  # Hessian-vector products (all tasks together)
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class InnerPath:
    final: torch.Tensor  # φᵏ, still attached to the graph when ``create_graph``
    points: torch.Tensor  # (n, k+1, P), detached
    losses: torch.Tensor  # (n, k+1)
    grad_norms: torch.Tensor  # (n, k)


def task_rows(theta: torch.Tensor, n: int) -> torch.Tensor:
    """θ copied into ``n`` rows: a fresh leaf so that each row's gradient is one task's."""
    return theta.detach().unsqueeze(0).expand(n, -1).clone().requires_grad_(True)


def run_inner_loop(
    family: TaskFamily,
    batch: TaskBatch,
    start: torch.Tensor,
    inner_lr: float,
    steps: int,
    *,
    create_graph: bool,
    proximal_lambda: float | None = None,
) -> InnerPath:
    """``steps`` gradient steps on every task's support loss, all tasks at once.

    With ``proximal_lambda`` the objective is iMAML's Lˢ(φ) + λ/2‖φ − θ‖² around ``start``.
    With ``create_graph`` the steps stay differentiable (MAML's exact second-order path).
    """
    anchor = start.detach()
    phi = start if create_graph else start.detach().requires_grad_(True)
    points, losses, grad_norms = [phi.detach()], [], []
    for _ in range(steps):
        loss = family.loss(phi, batch, SUPPORT)
        objective = loss
        if proximal_lambda is not None:
            objective = loss + 0.5 * proximal_lambda * (phi - anchor).square().sum(-1)
        (grad,) = torch.autograd.grad(objective.sum(), phi, create_graph=create_graph)
        losses.append(loss.detach())
        grad_norms.append(grad.detach().norm(dim=-1))
        phi = phi - inner_lr * grad
        if not create_graph:
            phi = phi.detach().requires_grad_(True)
        points.append(phi.detach())
    with torch.no_grad():
        losses.append(family.loss(phi.detach(), batch, SUPPORT))
    empty = torch.zeros(phi.shape[0], 0, dtype=phi.dtype, device=phi.device)
    return InnerPath(
        final=phi,
        points=torch.stack(points, dim=1),
        losses=torch.stack(losses, dim=1),
        grad_norms=torch.stack(grad_norms, dim=1) if grad_norms else empty,
    )


def query_loss_and_grad(
    family: TaskFamily, batch: TaskBatch, phi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every task's query loss at its own row of ``phi`` and its gradient there."""
    phi = phi.detach().requires_grad_(True)
    loss = family.loss(phi, batch, QUERY)
    (grad,) = torch.autograd.grad(loss.sum(), phi)
    return loss.detach(), grad


def query_loss(family: TaskFamily, batch: TaskBatch, phi: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return family.loss(phi.detach(), batch, QUERY)


class Algorithm:
    """A meta-learning algorithm: from θ and a batch of tasks to per-task meta-gradients."""

    name: ClassVar[str]
    label: ClassVar[str]
    summary: ClassVar[str]
    #: needs double backward (refused on devices that cannot do it)
    second_order: ClassVar[bool] = False
    #: which hot settings change what this algorithm computes (the panel greys out the rest)
    uses: ClassVar[tuple[str, ...]] = ("inner_lr", "inner_steps", "outer_lr")

    def __init__(self, family: TaskFamily, pool_size: int | None):
        self.family = family
        self.pool_size = pool_size

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        raise NotImplementedError

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        """Update algorithm state after the outer step (TR-MAML's task weights)."""

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` (checkpoints); stateless algorithms ignore it."""


def mean_aggregate(task_grads: torch.Tensor) -> torch.Tensor:
    return task_grads.mean(dim=0)


def batched_conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    max_steps: int,
    tolerance: float,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Solve ``M xᵢ = bᵢ`` for every row i at once with conjugate gradients.

    ``matvec`` applies each task's own symmetric ``M`` row by row. A task stops updating once
    its relative residual ‖rᵢ‖/‖bᵢ‖ is at most ``tolerance``; the loop ends when all have.

    Returns
    -------
    solution : (n, P)
    residuals : (n, iterations + 1) relative residual norms, starting with 1 (x = 0)
    iterations : matrix-vector products performed
    """
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rs = (r * r).sum(-1)
    scale = rhs.norm(dim=-1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    residuals = [rs.sqrt() / scale]
    iterations = 0
    for _ in range(max_steps):
        active = residuals[-1] > tolerance
        if not bool(active.any()):
            break
        mp = matvec(p)
        iterations += 1
        curvature = (p * mp).sum(-1)
        usable = active & (curvature != 0)
        step = torch.where(usable, rs / torch.where(usable, curvature, torch.ones_like(rs)),
                           torch.zeros_like(rs))
        x = x + step.unsqueeze(-1) * p
        r = r - step.unsqueeze(-1) * mp
        rs_new = (r * r).sum(-1)
        keep = usable & (rs > 0)
        beta = torch.where(keep, rs_new / torch.where(keep, rs, torch.ones_like(rs)),
                           torch.zeros_like(rs))
        p = torch.where(usable.unsqueeze(-1), r + beta.unsqueeze(-1) * p, p)
        rs = torch.where(usable, rs_new, rs)
        residuals.append(rs.sqrt() / scale)
    return x, torch.stack(residuals, dim=-1), iterations
