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
common live case — never builds a per-task weight matrix at all. With ``steps = 0`` the same
forward gives the ``mean`` and ``task:i`` surfaces.

Where the time goes (one 64² surface, k = 1, float32, one thread, profiled): the three
10·K×40×40 products per grid point (support forward, backward, query forward) are about
two fifths, the low-rank correction of the query forward (two products per task of
K×40×K and K×K×40) a quarter, and some twenty passes over the activations the rest. What
was cut: a fresh multi-megabyte tensor per operation (the allocator hands such blocks back
to the system, so each cost page faults: now one buffer per role, reused from block to
block), products with one output column (``(M × w)(w × 1)`` per task runs several times
slower in MKL than ``(1 × w)(w × M)``, so the 1-wide layers use the latter), copies of the
weight matrices (the products read them in place from the points), and a final small block.
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


class _Workspace:
    """Buffers reused from block to block of one surface: a fresh multi-megabyte tensor per
    operation cost as much as the operation itself (the allocator hands the pages back to
    the system and faults them in again), and most of the work is a few such passes."""

    def __init__(self, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device = dtype, device
        self._buffers: dict[tuple, torch.Tensor] = {}

    def get(self, key: tuple, shape: tuple[int, ...]) -> torch.Tensor:
        """A buffer of ``shape`` (contents undefined), the same memory for the same ``key``
        as long as the trailing dimensions stay and the first one does not grow."""
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape[1:] != shape[1:] or buffer.shape[0] < shape[0]:
            buffer = self._buffers[key] = torch.empty(shape, dtype=self.dtype,
                                                      device=self.device)
        return buffer[:shape[0]]


class _MatrixChange:
    """A hidden-to-hidden weight matrix's change φ − θ for every (grid point, task): as
    factors while that is cheaper, then dense. Rows ``B = C·n`` (grid points × tasks)."""

    def __init__(self, out: int, inp: int, dense: Callable[[tuple[int, ...]], torch.Tensor]):
        self.out, self.inp = out, inp
        self._dense_buffer = dense
        self.left: torch.Tensor | None = None  # (B, r, out)
        self.right: torch.Tensor | None = None  # (B, r, in)
        self.dense: torch.Tensor | None = None  # (B, out, in)
        self.scale = 1.0  # ΔW = scale·leftᵀ right

    @property
    def factored(self) -> bool:
        """True while the change is kept as factors, which refer to the buffers of the
        steps that made them (so each such step needs buffers of its own)."""
        return self.dense is None

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
            self.dense = self._dense_buffer((delta.shape[0], self.out, self.inp))
            if self.left is None:
                self.dense.zero_()
            else:
                torch.bmm(self.left.transpose(1, 2), self.right, out=self.dense)
                self.dense.mul_(self.scale)
            self.left = self.right = None
        self.dense.baddbmm_(delta.transpose(1, 2), inputs, beta=keep, alpha=-lr)


def _threshold(back: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``back`` through a ReLU whose output was ``output``, in place: its mask as autograd
    has it (0 at 0)."""
    return torch.ops.aten.threshold_backward.grad_input(back, output, 0, grad_input=back)


def _mlp_losses(family: SinusoidFamily, points: torch.Tensor, tasks: TaskBatch, lr: float,
                steps: int, proximal: float | None, space: _Workspace) -> torch.Tensor:
    """Query losses ``(C, n)`` after ``steps`` inner steps from each θ in ``points`` ``(C, P)``.

    Shapes: ``C`` grid points, ``n`` tasks, ``m`` data points, rows ``B = C·n``. The first
    layer (1 input) and the last (1 output) are rows of weights, per grid point
    ``(C, 1, 1, width)`` until the first step and per task ``(C, n, 1, width)`` after it, as
    is every bias; the matrices between them are the grid point's own, over all its tasks'
    data in one product, plus a :class:`_MatrixChange` per task. Every full-size activation
    and gradient lives in a buffer of ``space``.
    """
    count, n = points.shape[0], tasks.n
    rows = count * n
    views = family.parameter_views(points)  # W (C, out, in), b (C, 1, out)
    weights, biases = views[0::2], views[1::2]
    last = len(weights) - 1
    shared = {("w", 0): weights[0].view(count, 1, 1, -1),
              ("w", last): weights[last].view(count, 1, 1, -1)}
    shared.update({("b", i): b.view(count, 1, 1, -1) for i, b in enumerate(biases)})
    # the matrices as views of the points (contiguous copies cost more than they saved)
    forward_weights, backward_weights, matrices = {}, {}, {}
    for i in range(1, last):
        out, inp = weights[i].shape[1:]
        forward_weights[i], backward_weights[i] = weights[i].transpose(1, 2), weights[i]
        matrices[i] = _MatrixChange(out, inp, lambda shape, i=i: space.get(("dW", i), shape))
    # per-task changes φ − θ of the biases and of the first and last weights: (C, n, 1, width)
    shifts: dict[tuple[str, int], torch.Tensor] = {}
    keep = 1.0 - lr * proximal if proximal is not None else 1.0

    def current(key: tuple[str, int]) -> torch.Tensor:
        shift = shifts.get(key)
        if shift is None:
            return shared[key]
        return torch.add(shared[key], shift, out=space.get(("current", *key), shift.shape))

    def update(key: tuple[str, int], grad: torch.Tensor) -> None:
        shift = shifts.get(key)
        if shift is None:
            shifts[key] = torch.mul(grad, -lr, out=space.get(("shift", *key), grad.shape))
        else:
            shift.mul_(keep).sub_(grad, alpha=lr)

    def gradient(key: tuple[str, int], shape: tuple[int, ...]) -> torch.Tensor:
        return space.get(("gradient", *key), shape)

    def buffer(kind: str, split: str, step: int, i: int, m: int) -> torch.Tensor:
        """Layer ``i``'s input (``kind`` "h") or output gradient ("delta"), ``(C, n, m, width)``:
        one buffer per step while a factored change refers to them, else one for all steps."""
        width = weights[i].shape[2 if kind == "h" else 1]
        factored = i in matrices and matrices[i].factored and split == SUPPORT
        return space.get((kind, split, i, step if factored else -1), (count, n, m, width))

    def forward(split: str, step: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        x, y = split_tensors(tasks, split)
        m = x.shape[-1]
        h = buffer("h", split, step, 1, m)
        # x repeated along the first layer's width: a broadcast multiply-add over
        # contiguous rows runs several times faster than one that broadcasts x itself
        wide = x.reshape(1, n, m, 1).expand(1, n, m, h.shape[-1]).contiguous()
        torch.addcmul(current(("b", 0)), wide, current(("w", 0)), out=h).relu_()
        inputs = [h]  # inputs[i - 1] is layer i's input
        for i in range(1, last):
            z = buffer("h", split, step, i + 1, m)
            torch.bmm(h.view(count, n * m, -1), forward_weights[i], out=z.view(count, n * m, -1))
            matrices[i].add_forward(z.view(rows, m, -1), h.view(rows, m, -1))
            h = z.add_(current(("b", i))).relu_()
            inputs.append(h)
        # one output: a (1 × width)(width × points) product per grid point (or per task);
        # the other way round, (points × width)(width × 1), is several times slower
        w = current(("w", last))
        batch = w.shape[0] * w.shape[1]
        out = torch.bmm(w.view(batch, 1, -1), h.view(batch, -1, h.shape[-1]).transpose(1, 2))
        out = out.view(count, n, m).add_(current(("b", last)).view(count, -1, 1))
        return inputs, out.sub_(y)

    def backward(step: int, inputs: list[torch.Tensor], residual: torch.Tensor) -> None:
        m = residual.shape[-1]
        delta = residual.mul_(2.0 / m)  # ∂loss/∂output (C, n, m)
        h = inputs[-1]
        back = buffer("delta", SUPPORT, step, last - 1, m)
        torch.mul(delta.unsqueeze(-1), current(("w", last)), out=back)  # before the step
        width = h.shape[-1]
        grad = gradient(("w", last), (rows, 1, width))
        torch.bmm(delta.view(rows, 1, m), h.view(rows, m, width), out=grad)
        update(("w", last), grad.view(count, n, 1, width))
        update(("b", last), delta.sum(-1).view(count, n, 1, 1))
        delta = _threshold(back, h)
        for i in range(last - 1, 0, -1):
            h = inputs[i - 1]
            back = buffer("delta", SUPPORT, step, i - 1, m)
            torch.bmm(delta.view(count, n * m, -1), backward_weights[i],
                      out=back.view(count, n * m, -1))
            matrices[i].add_backward(back.view(rows, m, -1), delta.view(rows, m, -1))
            matrices[i].step(keep, lr, delta.view(rows, m, -1), h.view(rows, m, -1))
            update(("b", i), torch.sum(delta, 2, keepdim=True,
                                       out=gradient(("b", i), (count, n, 1, delta.shape[-1]))))
            delta = _threshold(back, h)
        # the first layer: Σₘ xₘ δₘ, a (1 × m)(m × width) product per task (two rows, x and
        # ones, in one product ran slower than this and a sum), and Σₘ δₘ
        width = delta.shape[-1]
        grad = gradient(("w", 0), (rows, 1, width))
        torch.bmm(x_row, delta.view(rows, m, width), out=grad)
        update(("w", 0), grad.view(count, n, 1, width))
        update(("b", 0), torch.sum(delta, 2, keepdim=True,
                                   out=gradient(("b", 0), (count, n, 1, width))))

    x = split_tensors(tasks, SUPPORT)[0]
    x_row = x.reshape(1, n, 1, -1).expand(count, n, 1, -1).reshape(rows, 1, -1)
    for step in range(steps):
        backward(step, *forward(SUPPORT, step))
    _, residual = forward(QUERY, 0)
    return residual.square_().mean(-1)


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
    total = points.shape[0]
    chunk = -(-total // -(-total // chunk))  # equal blocks: no small one at the end
    space = _Workspace(points.dtype, points.device)
    out = torch.empty(total, tasks.n, dtype=points.dtype, device=points.device)
    with torch.no_grad():
        for start in range(0, total, chunk):
            if cancelled is not None and cancelled():
                raise LandscapeCancelled()
            block = points[start:start + chunk]
            out[start:start + block.shape[0]] = _mlp_losses(family, block, tasks, lr, steps,
                                                            proximal, space)
    return out


# Elements of one block's largest activation (points × tasks × data × width): big enough that
# per-call overhead is amortised, small enough to stay in cache (measured: see the README's
# landscape benchmark).
BLOCK_ELEMENTS = 1 << 19


def chunk_size(tasks: TaskBatch, family: SinusoidFamily) -> int:
    """Grid points per block for :func:`adapted_query_losses`."""
    return max(1, BLOCK_ELEMENTS // (tasks.n * family.work_per_task(tasks)))
