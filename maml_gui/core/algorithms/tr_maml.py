"""TR-MAML (Collins et al. 2020): MAML against the worst case over a fixed set of tasks.

Task weights p live on the simplex over the training tasks. The meta-gradient is Σ pᵢgᵢ and
p follows projected gradient ascent on Σ pᵢFᵢ(θ), Fᵢ being task i's post-adaptation loss.
"""

from __future__ import annotations

import numpy as np
import torch

from maml_gui.core.algorithms.base import MetaGradient
from maml_gui.core.algorithms.maml import MAML
from maml_gui.core.config import Config
from maml_gui.core.tasks import TaskBatch


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {p : p ≥ 0, Σp = 1} (sort-based, Duchi et al. 2008).

    Raises ValueError for a non-finite ``v`` (there is no projection to speak of).
    """
    if not np.isfinite(v).all():
        raise ValueError("cannot project non-finite task weights onto the simplex")
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    index = np.arange(1, v.size + 1)
    rho = np.nonzero(u - cumulative / index > 0)[0][-1]
    shift = cumulative[rho] / (rho + 1.0)
    return np.maximum(v - shift, 0.0)


class TRMAML(MAML):
    name = "tr_maml"
    label = "TR-MAML"
    summary = "θ ← θ − β Σᵢ pᵢgᵢ;  p ← Proj_Δ(p + η_p F(θ)): minimise the worst task's loss"
    uses = ("inner_lr", "inner_steps", "outer_lr", "tr_lr")

    def __init__(self, family, pool_size):
        super().__init__(family, pool_size)
        self.weights = np.full(pool_size, 1.0 / pool_size)

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        result = super().meta_gradient(theta, batch, config)
        # With a meta-batch of b out of N tasks, N/b · Σ_batch pᵢgᵢ is unbiased for Σ pᵢgᵢ.
        scale = self.pool_size / batch.n
        weights = torch.as_tensor(self.weights[batch.ids] * scale, dtype=theta.dtype,
                                  device=result.task_grads.device)
        result.aggregate = (weights.unsqueeze(-1) * result.task_grads).sum(0)
        result.diagnostics["task_weights"] = self.weights.copy()
        # unchanged unless post_step runs (it does not after a diverged step)
        result.diagnostics["task_weights_next"] = self.weights.copy()
        return result

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        ascent = np.zeros_like(self.weights)
        ascent[batch.ids] = result.loss_after.detach().cpu().numpy() * (self.pool_size / batch.n)
        self.weights = project_to_simplex(self.weights + config.tr_lr * ascent)
        result.diagnostics["task_weights_next"] = self.weights.copy()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"task_weights": self.weights.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.weights = np.array(state["task_weights"], dtype=np.float64, copy=True)
