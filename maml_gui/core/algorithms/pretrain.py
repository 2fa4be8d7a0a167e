"""Pretraining (ERM) baseline: the gradient of the mean task loss at θ, no adaptation."""

from __future__ import annotations

import torch

from maml_gui.core.algorithms.base import Algorithm, MetaGradient, mean_aggregate, query_loss_and_grad
from maml_gui.core.config import Config
from maml_gui.core.tasks import SUPPORT, TaskBatch


class Pretrain(Algorithm):
    name = "pretrain"
    label = "Pretraining (ERM)"
    summary = "gᵢ = ∇Lᵢq(θ): minimise the mean task loss, no inner loop"
    uses = ("outer_lr",)

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        start = theta.detach().unsqueeze(0).expand(batch.n, -1)
        loss, task_grads = query_loss_and_grad(self.family, batch, start)
        with torch.no_grad():
            support = self.family.loss(start, batch, SUPPORT)
        return MetaGradient(
            task_grads=task_grads,
            aggregate=mean_aggregate(task_grads),
            paths=start.detach().unsqueeze(1).clone(),
            inner_losses=support.unsqueeze(1),
            inner_grad_norms=torch.zeros(batch.n, 0, dtype=start.dtype, device=start.device),
            loss_before=loss,
            loss_after=loss,
            grad_evals=batch.n,
            hvp_evals=0,
        )
