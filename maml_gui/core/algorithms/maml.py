"""MAML: exact second-order meta-gradient by autograd through the unrolled inner loop."""

from __future__ import annotations

import torch

from maml_gui.core.algorithms.base import (
    Algorithm, MetaGradient, query_loss, run_inner_loop, task_rows,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, TaskBatch


class MAML(Algorithm):
    name = "maml"
    label = "MAML"
    summary = "gᵢ = ∏ⱼ(I − α∇²Lᵢˢ(φʲ))ᵀ ∇Lᵢq(φᵢ): exact, by differentiating through the k inner steps"
    second_order = True

    def task_meta_gradients(self, theta: torch.Tensor, batch: TaskBatch, config: Config):
        rows = task_rows(theta, batch.n)
        path = run_inner_loop(self.family, batch, rows, config.inner_lr, config.inner_steps,
                              create_graph=True)
        loss_after = self.family.loss(path.final, batch, QUERY)
        (task_grads,) = torch.autograd.grad(loss_after.sum(), rows)
        return path, loss_after.detach(), task_grads

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        path, loss_after, task_grads = self.task_meta_gradients(theta, batch, config)
        n, k = batch.n, config.inner_steps
        return MetaGradient.from_path(
            path, task_grads,
            loss_before=query_loss(self.family, batch, path.points[:, 0]),
            loss_after=loss_after,
            grad_evals=n * (k + 1),
            hvp_evals=n * k,
        )
