"""Quadratic bowls Lᵢ(θ) = ½(θ − cᵢ)ᵀAᵢ(θ − cᵢ): every algorithm has a closed form here."""

from __future__ import annotations

from typing import Any

import torch

from maml_gui.core.fields import ConfigError, Field
from maml_gui.core.tasks.base import SUPPORT, TaskBatch, TaskFamily, n_tasks_field

_SYMMETRY_TOL = 1e-9


class QuadraticFamily(TaskFamily):
    name = "quadratic"
    label = "Quadratic bowls"
    description = "Lᵢ(θ) = ½(θ − cᵢ)ᵀAᵢ(θ − cᵢ); the support loss may use its own centres"
    axis_names = ("θ₁", "θ₂")
    movable_optima = True
    fields = (
        Field("dim", "int", None, "Dimension d of θ.", low=2, high=512, nullable=True,
              group="task", null_means="taken from A or c, else 2"),
        n_tasks_field(None, 1000, "Number of training tasks.",
                      null_means="as many as listed in A or c, else 3"),
        Field("condition", "float", 5.0, "Condition number of each sampled Aᵢ (λmax / λmin).",
              low=1.0, high=1e8, log_scale=True, group="task"),
        Field("eig_max", "float", 1.0, "Largest eigenvalue of each sampled Aᵢ (the curvature).",
              label="largest eigenvalue", low=0.0, low_open=True, high=1e6, log_scale=True,
              group="task"),
        Field("centre_scale", "float", 1.0, "Standard deviation of the sampled centres cᵢ.",
              label="centre spread", low=0.0, high=1e4, group="task"),
        Field("A", "matrices", None, "Explicit symmetric d×d matrices Aᵢ, one per task.",
              nullable=True, group="task", null_means="sampled with the chosen condition number"),
        Field("c", "points", None, "Explicit centres cᵢ (d numbers each), one per task.",
              nullable=True, group="task", null_means="sampled from N(0, spread²)"),
        Field("c_support", "points", None,
              "Centres of the support losses (noisy or scarce support data): the inner loop "
              "adapts to ½(φ − cˢᵢ)ᵀAᵢ(φ − cˢᵢ), the query loss keeps cᵢ.",
              label="support centres", nullable=True, group="task",
              null_means="the query centres c (support = query)"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        matrices, centres = values["A"], values["c"]
        dims, counts = set(), set()
        if matrices is not None:
            for i, matrix in enumerate(matrices):
                size = len(matrix)
                dims.add(size)
                for r in range(size):
                    for col in range(r):
                        if abs(matrix[r][col] - matrix[col][r]) > _SYMMETRY_TOL * (
                            1 + abs(matrix[r][col])
                        ):
                            raise ConfigError(f"task.A[{i}]", [list(row) for row in matrix],
                                              "must be symmetric")
            counts.add(len(matrices))
        if centres is not None:
            dims.update(len(point) for point in centres)
            counts.add(len(centres))
        support = values["c_support"]
        if support is not None:
            if centres is None:
                raise ConfigError("task.c_support", "...",
                                  "support centres need the query centres c listed too")
            if [len(point) for point in support] != [len(point) for point in centres]:
                raise ConfigError("task.c_support", "...",
                                  "must list one centre per task, with c's dimension")
        if len(dims) > 1:
            raise ConfigError("task.A" if matrices is not None else "task.c",
                              "...", f"matrices and centres disagree on the dimension ({sorted(dims)})")
        if len(counts) > 1:
            raise ConfigError("task.c", "...", f"A and c list different numbers of tasks ({sorted(counts)})")
        if dims:
            (dim,) = dims
            if dim < 2:
                raise ConfigError("task.A" if matrices is not None else "task.c", "...",
                                  "tasks need at least 2 dimensions (the canvas shows a plane)")
            if values["dim"] is not None and values["dim"] != dim:
                raise ConfigError("task.dim", values["dim"], f"does not match A/c (dimension {dim})")
            values["dim"] = dim
        elif values["dim"] is None:
            values["dim"] = 2
        if counts:
            (count,) = counts
            if values["n_tasks"] is not None and values["n_tasks"] != count:
                raise ConfigError("task.n_tasks", values["n_tasks"],
                                  f"does not match the {count} listed tasks (set it to null)")
            values["n_tasks"] = count
        elif values["n_tasks"] is None:
            values["n_tasks"] = 3

    @property
    def param_dim(self) -> int:
        return int(self.params["dim"])

    def work_per_task(self, batch: TaskBatch) -> int:
        return self.param_dim ** 2

    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        p = self.params
        n, d = p["n_tasks"], p["dim"]
        # Draw everything whatever is listed, so listing one part keeps the others' draws.
        gauss = torch.randn((n, d, d), generator=generator, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(gauss)
        spectrum = p["eig_max"] * torch.logspace(
            -torch.log10(torch.tensor(p["condition"])).item(), 0.0, d, dtype=torch.float64
        ) if d > 1 else torch.full((1,), p["eig_max"], dtype=torch.float64)
        matrices = rotation @ torch.diag_embed(spectrum.expand(n, d)) @ rotation.transpose(-1, -2)
        matrices = 0.5 * (matrices + matrices.transpose(-1, -2))
        centres = p["centre_scale"] * torch.randn((n, d), generator=generator, dtype=torch.float64)
        if p["A"] is not None:
            matrices = torch.tensor(p["A"], dtype=torch.float64)
        if p["c"] is not None:
            centres = torch.tensor(p["c"], dtype=torch.float64)
        support = centres if p["c_support"] is None else torch.tensor(p["c_support"],
                                                                       dtype=torch.float64)
        return TaskBatch({"A": matrices, "c": centres, "c_support": support},
                         torch.arange(n).numpy())

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        return torch.full((self.param_dim,), 2.0, dtype=torch.float64)

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        offset = theta - _centres(batch, split)
        return 0.5 * (offset * _apply(batch["A"], offset)).sum(-1)

    def loss_and_grad(self, theta, batch, split=SUPPORT):
        offset = theta - _centres(batch, split)
        grad = _apply(batch["A"], offset)
        return 0.5 * (offset * grad).sum(-1), grad

    def optima(self, batch: TaskBatch) -> torch.Tensor:
        return batch["c"]

    def move_optimum(self, pool: TaskBatch, task_index: int, point: tuple[float, ...]) -> dict[str, Any]:
        centres = pool["c"].tolist()
        shift = [float(point[0]) - centres[task_index][0], float(point[1]) - centres[task_index][1]]
        centres[task_index][:2] = [float(point[0]), float(point[1])]
        moved = {**self.params, "c": centres, "n_tasks": len(centres)}
        if self.params["c_support"] is not None:  # the support centre keeps its offset (noise)
            support = pool["c_support"].tolist()
            support[task_index][0] += shift[0]
            support[task_index][1] += shift[1]
            moved["c_support"] = support
        return moved

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        centres = batch["c"][:, :2]
        lo = centres.min(0).values - 2.5
        hi = centres.max(0).values + 2.5
        lo = torch.minimum(lo, torch.full_like(lo, -2.5))
        hi = torch.maximum(hi, torch.full_like(hi, 2.5))
        return (float(lo[0]), float(hi[0]), float(lo[-1]), float(hi[-1]))


def _centres(batch: TaskBatch, split: str) -> torch.Tensor:
    if split == SUPPORT and "c_support" in batch.tensors:
        return batch["c_support"]
    return batch["c"]


def _apply(matrices: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Aᵢ vᵢ for every task i, with any leading dimensions on ``vectors``."""
    return (matrices * vectors.unsqueeze(-2)).sum(-1)
