"""What every meta-learning algorithm computes, and the batched pieces they share.

Tasks are never looped over in Python: θ is copied into one row per task (a leaf of shape
``(n, P)``), the inner loop runs on all rows at once, and when the tasks do not interact,
one backward pass of the summed loss yields every task's own meta-gradient in its row.
Algorithms whose inner loops share information across tasks (TreeMAML pools gradients)
set ``independent_rows = False``: the summed backward still gives the exact aggregate, but
each task's own gᵢ = ∂Lᵢ/∂θ = Σ_r ∂Lᵢ/∂row_r then needs one backward pass per task
(:func:`task_meta_gradients`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily

#: a differentiable objective of every task's row: (φ (n, P), split) → losses (n,)
Objective = Callable[[torch.Tensor, str], torch.Tensor]


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

    @classmethod
    def from_path(cls, path: "InnerPath", task_grads: torch.Tensor, **results: Any) -> "MetaGradient":
        """The results of algorithms whose tasks adapt along one :class:`InnerPath` each and
        whose aggregate is the mean gᵢ; ``results`` gives the losses, counts and diagnostics."""
        return cls(task_grads=task_grads, aggregate=mean_aggregate(task_grads), paths=path.points,
                   inner_losses=path.losses, inner_grad_norms=path.grad_norms, **results)


@dataclass
class InnerPath:
    final: torch.Tensor  # φᵏ, still attached to the graph when ``create_graph``
    points: torch.Tensor  # (n, k+1, P), detached
    losses: torch.Tensor  # (n, k+1)
    grad_norms: torch.Tensor  # (n, k)


def starts(theta: torch.Tensor, n: int) -> torch.Tensor:
    """Detached starting points ``(..., n, P)``: θ ``(P,)`` copied for ``n`` tasks, or the
    given per-task rows ``(..., n, P)`` as they are."""
    theta = theta.detach()
    return theta.expand(n, -1).clone() if theta.dim() == 1 else theta


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
    objective_fn: Objective | None = None,
) -> InnerPath:
    """``steps`` gradient steps on every task's support loss, all tasks at once.

    With ``proximal_lambda`` the objective is iMAML's Lˢ(φ) + λ/2‖φ − θ‖² around ``start``.
    With ``create_graph`` the steps stay differentiable (MAML's exact second-order path).
    ``objective_fn`` replaces the family's loss (B-SMALL's data + λ·KL); the recorded losses
    are then that objective's values.
    """
    analytic = objective_fn is None and family.differentiable_grad
    # the family's own differentiable step: one node in MAML's graph, its backward by hand
    stepping = analytic and start.dim() == 2 and proximal_lambda is None
    if objective_fn is None:
        def objective_fn(phi: torch.Tensor, split: str) -> torch.Tensor:
            return family.loss(phi, batch, split)
    anchor = start.detach()
    phi = start if create_graph else start.detach().requires_grad_(True)
    points, losses, grads = [phi.detach()], [], []
    for _ in range(steps):
        if stepping:
            with torch.set_grad_enabled(create_graph):
                loss, grad, phi = family.gradient_step(phi, batch, inner_lr, SUPPORT)
        else:
            if analytic:  # the family's own gradient, differentiable (see TaskFamily)
                with torch.set_grad_enabled(create_graph):
                    loss, grad = family.loss_and_grad(phi, batch, SUPPORT)
            else:
                loss = objective_fn(phi, SUPPORT)
                (grad,) = torch.autograd.grad(loss.sum(), phi, create_graph=create_graph)
            if proximal_lambda is not None:
                grad = grad + proximal_lambda * (phi - anchor)
            phi = torch.add(phi, grad, alpha=-inner_lr)  # one node in MAML's graph, not two
        losses.append(loss.detach())
        grads.append(grad.detach())
        if not create_graph:
            phi = phi.detach().requires_grad_(True)
        points.append(phi.detach())
    with torch.no_grad():
        losses.append(objective_fn(phi.detach(), SUPPORT))
        grad_norms = torch.stack(grads, dim=1).norm(dim=-1) if grads else \
            torch.zeros(phi.shape[0], 0, dtype=phi.dtype, device=phi.device)
    return InnerPath(
        final=phi,
        points=torch.stack(points, dim=1),
        losses=torch.stack(losses, dim=1),
        grad_norms=grad_norms,
    )


def task_meta_gradients(losses: torch.Tensor, rows: torch.Tensor, *, independent: bool,
                        groups: np.ndarray | None = None) -> torch.Tensor:
    """Every task's own meta-gradient gᵢ = ∂Lᵢ/∂θ, ``(n, P)``, from losses ``(n,)`` of ``rows``.

    ``rows`` is the leaf of θ copied per task (:func:`task_rows`). When the rows are
    ``independent`` (task i's loss depends on row i alone) one backward pass of Σᵢ Lᵢ puts gᵢ
    in row i. Otherwise Lᵢ depends on other rows too and gᵢ = Σ_r ∂Lᵢ/∂row_r: rows of the
    Jacobian ∂L/∂rows, by batched backward passes. ``groups`` (a label per task) says which
    tasks may interact (none across groups): one pass then serves one task of every group,
    so it takes as many passes as the largest group has tasks (n without ``groups``).
    """
    if independent:
        (grads,) = torch.autograd.grad(losses.sum(), rows)
        return grads
    n = losses.shape[0]
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    rank = np.array([int((groups[:i] == groups[i]).sum()) for i in range(n)])
    basis = torch.zeros(int(rank.max()) + 1, n, dtype=losses.dtype, device=losses.device)
    basis[torch.as_tensor(rank), torch.arange(n)] = 1.0
    try:
        (jacobian,) = torch.autograd.grad(losses, rows, grad_outputs=basis, is_grads_batched=True,
                                          retain_graph=True)
    except RuntimeError:  # an op without a batching rule: the same passes one by one
        jacobian = torch.stack([
            torch.autograd.grad(losses, rows, grad_outputs=b, retain_graph=True)[0] for b in basis
        ])
    same = torch.as_tensor(groups[:, None] == groups[None, :], dtype=losses.dtype,
                           device=losses.device)
    # pass rank[i] holds, in the rows of i's group, ∂Lᵢ/∂row_r: sum those rows
    return torch.einsum("ir,irp->ip", same, jacobian[torch.as_tensor(rank)])


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
    #: the name in captions, legends, menus and comparison labels: the label without its
    #: parenthesis ("Pretraining (ERM)" → "Pretraining") unless a subclass sets its own
    short_label: ClassVar[str]
    summary: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "short_label" not in cls.__dict__ and "label" in cls.__dict__:
            cls.short_label = cls.label.split(" (")[0]
    #: needs double backward (refused on devices that cannot do it)
    second_order: ClassVar[bool] = False
    #: which hot settings change what this algorithm computes (the panel greys out the rest)
    uses: ClassVar[tuple[str, ...]] = ("inner_lr", "inner_steps", "outer_lr")
    #: task i's inner loop depends on task i alone, so a backward pass of Σᵢ Lᵢ leaves gᵢ in
    #: row i; False when tasks share inner-loop information (see :func:`task_meta_gradients`)
    independent_rows: ClassVar[bool] = True
    #: adapts otherwise than by plain gradient descent on the family's loss (its own
    #: :meth:`fine_tune`, :meth:`predict` and :meth:`evaluation_loss`)
    own_adaptation: ClassVar[bool] = False
    #: k steps of :meth:`fine_tune` are the first k of any longer run (False for MetaNAS,
    #: whose temperature falls over the whole run): one run then serves every step count
    fine_tune_prefix_stable: ClassVar[bool] = True
    #: small fixed-shape diagnostics charted over the whole run (:class:`RunHistory` keeps
    #: them thinned, beyond its window of recent records)
    chart_series: ClassVar[tuple[str, ...]] = ()

    def __init__(self, family: TaskFamily, pool_size: int | None):
        self.family = family
        self.pool_size = pool_size

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        raise NotImplementedError

    def proximal_lambda(self, config: Config) -> float | None:
        """λ of the inner objective's proximal term λ/2‖φ − θ‖² (iMAML); None without one."""
        return None

    def adapt(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> InnerPath:
        """Every task's inner loop from θ, detached (no graph for a meta-gradient)."""
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        return run_inner_loop(self.family, batch, start, config.inner_lr, config.inner_steps,
                              create_graph=False, proximal_lambda=self.proximal_lambda(config))

    def fine_tune(self, theta: torch.Tensor, batch: TaskBatch, config: Config,
                  steps: int) -> InnerPath:
        """``steps`` steps of this algorithm's own adaptation from θ on every task of
        ``batch`` (detached): what the learner does with θ on a new task, as the function view
        and the landscape's meta surface show it.

        Parameters
        ----------
        theta : ``(P,)`` shared by every task, or ``(..., n, P)`` one start per task (leading
            dimensions are separate problems, e.g. landscape grid points)

        Plain gradient descent on the support loss, unless the algorithm adapts otherwise
        (:attr:`own_adaptation`): B-SMALL on data + λ·KL with its noise, MetaNAS with DARTS.
        """
        return run_inner_loop(self.family, batch, starts(theta, batch.n), config.inner_lr, steps,
                              create_graph=False)

    def predict(self, phi: torch.Tensor, x: torch.Tensor, config: Config) -> torch.Tensor:
        """Outputs ``(..., n, M)`` of adapted parameters ``phi`` ``(..., n, P)`` as the
        algorithm evaluates them (B-SMALL: masked and deterministic; MetaNAS: the last
        inner step's temperature, pruned operations out)."""
        return self.family.predict(phi, x)

    def evaluation_loss(self, phi: torch.Tensor, batch: TaskBatch, split: str,
                        config: Config) -> torch.Tensor:
        """Every task's loss ``(..., n)`` under :meth:`predict` (the plain MSE for data)."""
        return self.family.loss(phi, batch, split)

    def sample_predictions(self, phi: torch.Tensor, x: torch.Tensor, config: Config,
                           samples: int, generator: torch.Generator) -> torch.Tensor | None:
        """``samples`` draws ``(samples, ..., n, M)`` of a stochastic model's outputs (B-SMALL's
        noise), or None for a deterministic one."""
        return None

    def follow(self, diagnostics: dict[str, np.ndarray]) -> None:
        """Take from a run's record the state that changes how this algorithm adapts
        (MetaNAS's pruned operations), for a view that adapts as the run does; most have none."""

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        """Update algorithm state after the outer step (TR-MAML's task weights)."""

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` (checkpoints); stateless algorithms ignore it."""


def mean_aggregate(task_grads: torch.Tensor) -> torch.Tensor:
    return task_grads.mean(dim=0)


@dataclass
class ConjugateGradientResult:
    """What :func:`batched_conjugate_gradient` found, row by row."""

    solution: torch.Tensor  # (n, P)
    #: (n, iterations + 1) relative residuals ‖bᵢ − Mᵢxᵢ‖/‖bᵢ‖, starting with 1 (x = 0). The
    #: last column and every value that stopped a row are recomputed from x (true residuals);
    #: the others are CG's recursive estimate, which drifts below the true value near
    #: machine precision.
    residuals: torch.Tensor
    #: (n,) smallest Rayleigh quotient pᵀMp/pᵀp met (NaN if no iteration): ≤ 0 means M is not
    #: positive definite, so CG's answer cannot be trusted.
    min_curvature: torch.Tensor
    iterations: int  # CG iterations
    matvecs: int  # matrix-vector products, the true-residual checks included


def batched_conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    max_steps: int,
    tolerance: float,
) -> ConjugateGradientResult:
    """Solve ``M xᵢ = bᵢ`` for every row i at once with conjugate gradients.

    ``matvec`` applies each task's own symmetric ``M`` row by row. A row stops once its true
    relative residual ‖bᵢ − Mxᵢ‖/‖bᵢ‖ is at most ``tolerance``: when CG's cheap recursive
    estimate passes the test, the residual is recomputed from x (one extra product); if the
    true one has not passed, it replaces the estimate and the row goes on. A row whose
    curvature pᵀMp is exactly 0 cannot go on (breakdown) and stops.
    """
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rs = (r * r).sum(-1)
    scale = rhs.norm(dim=-1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    residuals = [rs.sqrt() / scale]  # exact at x = 0
    done = residuals[0] <= tolerance
    exact = torch.ones_like(done)  # the latest residual of the row was recomputed from x
    min_curvature = torch.full_like(scale, float("inf"))
    iterations = matvecs = 0

    def true_residual() -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal matvecs
        matvecs += 1
        true_r = rhs - matvec(x)
        return true_r, true_r.norm(dim=-1) / scale

    for _ in range(max_steps):
        active = ~done
        if not bool(active.any()):
            break
        mp = matvec(p)
        iterations += 1
        matvecs += 1
        curvature = (p * mp).sum(-1)
        length = (p * p).sum(-1)
        seen = active & (length > 0)
        quotient = curvature / torch.where(seen, length, torch.ones_like(length))
        min_curvature = torch.where(seen, torch.minimum(min_curvature, quotient), min_curvature)
        usable = active & (curvature != 0)
        step = torch.where(usable, rs / torch.where(usable, curvature, torch.ones_like(rs)),
                           torch.zeros_like(rs))
        x = x + step.unsqueeze(-1) * p
        r = torch.where(usable.unsqueeze(-1), r - step.unsqueeze(-1) * mp, r)
        rs_new = (r * r).sum(-1)
        estimate = rs_new.sqrt() / scale
        passed = usable & (estimate <= tolerance)
        exact = exact & ~usable
        if bool(passed.any()):  # the stopping test, on the true residual
            true_r, true_norm = true_residual()
            failed = passed & (true_norm > tolerance)  # the estimate had drifted: replace it
            r = torch.where(failed.unsqueeze(-1), true_r, r)
            rs_new = torch.where(failed, (true_r * true_r).sum(-1), rs_new)
            estimate = torch.where(usable, true_norm, estimate)
            exact = exact | usable
            passed = usable & (true_norm <= tolerance)
        keep = usable & (rs > 0)
        beta = torch.where(keep, rs_new / torch.where(keep, rs, torch.ones_like(rs)),
                           torch.zeros_like(rs))
        p = torch.where(usable.unsqueeze(-1), r + beta.unsqueeze(-1) * p, p)
        rs = torch.where(usable, rs_new, rs)
        residuals.append(torch.where(usable, estimate, residuals[-1]))
        done = done | passed | (active & ~usable)
    if not bool(exact.all()):
        _, true_norm = true_residual()
        residuals[-1] = torch.where(exact, residuals[-1], true_norm)
    min_curvature = torch.where(torch.isinf(min_curvature), torch.full_like(scale, float("nan")),
                                min_curvature)
    return ConjugateGradientResult(x, torch.stack(residuals, dim=-1), min_curvature,
                                   iterations, matvecs)
