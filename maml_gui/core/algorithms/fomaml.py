"""First-order MAML: the query gradient at the adapted parameters, Hessians dropped."""

from __future__ import annotations

import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, query_loss, query_loss_and_grad,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import TaskBatch


class FOMAML(Algorithm):
    name = "fomaml"
    label = "FOMAML"
    summary = "gᵢ = ∇Lᵢq(φᵢ): MAML without the second-order term"

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        path = self.adapt(theta, batch, config)
        loss_after, task_grads = query_loss_and_grad(self.family, batch, path.final)
        return MetaGradient.from_path(
            path, task_grads,
            loss_before=query_loss(self.family, batch, start),
            loss_after=loss_after,
            grad_evals=batch.n * (config.inner_steps + 1),
            hvp_evals=0,
        )
