"""iMAML: proximal inner solve, implicit meta-gradient by conjugate gradients with HVPs."""

from __future__ import annotations

import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, batched_conjugate_gradient, mean_aggregate, query_loss,
    query_loss_and_grad, run_inner_loop,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import SUPPORT, TaskBatch


class IMAML(Algorithm):
    name = "imaml"
    label = "iMAML"
    summary = "φᵢ ≈ argmin Lᵢˢ(φ) + λ/2‖φ − θ‖²;  gᵢ = (I + ∇²Lᵢˢ(φᵢ)/λ)⁻¹ ∇Lᵢq(φᵢ) by CG"
    second_order = True
    uses = ("inner_lr", "inner_steps", "outer_lr", "imaml_lambda", "cg_steps", "cg_damping", "cg_tol")

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        lam = config.imaml_lambda
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        path = run_inner_loop(self.family, batch, start, config.inner_lr, config.inner_steps,
                              create_graph=False, proximal_lambda=lam)
        phi = path.final.detach().requires_grad_(True)
        loss_after, query_grad = query_loss_and_grad(self.family, batch, phi)
        support_grad = torch.autograd.grad(
            self.family.loss(phi, batch, SUPPORT).sum(), phi, create_graph=True
        )[0]
        damping = config.cg_damping

        def matvec(v: torch.Tensor) -> torch.Tensor:
            # Reverse-over-reverse HVP on the graph built once above (rows are independent tasks).
            # A scalar ⟨∇L, v⟩ rather than grad_outputs=v: the latter makes autograd import
            # sympy (seconds) on first use, in the worker thread.
            if support_grad.requires_grad:
                (hv,) = torch.autograd.grad((support_grad * v).sum(), phi, retain_graph=True,
                                            allow_unused=True)
            else:  # the support loss is linear in φ: zero Hessian
                hv = None
            hv = torch.zeros_like(v) if hv is None else hv
            return v + (hv + damping * v) / lam

        task_grads, residuals, iterations = batched_conjugate_gradient(
            matvec, query_grad, config.cg_steps, config.cg_tol
        )
        return MetaGradient(
            task_grads=task_grads.detach(),
            aggregate=mean_aggregate(task_grads.detach()),
            paths=path.points,
            inner_losses=path.losses,
            inner_grad_norms=path.grad_norms,
            loss_before=query_loss(self.family, batch, start),
            loss_after=loss_after,
            grad_evals=batch.n * (config.inner_steps + 2),
            hvp_evals=batch.n * iterations,
            diagnostics={"cg_residuals": residuals.detach().cpu().numpy()},
        )
