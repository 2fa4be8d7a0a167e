"""A class-incremental stream of 2-D Gaussian blobs, classified by an MLP with one head per task.

Task t owns classes t·C … t·C + C − 1, each a Gaussian blob in the plane. The network is
2-H₁-H₂ (ReLU) followed by one head block of C logits per task (T·C outputs in all); a task's
loss is BCE-with-logits on its own block against the one-hot label within the task, as in
iTAML's code (``learner_task_itaml.py``). Labels ``y_*`` are class indices within the task.
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from maml_gui.core.fields import Field
from maml_gui.core.tasks.base import (
    SUPPORT, TaskBatch, TaskFamily, n_tasks_field, split_tensors, uniform,
)


class BlobsFamily(TaskFamily):
    name = "blobs"
    label = "Gaussian blobs, class-incremental (MLP)"
    description = ("task t = classes tC … tC+C−1, each a 2-D Gaussian blob; MLP 2-32-32-(T·C), "
                   "BCE-with-logits on task t's head block")
    default_dtype = torch.float64
    suggested = {"algorithm": "itaml", "inner_lr": 0.1, "outer_lr": 1.0, "outer_optimizer": "sgd"}
    fields = (
        n_tasks_field(5, 20, "Tasks of the stream (they arrive one per session)."),
        Field("classes_per_task", "int", 2, "Classes C of every task.", label="classes per task",
              low=1, high=10, group="task"),
        Field("n_points", "int", 30, "Training samples per class.", label="samples per class",
              low=1, high=2000, group="task"),
        Field("n_query", "int", 50, "Test samples per class (accuracies, task prediction).",
              label="test samples per class", low=1, high=2000, group="task"),
        Field("spread", "float", 0.6, "Standard deviation of every blob.", low=0.0, low_open=True,
              high=100.0, group="task"),
        Field("centre_range", "range", (-3.0, 3.0),
              "Blob centres are drawn uniformly from this square.", label="centre range",
              low=-100.0, high=100.0, group="task"),
        Field("hidden", "ints", (32, 32), "Hidden layer widths of the MLP.", low=1, high=256,
              group="task"),
    )

    @property
    def classes_per_task(self) -> int:
        return int(self.params["classes_per_task"])

    @property
    def widths(self) -> list[int]:
        return [2, *self.params["hidden"]]

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        blocks = []
        w = self.widths
        for i in range(len(w) - 1):
            blocks += [(f"W{i + 1}", (w[i + 1], w[i])), (f"b{i + 1}", (w[i + 1],))]
        for t in range(self.params["n_tasks"]):  # one head block per task (iTAML's φ_t)
            blocks += [(f"head{t}.W", (self.classes_per_task, w[-1])),
                       (f"head{t}.b", (self.classes_per_task,))]
        return blocks

    @property
    def param_dim(self) -> int:
        return sum(math.prod(shape) for _name, shape in self.layout())

    def work_per_task(self, batch: TaskBatch) -> int:
        count = self.classes_per_task * max(self.params["n_points"], self.params["n_query"])
        return count * max(self.params["hidden"])

    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        p = self.params
        n, c = p["n_tasks"], self.classes_per_task
        centres = uniform(generator, (n, c, 2), *p["centre_range"])
        tensors: dict[str, torch.Tensor] = {"centres": centres, "task_index": torch.arange(n)}
        for split, count in (("support", p["n_points"]), ("query", p["n_query"])):
            # class-major interleaving (0, 1, …, C−1, 0, 1, …): any prefix of a task's samples
            # holds every class about equally
            labels = torch.arange(c).repeat(count).expand(n, -1)
            noise = torch.randn((n, count * c, 2), generator=generator, dtype=torch.float64)
            x = torch.gather(centres, 1, labels.unsqueeze(-1).expand(-1, -1, 2)) + p["spread"] * noise
            tensors[f"x_{split}"], tensors[f"y_{split}"] = x, labels.clone()
        return TaskBatch(tensors, torch.arange(n).numpy())

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        """PyTorch's ``nn.Linear`` initialisation, U(±1/√fan_in), drawn from ``generator``."""
        pieces, fan_in = [], 1
        for name, shape in self.layout():
            if len(shape) == 2:  # a weight; the bias after it shares its fan-in
                fan_in = shape[-1]
            bound = 1.0 / math.sqrt(fan_in)
            pieces.append(uniform(generator, shape, -bound, bound).reshape(-1))
        return torch.cat(pieces)

    def features(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer ``(..., n, M, H)`` for parameters ``(..., n, P)``, inputs ``(n, M, 2)``."""
        views = self._views(theta)
        hidden = x
        for i in range(len(self.widths) - 1):
            weight, bias = views[f"W{i + 1}"], views[f"b{i + 1}"]
            hidden = torch.relu(torch.matmul(hidden, weight.transpose(-1, -2)) + bias.unsqueeze(-2))
        return hidden

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Every head's logits ``(..., n, M, T, C)``: the heads are contiguous in θ, so they
        form one (T·C) × H matrix."""
        tasks, classes = self.params["n_tasks"], self.classes_per_task
        width = self.widths[-1]
        heads = theta[..., self._head_start:].unflatten(-1, (tasks, classes * width + classes))
        weight = heads[..., : classes * width].reshape(*heads.shape[:-1], classes, width)
        bias = heads[..., classes * width:]
        hidden = self.features(theta, x)
        out = torch.matmul(hidden, weight.flatten(-3, -2).transpose(-1, -2)) + \
            bias.flatten(-2).unsqueeze(-2)
        return out.unflatten(-1, (tasks, classes))

    @property
    def _head_start(self) -> int:
        w = self.widths
        return sum(w[i + 1] * w[i] + w[i + 1] for i in range(len(w) - 1))

    def block_logits(self, theta: torch.Tensor, batch: TaskBatch, split: str) -> torch.Tensor:
        """Each task's own head block ``(..., n, M, C)`` on its samples."""
        x, _ = split_tensors(batch, split)
        own = F.one_hot(batch["task_index"], self.params["n_tasks"]).to(theta.dtype)
        return (self.logits(theta, x) * own[:, None, :, None]).sum(-2)

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        logits = self.block_logits(theta, batch, split)
        _, y = split_tensors(batch, split)
        target = F.one_hot(y, self.classes_per_task).to(logits.dtype).expand_as(logits)
        losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return losses.mean((-2, -1))

    def accuracy(self, theta: torch.Tensor, batch: TaskBatch, split: str) -> torch.Tensor:
        """Task-aware accuracy ``(..., n)``: the arg-max within each task's own block."""
        with torch.no_grad():
            predicted = self.block_logits(theta, batch, split).argmax(-1)
            _, y = split_tensors(batch, split)
            return (predicted == y).to(theta.dtype).mean(-1)

    def _views(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        layout = self.layout()
        pieces = theta.split([math.prod(shape) for _n, shape in layout], dim=-1)
        return {name: piece.reshape(*theta.shape[:-1], *shape)
                for piece, (name, shape) in zip(pieces, layout)}

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        lo, hi = self.params["centre_range"]
        pad = 3 * self.params["spread"]
        return (lo - pad, hi + pad, lo - pad, hi + pad)
