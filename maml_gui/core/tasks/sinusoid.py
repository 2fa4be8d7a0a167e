"""Finn et al.'s sinusoid regression with a ReLU MLP held in one flat parameter vector."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from maml_gui.core.fields import ConfigError, Field

from maml_gui.core.tasks.base import (
    SUPPORT, TaskBatch, TaskFamily, n_tasks_field, split_tensors, uniform,
)
from maml_gui.core.tasks.mlp_step import GradientStep, backpropagate, layer_outputs

if TYPE_CHECKING:  # config imports the families: at run time they need only its fields
    from maml_gui.core.config import Config


class SinusoidFamily(TaskFamily):
    name = "sinusoid"
    label = "Sinusoid regression (MLP)"
    description = "y = A sin(x − φ), A ~ U[0.1, 5], φ ~ U[0, π]; MSE of an MLP 1-40-40-1 (ReLU)"
    default_dtype = torch.float32
    has_data = True
    suggested = {"inner_lr": 0.01, "outer_optimizer": "adam", "outer_lr": 0.001}  # Finn et al.
    fields = (
        n_tasks_field(25, 10_000, "Tasks per meta-step (or the size of the fixed task pool)."),
        Field("fixed_tasks", "bool", False,
              "Train on a fixed pool of n_tasks tasks instead of drawing new tasks every step.",
              label="fixed task pool", group="task"),
        Field("k_shot", "int", 10, "Support points K per task.", label="K (support)", low=1,
              high=10_000, group="task"),
        Field("k_query", "int", 10, "Query points per task.", label="query points", low=1,
              high=10_000, group="task"),
        Field("hidden", "ints", (40, 40), "Hidden layer widths of the MLP.", low=1, high=1024,
              group="task"),
        Field("amplitude_range", "range", (0.1, 5.0), "Amplitudes A are drawn from this range.",
              label="amplitude range", low=0.0, high=1e3, group="task"),
        Field("phase_range", "range", (0.0, math.pi), "Phases φ are drawn from this range.",
              label="phase range", low=-100.0, high=100.0, group="task"),
        Field("x_range", "range", (-5.0, 5.0), "Inputs x are drawn uniformly from this range.",
              label="x range", low=-1e3, high=1e3, group="task"),
    )

    def __init__(self, params):
        super().__init__(params)
        # the hand-written gradient is this MLP's: a subclass with its own model or loss
        # (mixed operations, SVD layers) keeps autograd's
        self.differentiable_grad = all(getattr(type(self), name) is getattr(SinusoidFamily, name)
                                       for name in ("predict", "loss", "layout"))

    @property
    def widths(self) -> list[int]:
        return [1, *self.params["hidden"], 1]

    @property
    def param_dim(self) -> int:
        w = self.widths
        return sum(w[i + 1] * w[i] + w[i + 1] for i in range(len(w) - 1))

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        blocks = []
        w = self.widths
        for i in range(len(w) - 1):
            blocks.append((f"W{i + 1}", (w[i + 1], w[i])))
            blocks.append((f"b{i + 1}", (w[i + 1],)))
        return blocks

    def work_per_task(self, batch: TaskBatch) -> int:
        return max(self.params["k_shot"], self.params["k_query"]) * max(self.params["hidden"])

    def check_config(self, config: Config) -> None:
        super().check_config(config)
        if self.pool_size() is None and config.meta_batch is not None and \
                config.meta_batch != self.params["n_tasks"]:
            raise ConfigError("meta_batch", config.meta_batch,
                              "with fresh tasks every step the meta-batch is task.n_tasks: "
                              "set meta_batch to null")

    def pool_size(self) -> int | None:
        return self.params["n_tasks"] if self.params["fixed_tasks"] else None

    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        batch = self.sample_fresh(self.params["n_tasks"], generator)
        return TaskBatch(batch.tensors, torch.arange(batch.n).numpy())

    def sample_fresh(self, n: int, generator: torch.Generator) -> TaskBatch:
        p = self.params
        amplitude = uniform(generator, (n,), *p["amplitude_range"])
        phase = uniform(generator, (n,), *p["phase_range"])
        x_support = uniform(generator, (n, p["k_shot"]), *p["x_range"])
        x_query = uniform(generator, (n, p["k_query"]), *p["x_range"])
        tensors = {
            "amplitude": amplitude, "phase": phase,
            "x_support": x_support, "y_support": _sine(amplitude, phase, x_support),
            "x_query": x_query, "y_query": _sine(amplitude, phase, x_query),
        }
        return TaskBatch(tensors, torch.full((n,), -1).numpy())

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        """PyTorch's default ``nn.Linear`` initialisation, U(±1/√fan_in), drawn from ``generator``."""
        pieces = []
        for _name, shape in self.layout():
            fan_in = self.widths[len(pieces) // 2]
            bound = 1.0 / math.sqrt(fan_in)
            pieces.append(uniform(generator, shape, -bound, bound).reshape(-1))
        return torch.cat(pieces)

    def predict(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """MLP output for parameters ``(..., n, P)`` at inputs ``x`` ``(n, M)``: ``(..., n, M)``.

        All leading dimensions are folded into one batch of ``bmm`` calls with the bias
        fused in (``baddbmm``), and θ is cut with ``split``: its backward is one ``cat``,
        where slicing would allocate a zero tensor of size P per block, twice for MAML.
        """
        lead, rows, inputs = self._fold(theta, x)
        output = self._activations(self.parameter_views(rows), inputs)[-1]
        return output.view(*lead, x.shape[-1])

    def loss_and_grad(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT
                      ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Every task's MSE (detached) at ``theta`` ``(..., n, P)`` and its gradient."""
        if not self.differentiable_grad:
            return None
        x, y = split_tensors(batch, split)
        lead, rows, inputs = self._fold(theta, x)
        targets = y.expand(*lead, x.shape[-1]).reshape(inputs.shape)
        loss, grads = self._block_loss_and_grad(self.parameter_views(rows), inputs, targets)
        grad = torch.cat([g.flatten(1) for g in grads], dim=-1)
        return loss.view(lead), grad.view(*lead, grad.shape[-1])

    def parameter_views(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Rows ``(B, P)`` of θ as views in layout order: W ``(B, out, in)``, b ``(B, 1, out)``."""
        batch = theta.shape[0]
        mlp = SinusoidFamily.layout(self)  # a subclass's own blocks (B-SMALL's log σ) follow
        sizes = [math.prod(shape) for _name, shape in mlp]
        rest = theta.shape[-1] - sum(sizes)
        pieces = theta.split(sizes + [rest] if rest else sizes, dim=-1)
        shapes = [(batch, *shape) if name[0] == "W" else (batch, 1, *shape) for name, shape in mlp]
        return [piece.view(shape) for piece, shape in zip(pieces, shapes)]

    def _fold(self, theta: torch.Tensor, x: torch.Tensor
              ) -> tuple[torch.Size, torch.Tensor, torch.Tensor]:
        """Leading shape, θ as rows ``(B, P)`` and x as ``(B, M, 1)``, broadcast together."""
        # numpy's broadcast_shapes: torch's imports sympy (seconds, under the import lock)
        lead = torch.Size(np.broadcast_shapes(tuple(theta.shape[:-1]), tuple(x.shape[:-1])))
        if theta.shape[:-1] != lead:  # an expand or reshape is one more node in MAML's graph
            theta = theta.expand(*lead, theta.shape[-1])
        if theta.dim() != 2:
            theta = theta.reshape(lead.numel(), -1)
        return lead, theta, x.expand(*lead, x.shape[-1]).reshape(lead.numel(), x.shape[-1], 1)

    def _activations(self, blocks: list[torch.Tensor], hidden: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output ``(B, M, width)`` (:func:`mlp_step.layer_outputs`)."""
        return layer_outputs(blocks, hidden)

    def _block_loss_and_grad(self, blocks: list[torch.Tensor], inputs: torch.Tensor,
                             targets: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """MSE and its gradient by hand-written backpropagation (:func:`mlp_step.backpropagate`).

        Built from ordinary differentiable ops, so MAML could differentiate through it once:
        autograd's double backward of the MLP records several times as many nodes (views,
        transposes, backward-of-backward) for the same Hessian-vector products.
        """
        loss, grads, _ = backpropagate(blocks, self._activations(blocks, inputs), targets)
        return loss, grads

    def gradient_step(self, theta: torch.Tensor, batch: TaskBatch, lr: float,
                      split: str = SUPPORT) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every task's MSE and gradient (detached) at rows ``theta`` ``(n, P)`` and the step
        θ − lr·∇L(θ), differentiable as one node (:class:`mlp_step.GradientStep`)."""
        x, y = split_tensors(batch, split)
        return GradientStep.apply(self.parameter_views, x.unsqueeze(-1), y.unsqueeze(-1), lr,
                                  theta)

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        x, y = split_tensors(batch, split)
        return (self.predict(theta, x) - y).square().mean(-1)

    def true_function(self, batch: TaskBatch, x: torch.Tensor) -> torch.Tensor:
        return _sine(batch["amplitude"], batch["phase"], x)


def _sine(amplitude: torch.Tensor, phase: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return amplitude.unsqueeze(-1) * torch.sin(x - phase.unsqueeze(-1))
