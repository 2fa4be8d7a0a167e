"""The sinusoid MLP with sparse variational dropout (Molchanov et al. 2017), as B-SMALL uses it.

Every weight matrix has a mean μ (the ordinary weights) and a per-weight log σ, appended to
the flat parameter vector as blocks ``logσ_W1``, ``logσ_W2``, …; biases are deterministic.
Rules as in anishmadan23/B-SMALL ``models/myModel.py``:

- log ρ = clamp(2 log σ − 2 log(|μ| + 1e-8), −10, 10)  (the paper's α)
- training forward (local reparameterisation): y = xμᵀ + b + √(x²·σ²ᵀ + 1e-8) ⊙ ε, ε ~ N(0, 1)
- evaluation forward: deterministic, masked: y = x(μ ⊙ 1[log ρ < 3])ᵀ + b
- KL ≈ −Σ [k₁·sigmoid(k₂ + k₃ log ρ) − ½ log(1 + e^{−log ρ})]
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from maml_gui.core.tasks.base import SUPPORT, TaskBatch, split_tensors
from maml_gui.core.tasks.sinusoid import SinusoidFamily

LOG_RHO_THRESHOLD = 3.0  # weights with log ρ above it are dropped (sparsity)
K1, K2, K3 = 0.63576, 1.8732, 1.48695


def log_rho(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """The dropout rate's log, clamped to [−10, 10] as the authors do.

    |μ| is written μ·sign(μ) with the sign held constant: the same values and derivatives
    (|x|'' = 0 away from 0), while ``abs``'s double backward makes torch import its compiler
    (10 s, on the first meta-step).
    """
    magnitude = mu * mu.sign().detach()
    return torch.clamp(2.0 * log_sigma - 2.0 * torch.log(magnitude + 1e-8), -10.0, 10.0)


def kl_approximation(log_rho_values: torch.Tensor) -> torch.Tensor:
    """Molchanov's KL approximation per weight (the authors' form, without the constant k₁)."""
    return -(K1 * torch.sigmoid(K2 + K3 * log_rho_values)
             - 0.5 * torch.nn.functional.softplus(-log_rho_values))


class SVDOSinusoid(SinusoidFamily):
    """:class:`SinusoidFamily` whose parameter vector also holds log σ of every weight."""

    def __init__(self, params: Mapping[str, Any], log_sigma0: float):
        super().__init__(params)
        self.log_sigma0 = float(log_sigma0)

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    @property
    def base_dim(self) -> int:
        """Parameters of the plain MLP (μ and b): the leading part of the vector."""
        return super().param_dim

    @property
    def param_dim(self) -> int:
        w = self.widths
        return self.base_dim + sum(w[i + 1] * w[i] for i in range(self.n_layers))

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        w = self.widths
        extra = [(f"logσ_W{i + 1}", (w[i + 1], w[i])) for i in range(self.n_layers)]
        return super().layout() + extra

    def work_per_task(self, batch: TaskBatch) -> int:
        return 2 * super().work_per_task(batch)

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        base = SinusoidFamily(self.params).default_theta0(generator)
        return torch.cat([base, torch.full((self.param_dim - base.numel(),), self.log_sigma0,
                                           dtype=base.dtype)])

    # --- pieces of θ --------------------------------------------------------------------
    def split_theta(self, theta: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                        list[torch.Tensor]]:
        """(weights μ, biases, log σ) of every layer, each ``(..., out, in)`` / ``(..., out)``."""
        pieces = theta.split([math.prod(shape) for _name, shape in self.layout()], dim=-1)
        lead = theta.shape[:-1]
        shapes = [shape for _name, shape in self.layout()]
        pieces = [p.reshape(*lead, *shape) for p, shape in zip(pieces, shapes)]
        layers = self.n_layers
        return pieces[0:2 * layers:2], pieces[1:2 * layers:2], pieces[2 * layers:]

    def flat_log_rho(self, theta: torch.Tensor) -> torch.Tensor:
        """log ρ of every weight, layer after layer: ``(..., weights)`` (one fused expression,
        since op count, not arithmetic, is what costs at this size)."""
        weights, _biases, _log_sigmas = self.split_theta(theta)
        mu = torch.cat([w.flatten(-2) for w in weights], dim=-1)
        return log_rho(mu, theta[..., self.base_dim:])

    def kl(self, theta: torch.Tensor) -> torch.Tensor:
        """KL term of every row of ``theta`` ``(..., P)``: shape ``(...)``."""
        return kl_approximation(self.flat_log_rho(theta)).sum(-1)

    def sparsity(self, theta: torch.Tensor) -> tuple[float, list[float]]:
        """Fraction of weights with log ρ > 3: over all layers, and per layer (θ of shape (P,))."""
        dropped = (self.flat_log_rho(theta.detach()) > LOG_RHO_THRESHOLD).cpu().numpy()
        w = self.widths
        sizes = [w[i + 1] * w[i] for i in range(self.n_layers)]
        per_layer = [float(part.mean()) for part in np.split(dropped, np.cumsum(sizes)[:-1])]
        return float(dropped.mean()), per_layer

    # --- forward passes -----------------------------------------------------------------
    def forward(self, theta: torch.Tensor, x: torch.Tensor, *,
                noise: torch.Generator | None = None, masked: bool = False) -> torch.Tensor:
        """Outputs ``(..., n, M)`` for parameters ``(..., n, P)`` at inputs ``x`` ``(n, M)``.

        ``noise``: sample the local-reparameterisation noise from this generator (training);
        ``masked``: drop the weights with log ρ ≥ 3 (evaluation). Neither: the mean network.
        """
        lead = torch.Size(np.broadcast_shapes(tuple(theta.shape[:-1]), tuple(x.shape[:-1])))
        theta = theta.expand(*lead, theta.shape[-1])
        hidden = x.expand(*lead, x.shape[-1]).unsqueeze(-1)  # (..., M, 1)
        weights, biases, log_sigmas = self.split_theta(theta)
        for i, (mu, bias, log_sigma) in enumerate(zip(weights, biases, log_sigmas)):
            if masked:
                mu = mu * (log_rho(mu, log_sigma) < LOG_RHO_THRESHOLD).to(mu.dtype)
            out = hidden @ mu.transpose(-1, -2) + bias.unsqueeze(-2)
            if noise is not None:
                variance = hidden.square() @ torch.exp(2.0 * log_sigma).transpose(-1, -2)
                eps = torch.randn(out.shape, generator=noise, dtype=out.dtype).to(out.device)
                out = out + torch.sqrt(variance + 1e-8) * eps
            hidden = torch.relu(out) if i < self.n_layers - 1 else out
        return hidden.squeeze(-1)

    def predict(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The mean network (μ, b), as the plain MLP: log σ does not enter."""
        return super().predict(theta, x)

    def data_loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT, *,
                  noise: torch.Generator | None = None, masked: bool = False) -> torch.Tensor:
        x, y = split_tensors(batch, split)
        return (self.forward(theta, x, noise=noise, masked=masked) - y).square().mean(-1)
