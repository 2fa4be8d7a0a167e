"""The article's line-fitting tasks: fit y = softplus(a·x + b) over the 2 parameters (a, b)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from maml_gui.core.fields import ConfigError, Field
from maml_gui.core.tasks.softplus_landscape import adapted_query_losses
from maml_gui.core.tasks.base import (
    QUERY, SUPPORT, TaskBatch, TaskFamily, n_tasks_field, split_tensors, uniform,
)

ARTICLE_OPTIMA = ((0.3, 0.05), (0.83, 0.75))

# exp() overflows beyond this; softplus(z) = z and sigmoid(z) = 1 there to machine precision.
_EXP_CLAMP = 30.0


class SoftplusFamily(TaskFamily):
    name = "softplus"
    label = "Softplus line fitting"
    description = "Lᵢ(a, b) = meanⱼ ½(softplus(a xⱼ + b) − yⱼ)²,  yⱼ = softplus(aᵢ* xⱼ + bᵢ*) + noise"
    axis_names = ("a", "b")
    has_data = True
    movable_optima = True
    fields = (
        n_tasks_field(None, 100, "Number of training tasks.",
                      null_means="as many as the listed optima"),
        Field("optima", "points", ARTICLE_OPTIMA,
              "Each task's true parameters (a*, b*); null samples them from optima_range.",
              label="optima (a*, b*)", nullable=True, point_len=2, group="task",
              null_means="sampled uniformly from optima_range"),
        Field("optima_range", "range", (0.0, 1.0), "Range from which sampled a* and b* are drawn.",
              label="optima range", low=-100, high=100, group="task"),
        Field("n_points", "int", 20, "Support points per task.", label="points", low=1,
              high=10_000, group="task"),
        Field("n_query", "int", 0, "Separate query points per task (0: the query set is the support set).",
              label="query points", low=0, high=10_000, group="task"),
        Field("noise", "float", 0.0, "Standard deviation of Gaussian noise added to y.", low=0.0,
              high=100.0, group="task"),
        Field("x_range", "range", (-3.0, 3.0), "Inputs x are drawn uniformly from this range.",
              label="x range", low=-1e3, high=1e3, group="task"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        optima = values["optima"]
        if optima is None:
            if values["n_tasks"] is None:
                values["n_tasks"] = 2
        elif values["n_tasks"] is None:
            values["n_tasks"] = len(optima)
        elif values["n_tasks"] != len(optima):
            raise ConfigError("task.n_tasks", values["n_tasks"],
                              f"does not match the {len(optima)} listed optima (set it to null)")

    @property
    def param_dim(self) -> int:
        return 2

    def work_per_task(self, batch: TaskBatch) -> int:
        return max(self.params["n_points"], self.params["n_query"])

    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        p = self.params
        n = p["n_tasks"]
        # Always draw, so that listing the optima explicitly (e.g. after dragging one) leaves the
        # random x of every task unchanged.
        optima = uniform(generator, (n, 2), *p["optima_range"])
        if p["optima"] is not None:
            optima = torch.tensor(p["optima"], dtype=torch.float64)
        tensors = {"optima": optima}
        tensors["x_support"], tensors["y_support"] = self._draw_data(optima, p["n_points"], generator)
        if p["n_query"] > 0:
            tensors["x_query"], tensors["y_query"] = self._draw_data(optima, p["n_query"], generator)
        return TaskBatch(tensors, torch.arange(n).numpy())

    def _draw_data(self, optima: torch.Tensor, count: int, generator: torch.Generator):
        n = optima.shape[0]
        x = uniform(generator, (n, count), *self.params["x_range"])
        y = F.softplus(optima[:, :1] * x + optima[:, 1:])
        if self.params["noise"] > 0:
            y = y + self.params["noise"] * torch.randn(y.shape, generator=generator, dtype=y.dtype)
        return x, y

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        return torch.tensor([0.1, 0.9], dtype=torch.float64)

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        x, y = split_tensors(batch, split)
        residual = F.softplus(theta[..., 0:1] * x + theta[..., 1:2]) - y
        return 0.5 * residual.square().mean(-1)

    def loss_and_grad(self, theta, batch, split=SUPPORT):
        x, y = split_tensors(batch, split)
        z = theta[..., 0:1] * x + theta[..., 1:2]
        loss, weight = softplus_residual_terms(z, y)
        # d/da = mean rσ(z)x, d/db = mean rσ(z): one weighted reduction per parameter
        grad_a = (weight * x).mean(-1)
        grad_b = weight.mean(-1)
        return loss, torch.stack((grad_a, grad_b), dim=-1)

    def adapted_query_losses(self, points, batch, inner_lr, steps, proximal_lambda, chunk):
        x_query, y_query = split_tensors(batch, QUERY)
        return adapted_query_losses(points, batch["x_support"], batch["y_support"], x_query,
                                    y_query, inner_lr, steps, proximal_lambda, chunk)

    def optima(self, batch: TaskBatch) -> torch.Tensor:
        return batch["optima"]

    def move_optimum(self, pool: TaskBatch, task_index: int, point: tuple[float, ...]) -> dict[str, Any]:
        optima = pool["optima"].tolist()  # sampled optima become explicit once one is moved
        optima[task_index] = [float(point[0]), float(point[1])]
        return {**self.params, "optima": optima, "n_tasks": len(optima)}

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        lo, hi = self.params["optima_range"] if self.params["optima"] is None else (0.0, 1.0)
        optima = batch["optima"]
        xmin = min(lo, float(optima[:, 0].min()) - 0.1)
        xmax = max(hi, float(optima[:, 0].max()) + 0.1)
        ymin = min(lo, float(optima[:, 1].min()) - 0.1)
        ymax = max(hi, float(optima[:, 1].max()) + 0.1)
        return (xmin, xmax, ymin, ymax)

    def predict(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(theta[..., 0:1] * x + theta[..., 1:2])

    def true_function(self, batch: TaskBatch, x: torch.Tensor) -> torch.Tensor:
        optima = batch["optima"]
        return F.softplus(optima[:, 0:1] * x + optima[:, 1:2])


def softplus_residual_terms(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss meanⱼ ½rⱼ² and the weights rⱼσ(zⱼ), with r = softplus(z) − y.

    softplus and its derivative share one exponential: with e = exp(z), softplus = log1p(e)
    and σ = e / (1 + e). Above the clamp both are exact to machine precision in the form
    softplus = z, σ = 1, which is what the ``z − z_c`` correction gives.
    """
    clamped = z.clamp(max=_EXP_CLAMP)
    e = clamped.exp()
    residual = torch.log1p(e).add_(z).sub_(clamped).sub_(y)
    sigma = e.div_(e + 1.0)
    loss = 0.5 * residual.square().mean(-1)
    return loss, residual.mul_(sigma)
