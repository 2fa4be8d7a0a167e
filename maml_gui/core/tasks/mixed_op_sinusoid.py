"""The sinusoid MLP whose hidden non-linearities are DARTS mixed operations (MetaNAS's toy).

Each hidden layer's activation is ō(h) = Σₒ softmax(a/T)ₒ · o(h) over a chosen set of
operations sharing the layer's Linear; the architecture logits a (one row per hidden layer)
are appended to the flat parameter vector as blocks ``arch_L1``, ``arch_L2``, …
A pruned operation (MetaNAS sets its logit to −10⁹) is taken out of the softmax here by an
explicit mask, so θ keeps finite numbers that projections and plots can use.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from maml_gui.core.tasks.base import SUPPORT, TaskBatch, split_tensors
from maml_gui.core.tasks.sinusoid import SinusoidFamily

OPERATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sin": torch.sin,
    "identity": lambda h: h,
}


def temperatures(t_max: float, t_min: float, steps: int) -> list[float]:
    """MetaNAS's linear annealing over the inner steps: T_j = t_max − j(t_max − t_min)/(k − 1)."""
    if steps == 1:
        return [float(t_max)]
    return [t_max - j * (t_max - t_min) / (steps - 1) for j in range(steps)]


class MixedOpSinusoid(SinusoidFamily):
    """:class:`SinusoidFamily` with a mixed operation per hidden layer and its logits in θ."""

    def __init__(self, params: Mapping[str, Any], ops: Sequence[str]):
        super().__init__(params)
        self.ops = tuple(ops)

    @property
    def n_hidden(self) -> int:
        return len(self.widths) - 2

    @property
    def base_dim(self) -> int:
        """Parameters of the network weights w: the leading part of the vector."""
        return super().param_dim

    @property
    def param_dim(self) -> int:
        return self.base_dim + self.n_hidden * len(self.ops)

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        return super().layout() + [(f"arch_L{i + 1}", (len(self.ops),))
                                   for i in range(self.n_hidden)]

    def work_per_task(self, batch: TaskBatch) -> int:
        return len(self.ops) * super().work_per_task(batch)

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        """The plain MLP's initialisation, then uniform architecture logits (all zero)."""
        base = SinusoidFamily(self.params).default_theta0(generator)
        return torch.cat([base, torch.zeros(self.param_dim - base.numel(), dtype=base.dtype)])

    def arch(self, theta: torch.Tensor) -> torch.Tensor:
        """The logits ``(..., layers, ops)`` of ``theta`` ``(..., P)``."""
        return theta[..., self.base_dim:].reshape(*theta.shape[:-1], self.n_hidden, len(self.ops))

    def probabilities(self, logits: torch.Tensor, temperature: float = 1.0,
                      pruned: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(a/T) per layer, pruned operations at exactly 0."""
        scaled = logits / temperature
        if pruned is not None:
            scaled = scaled.masked_fill(pruned.to(scaled.device), float("-inf"))
        return torch.softmax(scaled, dim=-1)

    def predict(self, theta: torch.Tensor, x: torch.Tensor, temperature: float = 1.0,
                pruned: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(..., n, M)`` for parameters ``(..., n, P)`` at inputs ``x`` ``(n, M)``."""
        lead = torch.Size(np.broadcast_shapes(tuple(theta.shape[:-1]), tuple(x.shape[:-1])))
        theta = theta.expand(*lead, theta.shape[-1])
        hidden = x.expand(*lead, x.shape[-1]).unsqueeze(-1)  # (..., M, 1)
        sizes = [int(np.prod(shape)) for _name, shape in super().layout()]
        blocks = theta[..., :self.base_dim].split(sizes, dim=-1)
        weights = self.probabilities(self.arch(theta), temperature, pruned)  # (..., layers, ops)
        widths = self.widths
        for i in range(len(widths) - 1):
            weight = blocks[2 * i].reshape(*lead, widths[i + 1], widths[i])
            hidden = hidden @ weight.transpose(-1, -2) + blocks[2 * i + 1].unsqueeze(-2)
            if i < self.n_hidden:
                mix = weights[..., i, :]
                hidden = sum(mix[..., o, None, None] * OPERATIONS[name](hidden)
                             for o, name in enumerate(self.ops))
        return hidden.squeeze(-1)

    def loss_at(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT,
                temperature: float = 1.0, pruned: torch.Tensor | None = None) -> torch.Tensor:
        """Every task's MSE at temperature ``temperature`` (``loss`` is T = 1, nothing pruned)."""
        x, y = split_tensors(batch, split)
        return (self.predict(theta, x, temperature, pruned) - y).square().mean(-1)

    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        return self.loss_at(theta, batch, split)

    def active_parameters(self, pruned: np.ndarray) -> int:
        """Weights and logits of operations still in the search (the Linears are shared)."""
        return self.base_dim + int((~pruned).sum())
