"""The sinusoid MLP's batched layers, its gradient, and one gradient step with a hand-written
backward for MAML.

Parameters are per-task views ``(B, out, in)`` (weights) and ``(B, 1, out)`` (biases), inputs
``(B, M, 1)``; the loss is every task's mean squared error over its M points.

MAML at k inner steps differentiates k gradient steps φ ↦ φ − α∇L(φ). Recorded op by op, each
step was some 35 autograd nodes and its backward some 80 small ops (autograd's formulas for
the hand-written gradient, their transposes, gradient accumulation): most of a meta-step's
time at k = 5. :class:`GradientStep` makes the step one node whose backward is u ↦ u − αHu,
the Hessian-vector product Hu by Pearlmutter's R-operator through the same layers.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.autograd.function import once_differentiable


#: a second product added to the first one (the R-operator's sums of two terms)
Pair = tuple[torch.Tensor, torch.Tensor]


def linear(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           plus: Pair | None = None) -> torch.Tensor:
    """``inputs @ weightᵀ + bias`` for every task: ``(B, M, in)``, ``(B, out, in)``, ``(B, 1, out)``;
    with ``plus = (x, w)``, ``x @ wᵀ`` added (fused into the same kernels).

    ``bmm`` calls one small GEMM per task: for the MLP's 1-wide input and output layers
    that is 25 library calls for an outer product or a matrix-vector product, where one
    broadcast multiply (and a sum) does the work. The outer product is exact; the
    matrix-vector product sums the same terms, possibly in another order.
    """
    if weight.shape[-1] == 1:  # one input: outer products
        out = inputs * _row(weight) if bias is None else torch.addcmul(bias, inputs, _row(weight))
        return out if plus is None else torch.addcmul(out, plus[0], _row(plus[1]))
    if weight.shape[-2] == 1:  # one output: weighted sums of the inputs
        products = inputs * weight
        if plus is not None:
            products = torch.addcmul(products, *plus)
        out = products.sum(-1, keepdim=True)
        return out if bias is None else out + bias
    if bias is None:
        out = torch.bmm(inputs, weight.transpose(1, 2))
    else:
        out = torch.baddbmm(bias, inputs, weight.transpose(1, 2))
    return out if plus is None else torch.baddbmm(out, plus[0], plus[1].transpose(1, 2))


def weight_gradient(delta: torch.Tensor, inputs: torch.Tensor, plus: Pair | None = None
                    ) -> torch.Tensor:
    """``deltaᵀ @ inputs`` (+ ``plus[0]ᵀ @ plus[1]``) for every task, ``(B, out, in)``: Σ over
    points of δ's outer product with the layer's inputs (a broadcast multiply and a sum when
    either is 1 wide)."""
    if delta.shape[-1] == 1 or inputs.shape[-1] == 1:
        products = delta * inputs
        if plus is not None:
            products = torch.addcmul(products, *plus)
        return products.sum(1).view(delta.shape[0], delta.shape[-1], inputs.shape[-1])
    out = torch.bmm(delta.transpose(1, 2), inputs)
    return out if plus is None else torch.baddbmm(out, plus[0].transpose(1, 2), plus[1])


def input_gradient(delta: torch.Tensor, weight: torch.Tensor, plus: Pair | None = None
                   ) -> torch.Tensor:
    """``delta @ weight`` (+ ``plus[0] @ plus[1]``) for every task, ``(B, M, in)`` (outer
    products for one output)."""
    if weight.shape[-2] == 1:
        out = delta * weight
        return out if plus is None else torch.addcmul(out, *plus)
    out = torch.bmm(delta, weight)
    return out if plus is None else torch.baddbmm(out, *plus)


def _row(weight: torch.Tensor) -> torch.Tensor:
    """A one-input weight ``(B, out, 1)`` as a row ``(B, 1, out)``."""
    return weight.reshape(weight.shape[0], 1, weight.shape[1])


def layer_outputs(blocks: list[torch.Tensor], inputs: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's output ``(B, M, width)``: the input first, then after each ReLU, and the
    last layer's output (no ReLU) last."""
    layers = len(blocks) // 2
    activations = [inputs]
    hidden = inputs
    for i in range(layers):
        hidden = linear(hidden, blocks[2 * i], blocks[2 * i + 1])
        if i < layers - 1:
            hidden = torch.relu(hidden)
        activations.append(hidden)
    return activations


def backpropagate(blocks: list[torch.Tensor], activations: list[torch.Tensor],
                  targets: torch.Tensor
                  ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Every task's MSE (detached), its gradient block by block, and every layer's δ.

    ``deltas[i]`` is ∂loss/∂(layer i + 1's output before its ReLU), ``(B, M, width)``.
    Built from ordinary differentiable ops: where it runs under autograd, MAML can
    differentiate through it. ReLU's mask is a constant, as it is in autograd (its second
    derivative is 0 almost everywhere).
    """
    points = activations[0].shape[1]
    residual = activations[-1] - targets
    loss = residual.detach().square().mean((-2, -1))  # a value: nothing differentiates it
    delta = residual * (2.0 / points)  # ∂loss/∂output, (B, M, 1)
    layers = len(blocks) // 2
    grads: list[torch.Tensor] = [delta] * len(blocks)
    deltas: list[torch.Tensor] = [delta] * layers
    for i in range(layers - 1, -1, -1):
        layer_input = activations[i]
        deltas[i] = delta
        grads[2 * i] = weight_gradient(delta, layer_input)
        grads[2 * i + 1] = delta.sum(1, keepdim=True)
        if i > 0:  # through ReLU: autograd's own op, one node and no mask tensor
            delta = torch.ops.aten.threshold_backward(
                input_gradient(delta, blocks[2 * i]), layer_input, 0)
    return loss, grads, deltas


def hessian_vector_product(blocks: list[torch.Tensor], activations: list[torch.Tensor],
                           deltas: list[torch.Tensor], vector: list[torch.Tensor]
                           ) -> list[torch.Tensor]:
    """Hv for every task: the loss's Hessian at ``blocks`` times ``vector`` (blocks alike).

    Pearlmutter's R-operator R{·} = d/dε ·(blocks + εv) at ε = 0 through the forward pass
    (R{zₗ} = R{aₗ₋₁}Wₗᵀ + aₗ₋₁Vₗᵀ + vₗ, R{aₗ} = mask ⊙ R{zₗ}) and through
    :func:`backpropagate` (R{δ_L} = 2/M R{output}; R{∇Wₗ} = R{δₗ}ᵀaₗ₋₁ + δₗᵀR{aₗ₋₁};
    R{∇bₗ} = Σ R{δₗ}; R{δₗ₋₁} = mask ⊙ (R{δₗ}Wₗ + δₗVₗ)). The masks are constants, as in
    autograd's double backward.
    """
    layers = len(blocks) // 2
    r_activations: list[torch.Tensor | None] = [None]  # the inputs do not move
    r_hidden = None
    for i in range(layers):
        moved = None if r_activations[i] is None else (r_activations[i], blocks[2 * i])
        r_hidden = linear(activations[i], vector[2 * i], vector[2 * i + 1], moved)
        if i < layers - 1:
            r_hidden = torch.ops.aten.threshold_backward(r_hidden, activations[i + 1], 0)
        r_activations.append(r_hidden)
    r_delta = r_hidden * (2.0 / activations[0].shape[1])
    product: list[torch.Tensor] = list(vector)
    for i in range(layers - 1, -1, -1):
        delta, layer_input, r_input = deltas[i], activations[i], r_activations[i]
        product[2 * i] = weight_gradient(r_delta, layer_input,
                                         None if r_input is None else (delta, r_input))
        product[2 * i + 1] = r_delta.sum(1, keepdim=True)
        if i > 0:
            r_delta = torch.ops.aten.threshold_backward(
                input_gradient(r_delta, blocks[2 * i], (delta, vector[2 * i])), layer_input, 0)
    return product


class GradientStep(torch.autograd.Function):
    """``(loss, ∇L(θ), θ − α∇L(θ))`` for rows θ ``(n, P)``; only the step carries a gradient.

    ``views`` cuts rows into the MLP's blocks (``SinusoidFamily.parameter_views``). One graph
    node per inner step: its backward maps the step's cotangent u to u − αHu (H symmetric,
    so this is the step's vector-Jacobian product).
    """

    @staticmethod
    def forward(ctx, views: Callable[[torch.Tensor], list[torch.Tensor]], inputs: torch.Tensor,
                targets: torch.Tensor, lr: float, theta: torch.Tensor):
        blocks = views(theta)
        activations = layer_outputs(blocks, inputs)
        loss, grads, deltas = backpropagate(blocks, activations, targets)
        gradient = torch.cat([g.flatten(1) for g in grads], dim=-1)
        ctx.set_materialize_grads(False)  # no zero cotangents for the loss and the gradient
        ctx.save_for_backward(theta)  # checked: θ changed in place since would raise
        ctx.views, ctx.activations, ctx.deltas, ctx.lr = views, activations, deltas, lr
        ctx.mark_non_differentiable(loss, gradient)
        return loss, gradient, torch.add(theta, gradient, alpha=-lr)

    @staticmethod
    @once_differentiable
    def backward(ctx, _loss_cotangent, _gradient_cotangent, cotangent):
        if cotangent is None:
            return None, None, None, None, None
        (theta,) = ctx.saved_tensors
        product = hessian_vector_product(ctx.views(theta), ctx.activations, ctx.deltas,
                                         ctx.views(cotangent.contiguous()))
        product = torch.cat([p.flatten(1) for p in product], dim=-1)
        return None, None, None, None, torch.add(cotangent, product, alpha=-ctx.lr)
