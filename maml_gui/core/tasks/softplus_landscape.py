"""The softplus family's inner loop over many θ at once, hand-fused for live landscapes.

The generic path (autograd or ``loss_and_grad`` on a ``(grid, task, point)`` tensor) costs
about a dozen full passes over memory per inner step. Here the layout is
``(task, point, grid)`` so that both gradient sums, Σⱼ rⱼσⱼxⱼ and Σⱼ rⱼσⱼ, come out of one
small batched matrix product, softplus and σ share one exponential, and every temporary
is a preallocated buffer reused across chunks and steps: eight passes per step.
"""

from __future__ import annotations

import torch

def adapted_query_losses(
    points: torch.Tensor,
    x_support: torch.Tensor, y_support: torch.Tensor,
    x_query: torch.Tensor, y_query: torch.Tensor,
    inner_lr: float, steps: int, proximal_lambda: float | None, chunk: int,
) -> torch.Tensor | None:
    """Query loss of every task after ``steps`` inner steps from each θ in ``points`` ``(G, 2)``.

    Returns ``(G, n)``. Where exp(a·x + b) overflows, the inf turns into NaN (inf/inf) and
    NaN spreads to that grid point's final loss only: the caller recomputes the non-finite
    points with the generic, clamped path.
    """
    dtype, device = points.dtype, points.device
    n, n_points = x_support.shape
    grid = points.shape[0]
    x_col = x_support.unsqueeze(-1)  # (n, N, 1)
    y_col = y_support.unsqueeze(-1)
    # rows (x, 1) of the gradient sums, with the mean's 1/N and the step size folded in
    sums = torch.stack((x_support, torch.ones_like(x_support)), dim=1) * (inner_lr / n_points)
    out = torch.empty(grid, n, dtype=dtype, device=device)
    buffers = None
    for start in range(0, grid, chunk):
        width = min(chunk, grid - start)
        if buffers is None or buffers[0].shape[-1] != width:
            buffers = tuple(torch.empty(n, n_points, width, dtype=dtype, device=device)
                            for _ in range(3))
            grads = torch.empty(n, 2, width, dtype=dtype, device=device)
        z, p, w = buffers
        params = points[start:start + width].t().unsqueeze(0).repeat(n, 1, 1)  # (n, 2, C)
        anchor = params.clone() if proximal_lambda is not None else None
        a, b = params[:, 0:1], params[:, 1:2]
        for _ in range(steps):
            torch.addcmul(b, x_col, a, out=z)  # z = a·x + b
            z.exp_()  # e
            torch.add(z, 1.0, out=p)  # 1 + e
            torch.div(z, p, out=w)  # σ(z) = e / (1 + e)
            p.log_().sub_(y_col)  # r = softplus(z) − y
            w.mul_(p)  # r·σ
            torch.bmm(sums, w, out=grads)  # α·(mean r σ x, mean r σ)
            if anchor is not None:
                grads.add_(params - anchor, alpha=inner_lr * proximal_lambda)
            params.sub_(grads)
        out[start:start + width] = _query_loss(a, b, x_query, y_query).t()
    return out


def _query_loss(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """meanⱼ ½(softplus(a xⱼ + b) − yⱼ)² per task and grid point: ``(n, C)``.

    softplus as log(1 + exp(z)) (overflow gives inf, caught by the caller); F.softplus's
    log1p path costs three times as much here.
    """
    z = torch.addcmul(b, x.unsqueeze(-1), a)
    residual = z.exp_().add_(1.0).log_().sub_(y.unsqueeze(-1))
    return residual.square_().mean(1).mul_(0.5)
