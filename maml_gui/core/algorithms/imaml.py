"""iMAML: proximal inner solve, implicit meta-gradient by conjugate gradients with HVPs."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, batched_conjugate_gradient, query_loss,
    query_loss_and_grad,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import SUPPORT, TaskBatch


class IMAML(Algorithm):
    name = "imaml"
    label = "iMAML"
    summary = "φᵢ ≈ argmin Lᵢˢ(φ) + λ/2‖φ − θ‖²;  gᵢ = (I + ∇²Lᵢˢ(φᵢ)/λ)⁻¹ ∇Lᵢq(φᵢ) by CG"
    second_order = True
    uses = ("inner_lr", "inner_steps", "outer_lr", "imaml_lambda", "cg_steps", "cg_damping", "cg_tol")

    def proximal_lambda(self, config: Config) -> float:
        return config.imaml_lambda

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        lam = config.imaml_lambda
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        path = self.adapt(theta, batch, config)
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

        solve = batched_conjugate_gradient(matvec, query_grad, config.cg_steps, config.cg_tol)
        task_grads = solve.solution.detach()
        return MetaGradient.from_path(
            path, task_grads,
            loss_before=query_loss(self.family, batch, start),
            loss_after=loss_after,
            grad_evals=batch.n * (config.inner_steps + 2),
            hvp_evals=batch.n * solve.matvecs,
            diagnostics={"cg_residuals": solve.residuals.detach().cpu().numpy(),
                         "cg_min_curvature": solve.min_curvature.detach().cpu().numpy()},
        )


def curvature_warning(diagnostics: Mapping[str, np.ndarray],
                      hyper: Mapping[str, Any]) -> str | None:
    """Words for a CG solve that met pᵀMp ≤ 0 (M = I + (∇²Lˢ + δI)/λ not positive definite).

    None when every task's system looked positive definite, or the step has no CG solve.
    """
    curvature = diagnostics.get("cg_min_curvature")
    if curvature is None:
        return None
    curvature = np.asarray(curvature, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(curvature <= 0)  # NaN (no CG iteration) compares False
    if bad.size == 0:
        return None
    worst = int(bad[np.argmin(curvature[bad])])
    lam, damping = hyper.get("imaml_lambda"), hyper.get("cg_damping")
    settings = "" if lam is None else f" (now λ = {lam:g}, δ = {damping or 0:g})"
    return (f"iMAML's system I + (∇²Lˢ + δI)/λ is not positive definite for {bad.size} of "
            f"{curvature.size} task{'s' if curvature.size != 1 else ''} (CG met "
            f"pᵀMp/‖p‖² = {curvature[worst]:.3g} on task {worst}), so the implicit gradient is "
            f"unreliable: raise λ or the CG damping δ{settings}")
