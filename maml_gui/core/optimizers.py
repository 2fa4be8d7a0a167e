"""The outer optimizers, written out for one parameter vector.

torch.optim's first Adam step imports some 800 modules (torch.distributed, sympy, ...),
which took seconds and, in the worker thread, held Python's import lock while the window
waited on it. These are the same update rules (PyTorch's defaults), in a few lines.
"""

from __future__ import annotations

import numpy as np
import torch

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class SGD:
    """θ ← θ − lr·g."""

    def __init__(self, lr: float):
        self.lr = lr

    def step(self, theta: torch.Tensor, grad: torch.Tensor) -> None:
        theta.sub_(grad, alpha=self.lr)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray], like: torch.Tensor) -> None:
        pass


class Adam:
    """Adam (Kingma & Ba) with bias correction, exactly as torch.optim.Adam's defaults."""

    def __init__(self, lr: float, betas: tuple[float, float] = ADAM_BETAS, eps: float = ADAM_EPS):
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.count = 0
        self.first: torch.Tensor | None = None
        self.second: torch.Tensor | None = None

    def step(self, theta: torch.Tensor, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        if self.first is None:
            self.first = torch.zeros_like(theta)
            self.second = torch.zeros_like(theta)
        self.count += 1
        self.first.lerp_(grad, 1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction1 = 1 - beta1**self.count
        correction2 = 1 - beta2**self.count
        denominator = (self.second.sqrt() / correction2**0.5).add_(self.eps)
        theta.addcdiv_(self.first, denominator, value=-self.lr / correction1)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The moment estimates and the step count (exact copies, for checkpoints)."""
        state = {"count": np.array(self.count, dtype=np.int64)}
        if self.first is not None:
            state["first"] = self.first.detach().cpu().numpy().copy()
            state["second"] = self.second.detach().cpu().numpy().copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], like: torch.Tensor) -> None:
        """Restore :meth:`state_dict`'s values onto ``like``'s device and dtype."""
        self.count = int(state["count"])
        if "first" in state:
            self.first = torch.tensor(state["first"]).to(like.device, like.dtype)
            self.second = torch.tensor(state["second"]).to(like.device, like.dtype)
        else:
            self.first = self.second = None


def make_outer_optimizer(name: str, lr: float) -> SGD | Adam:
    return Adam(lr) if name == "adam" else SGD(lr)
