"""The meta surface of the sinusoid MLP at many grid points, with low-rank inner updates.

The generic path copies the whole parameter vector (1,761 numbers) for every grid point ×
task and runs one small matrix product per copy: at 64² points × 10 tasks that moves
~300 MB per inner step and spends most of its time in batched 10×40×40 products. Two
facts of gradient descent on an MLP make most of that unnecessary:

- Before the first step every task of a grid point has the same weights, so a layer is one
  product per grid point over all its tasks' data (bigger products, better throughput).
- A step changes a weight matrix by a sum of ``M`` outer products (one per data point):
  ``ΔW = −α Σₘ δₘ aₘᵀ``. Kept as its factors, ``h (W + ΔW)ᵀ = h Wᵀ + (h Aᵀ) D`` costs
  ``r·(in + out)`` per row instead of ``in·out`` while the rank ``r`` stays small.

Each layer keeps its change as factors while that is cheaper and as a dense matrix after,
so any k is exact (the same arithmetic as the engine, up to rounding), and k = 1 — the
common live case — never builds a per-task weight matrix at all.
"""

from __future__ import annotations

from typing import Callable

import torch

from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily
from maml_gui.core.tasks.base import split_tensors
from maml_gui.core.tasks.sinusoid import SinusoidFamily


class LandscapeCancelled(Exception):
    """A newer request superseded this computation (raised at a chunk boundary)."""


def supports(family: TaskFamily) -> bool:
    """True for the plain MLP (not a subclass with its own model, loss or parameter blocks)."""
    return isinstance(family, SinusoidFamily) and family.differentiable_grad and \
        len(family.layout()) == len(SinusoidFamily.layout(family))


class _MatrixChange:
    """A hidden-to-hidden weight matrix's change φ − θ for every (grid point, task): as
    factors while that is cheaper, then dense. Rows ``B = C·n`` (grid points × tasks)."""

    def __init__(self, out: int, inp: int):
        self.out, self.inp = out, inp
        self.left: torch.Tensor | None = None  # (B, r, out)
        self.right: torch.Tensor | None = None  # (B, r, in)
        self.dense: torch.Tensor | None = None  # (B, out, in)
        self.scale = 1.0  # ΔW = scale·leftᵀ right

    def add_forward(self, z: torch.Tensor, h: torch.Tensor) -> None:
        """``z += h ΔWᵀ`` in place, rows ``h`` ``(B, M, in)``, ``z`` ``(B, M, out)``."""
        if self.dense is not None:
            z.baddbmm_(h, self.dense.transpose(1, 2))
        elif self.left is not None:
            z.baddbmm_(torch.bmm(h, self.right.transpose(1, 2)), self.left, alpha=self.scale)

    def add_backward(self, back: torch.Tensor, delta: torch.Tensor) -> None:
        """``back += δ ΔW`` in place, rows ``δ`` ``(B, M, out)``, ``back`` ``(B, M, in)``."""
        if self.dense is not None:
            back.baddbmm_(delta, self.dense)
        elif self.left is not None:
            back.baddbmm_(torch.bmm(delta, self.left.transpose(1, 2)), self.right,
                          alpha=self.scale)

    def step(self, keep: float, lr: float, delta: torch.Tensor, inputs: torch.Tensor) -> None:
        """ΔW ← keep·ΔW − lr·δᵀa: one gradient step, given the gradient's factors δ and a
        (kept by reference: the caller never writes to them again)."""
        rank = (0 if self.left is None else self.left.shape[1]) + delta.shape[1]
        if self.dense is None and rank * (self.out + self.inp) < self.out * self.inp:
            if self.left is None:  # the first step: ΔW = −lr·δᵀa, no copy of δ
                self.left, self.right, self.scale = delta, inputs, -lr
            else:
                self.left = torch.cat([self.left * (keep * self.scale), delta * -lr], 1)
                self.right = torch.cat([self.right, inputs], 1)
                self.scale = 1.0
            return
        if self.dense is None:
            self.dense = (delta.new_zeros(delta.shape[0], self.out, self.inp)
                          if self.left is None else
                          torch.bmm(self.left.transpose(1, 2), self.right).mul_(self.scale))
            self.left = self.right = None
        self.dense.baddbmm_(delta.transpose(1, 2), inputs, beta=keep, alpha=-lr)


def _mlp_losses(family: SinusoidFamily, points: torch.Tensor, tasks: TaskBatch, lr: float,
                steps: int, proximal: float | None) -> torch.Tensor:
    """Query losses ``(C, n)`` after ``steps`` inner steps from each θ in ``points`` ``(C, P)``.

    Shapes: ``C`` grid points, ``n`` tasks, ``m`` data points, rows ``B = C·n``. The first
    layer (1 input) and the last (1 output) are vectors: their change is kept dense, per
    task, as ``(C, n, 1, width)``; the matrices between them use :class:`_MatrixChange`.
    Every full-size activation is written once and then updated in place.
    """
    count, n = points.shape[0], tasks.n
    rows = count * n
    base = family.parameter_views(points)  # W (C, out, in), b (C, 1, out)
    # contiguous copies (a few % of the work): batched products run faster on them
    weights = [w.contiguous() for w in base[0::2]]  # W (C, out, in)
    transposed = [w.transpose(1, 2).contiguous() for w in base[0::2]]  # Wᵀ (C, in, out)
    biases = [b.unsqueeze(1) for b in base[1::2]]  # (C, 1, 1, out)
    last = len(weights) - 1
    # the first and last layers' weights as rows (C, 1, 1, width), like their biases
    vectors = {0: transposed[0].unsqueeze(1), last: weights[last].unsqueeze(1)}
    matrices = {i: _MatrixChange(*w.shape[1:]) for i, w in enumerate(weights)
                if i not in (0, last)}
    # per-task changes φ − θ of the biases and of the first and last weights: (C, n, 1, width)
    shifts: dict[tuple[str, int], torch.Tensor] = {}
    keep = 1.0 - lr * proximal if proximal is not None else 1.0

    def current(kind: str, i: int, shared: torch.Tensor) -> torch.Tensor:
        shift = shifts.get((kind, i))
        return shared if shift is None else shared + shift

    def forward(split: str) -> tuple[list[torch.Tensor], torch.Tensor]:
        x, y = split_tensors(tasks, split)
        m = x.shape[-1]
        activations = [x.reshape(1, n, m, 1)]
        # x repeated along the first layer's width: a broadcast multiply-add over
        # contiguous rows runs several times faster than one that broadcasts x itself
        wide = x.reshape(1, n, m, 1).expand(1, n, m, vectors[0].shape[-1]).contiguous()
        if ("w", 0) in shifts:
            h = torch.addcmul(current("b", 0, biases[0]), wide, current("w", 0, vectors[0]))
        else:  # no step yet: one row of weights per grid point
            h = torch.addcmul(base[1], wide.view(1, n * m, -1),
                              transposed[0]).view(count, n, m, -1)
        for i in range(1, last + 1):
            h.relu_()
            activations.append(h)
            if i == last:
                w = current("w", i, vectors[i])
                z = torch.matmul(h, w.transpose(-1, -2)).add_(current("b", i, biases[i]))
                break
            # the grid point's own weights, over all its tasks' data at once
            z = torch.bmm(h.view(count, n * m, -1), transposed[i]).view(count, n, m, -1)
            z.add_(current("b", i, biases[i]))
            matrices[i].add_forward(z.view(rows, m, -1), h.view(rows, m, -1))
            h = z
        return activations, z.squeeze(-1) - y

    def update(kind: str, i: int, grad: torch.Tensor) -> None:
        shift = shifts.get((kind, i))
        shifts[kind, i] = grad.mul(-lr) if shift is None else shift.mul_(keep).sub_(grad, alpha=lr)

    for _ in range(steps):
        activations, residual = forward(SUPPORT)
        m = residual.shape[-1]
        delta = residual.mul_(2.0 / m).unsqueeze(-1)  # ∂loss/∂output (C, n, m, 1)
        for i in range(last, -1, -1):
            inputs = activations[i]
            if i == last:
                back = delta * current("w", i, vectors[i])  # before this layer's step
                grad = torch.matmul(delta.transpose(-1, -2), inputs)
            elif i > 0:
                back = torch.bmm(delta.reshape(count, n * m, -1), weights[i]).view(count, n, m, -1)
                matrices[i].add_backward(back.view(rows, m, -1), delta.view(rows, m, -1))
                matrices[i].step(keep, lr, delta.view(rows, m, -1), inputs.view(rows, m, -1))
            else:  # Σₘ xₘ δₘ as a (1 × m)(m × width) product per task
                x_rows = inputs.reshape(1, n, 1, m).expand(count, n, 1, m).reshape(rows, 1, m)
                grad = torch.bmm(x_rows, delta.view(rows, m, -1)).view(count, n, 1, -1)
            if i in vectors:
                update("w", i, grad)
            update("b", i, delta.sum(2, keepdim=True))
            if i > 0:  # through ReLU: its mask, as autograd has it (0 at 0)
                delta = torch.ops.aten.threshold_backward.grad_input(back, inputs, 0,
                                                                      grad_input=back)
    _, residual = forward(QUERY)
    return residual.square_().mean(-1).expand(count, n)


def adapted_query_losses(family: SinusoidFamily, points: torch.Tensor, tasks: TaskBatch,
                         lr: float, steps: int, proximal: float | None, chunk: int,
                         cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    """Every task's query loss after adaptation from each row of ``points`` ``(G, P)``.

    Parameters
    ----------
    family : the plain MLP (:func:`supports`)
    points : θ per grid point, in the dtype to compute in
    tasks : the tasks (same dtype and device as ``points``)
    lr, steps : the inner learning rate α and the number of inner steps k
    proximal : iMAML's λ (gradient + λ(φ − θ) in every step), or None
    chunk : grid points per block (bounds the memory)
    cancelled : checked between blocks; when it returns True, :class:`LandscapeCancelled`

    Returns
    -------
    ``(G, n)`` query losses, detached
    """
    out = torch.empty(points.shape[0], tasks.n, dtype=points.dtype, device=points.device)
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk):
            if cancelled is not None and cancelled():
                raise LandscapeCancelled()
            block = points[start:start + chunk]
            out[start:start + block.shape[0]] = _mlp_losses(family, block, tasks, lr, steps,
                                                            proximal)
    return out


# Elements of one block's largest activation (points × tasks × data × width): big enough that
# per-call overhead is amortised, small enough to stay in cache (measured: see the README's
# landscape benchmark).
BLOCK_ELEMENTS = 1 << 19


def chunk_size(tasks: TaskBatch, family: SinusoidFamily) -> int:
    """Grid points per block for :func:`adapted_query_losses`."""
    return max(1, BLOCK_ELEMENTS // (tasks.n * family.work_per_task(tasks)))
