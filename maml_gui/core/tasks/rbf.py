"""The article's iMAML landscapes: sums of sigmoid bumps with several local minima."""

from __future__ import annotations

from typing import Any

import torch

from maml_gui.core.fields import ConfigError, Field
from maml_gui.core.tasks.base import SUPPORT, TaskBatch, TaskFamily, n_tasks_field, uniform

ARTICLE_CENTRES = (
    ((0.5, 0.7), (0.4, 0.2), (0.6, 0.2), (0.9, 0.3)),
    ((0.6, 0.8), (0.2, 0.3), (0.7, 0.1), (0.8, 0.3)),
)
ARTICLE_HEIGHTS = (-1.0, -1.5, 2.0, -1.5)


class RBFFamily(TaskFamily):
    name = "rbf"
    label = "RBF bumps"
    description = "Lᵢ(φ) = Σₖ fₖ σ(−s ‖φ − cᵢₖ‖²): bumps (f > 0) and wells (f < 0), several local minima"
    axis_names = ("φ₁", "φ₂")
    fields = (
        n_tasks_field(None, 100, "Number of training tasks.",
                      null_means="as many as the listed centre sets"),
        Field("centres", "pointsets", ARTICLE_CENTRES,
              "Per task, the centre of each bump (one per height).", nullable=True, point_len=2,
              group="task", null_means="sampled uniformly from centre_range"),
        Field("heights", "vector", ARTICLE_HEIGHTS,
              "Height fₖ of each bump (negative: a well, i.e. a local minimum).", group="task",
              low=-100, high=100),
        Field("sharpness", "float", 10.0, "Sharpness s of the bumps.", low=0.0, low_open=True,
              high=1e4, group="task"),
        Field("centre_range", "range", (0.0, 1.0), "Range from which sampled centres are drawn.",
              label="centre range", low=-100, high=100, group="task"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        centres = values["centres"]
        if centres is None:
            if values["n_tasks"] is None:
                values["n_tasks"] = 2
            return
        if values["n_tasks"] is None:
            values["n_tasks"] = len(centres)
        elif values["n_tasks"] != len(centres):
            raise ConfigError("task.n_tasks", values["n_tasks"],
                              f"does not match the {len(centres)} listed centre sets (set it to null)")
        for i, task_centres in enumerate(centres):
            if len(task_centres) != len(values["heights"]):
                raise ConfigError(f"task.centres[{i}]", [list(c) for c in task_centres],
                                  f"needs one centre per height ({len(values['heights'])})")

    @property
    def param_dim(self) -> int:
        return 2

    def work_per_task(self, batch: TaskBatch) -> int:
        return 2 * len(self.params["heights"])

    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        p = self.params
        bumps = len(p["heights"])
        centres = uniform(generator, (p["n_tasks"], bumps, 2), *p["centre_range"])
        if p["centres"] is not None:
            centres = torch.tensor(p["centres"], dtype=torch.float64)
        heights = torch.tensor(p["heights"], dtype=torch.float64).expand(p["n_tasks"], bumps)
        return TaskBatch({"centres": centres, "heights": heights.contiguous()},
                         torch.arange(p["n_tasks"]).numpy())

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        return torch.tensor([0.5, 0.5], dtype=torch.float64)

    def _bumps(self, theta: torch.Tensor, batch: TaskBatch):
        offset = theta.unsqueeze(-2) - batch["centres"]  # (..., n, K, 2)
        activation = torch.sigmoid(-self.params["sharpness"] * offset.square().sum(-1))
        return offset, activation

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        _, activation = self._bumps(theta, batch)
        return (batch["heights"] * activation).sum(-1)

    def loss_and_grad(self, theta, batch, split=SUPPORT):
        offset, activation = self._bumps(theta, batch)
        heights = batch["heights"]
        loss = (heights * activation).sum(-1)
        # d/dφ σ(−s‖φ−c‖²) = σ(1−σ)·(−2s)(φ−c)
        slope = heights * activation * (1.0 - activation) * (-2.0 * self.params["sharpness"])
        grad = (slope.unsqueeze(-1) * offset).sum(-2)
        return loss, grad

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        centres = batch["centres"]
        lo = min(0.0, float(centres.min()) - 0.1)
        hi = max(1.0, float(centres.max()) + 0.1)
        return (lo, hi, lo, hi)
