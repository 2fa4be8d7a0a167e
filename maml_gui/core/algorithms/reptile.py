"""Reptile (batched): move θ towards the mean of the adapted parameters."""

from __future__ import annotations

import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, query_loss,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import TaskBatch


class Reptile(Algorithm):
    name = "reptile"
    label = "Reptile"
    summary = "gᵢ = θ − φᵢ; with SGD, θ ← θ + ε·meanᵢ(φᵢ − θ) (all tasks at once, order-free)"

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        path = self.adapt(theta, batch, config)
        adapted = path.final.detach()
        task_grads = start - adapted
        return MetaGradient.from_path(
            path, task_grads,
            loss_before=query_loss(self.family, batch, start),
            loss_after=query_loss(self.family, batch, adapted),
            grad_evals=batch.n * config.inner_steps,
            hvp_evals=0,
        )
