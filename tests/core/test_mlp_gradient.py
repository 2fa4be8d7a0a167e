"""The sinusoid MLP's hand-written gradient against autograd's, and MAML through it."""

from __future__ import annotations

import pytest
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import make_config
from maml_gui.core.tasks import SUPPORT, make_family


def _setup(hidden, n_tasks=4):
    task = {"family": "sinusoid", "n_tasks": n_tasks, "k_shot": 6, "k_query": 7, "hidden": hidden}
    config = make_config({"algorithm": "maml", "inner_lr": 0.05, "inner_steps": 3,
                          "dtype": "float64", "task": task})
    family = make_family(config.task)
    generator = torch.Generator().manual_seed(3)
    batch = family.sample_fresh(n_tasks, generator).to("cpu", torch.float64)
    theta = torch.randn(n_tasks, family.param_dim, generator=generator, dtype=torch.float64)
    return config, family, batch, theta


@pytest.mark.parametrize("hidden", [[8, 8], [1, 5], [6]])
def test_gradient_and_its_derivative_match_autograd(hidden):
    _, family, batch, theta = _setup(hidden)
    theta = (0.5 * theta).requires_grad_(True)
    loss, grad = family.loss_and_grad(theta, batch, SUPPORT)
    reference_loss = family.loss(theta, batch, SUPPORT)
    (reference,) = torch.autograd.grad(reference_loss.sum(), theta, create_graph=True)
    torch.testing.assert_close(loss, reference_loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, reference, rtol=1e-10, atol=1e-12)
    # MAML differentiates the gradient: its Hessian-vector products must be autograd's too
    direction = torch.randn_like(theta)
    (hvp,) = torch.autograd.grad((grad * direction).sum(), theta)
    (reference_hvp,) = torch.autograd.grad((reference * direction).sum(), theta)
    torch.testing.assert_close(hvp, reference_hvp, rtol=1e-10, atol=1e-12)


def test_gradient_broadcasts_over_leading_dimensions():
    _, family, batch, theta = _setup([5, 4], n_tasks=3)
    grid = theta.unsqueeze(0) * torch.tensor([0.5, 1.0]).view(2, 1, 1).double()
    loss, grad = family.loss_and_grad(grid, batch, SUPPORT)
    assert grad.shape == grid.shape and loss.shape == (2, 3)
    _, second = family.loss_and_grad(grid[1], batch, SUPPORT)
    torch.testing.assert_close(grad[1], second, rtol=1e-12, atol=1e-14)
    assert not torch.allclose(grad[0], grad[1])


def test_maml_on_blocks_equals_maml_through_autograds_double_backward():
    config, family, batch, theta = _setup([7, 6])
    theta = theta[0] * 0.5
    fast = make_algorithm("maml", family, None).meta_gradient(theta, batch, config)
    slow_family = make_family(config.task)
    slow_family.differentiable_grad = False  # the generic path: autograd, create_graph=True
    slow = make_algorithm("maml", slow_family, None).meta_gradient(theta, batch, config)
    for name in ("task_grads", "aggregate", "paths", "inner_losses", "inner_grad_norms",
                 "loss_before", "loss_after"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name),
                                   rtol=1e-10, atol=1e-12, msg=name)
    assert fast.paths.shape == (4, 4, family.param_dim)
    assert float(fast.task_grads.norm()) > 0


def test_subclasses_with_their_own_model_keep_autograds_gradient():
    from maml_gui.core.tasks.mixed_op_sinusoid import MixedOpSinusoid
    from maml_gui.core.tasks.svdo_sinusoid import SVDOSinusoid

    _, family, batch, _ = _setup([5, 4])
    models = (MixedOpSinusoid(family.params, ["relu", "tanh"]), SVDOSinusoid(family.params, -6.0))
    for model in models:
        assert not model.differentiable_grad
        assert model.loss_and_grad(torch.zeros(batch.n, model.param_dim, dtype=torch.float64),
                                   batch) is None


@pytest.mark.parametrize("hidden", [[8, 8], [1, 5], [6]])
def test_gradient_step_node_differentiates_as_the_op_by_op_step(hidden):
    """GradientStep's hand-written backward (u ↦ u − αHu) against autograd through the same
    step recorded op by op (the hand-written gradient and φ − α∇L), in float64."""
    from maml_gui.core.tasks.mlp_step import backpropagate, gradient_step, layer_outputs
    from maml_gui.core.tasks.base import split_tensors

    _, family, batch, theta = _setup(hidden)
    x, y = split_tensors(batch, SUPPORT)
    inputs, targets = x.unsqueeze(-1), y.unsqueeze(-1)
    blocks = [b.detach().requires_grad_(True) for b in family.parameter_views(0.5 * theta)]
    loss, grads, stepped = gradient_step(blocks, inputs, targets, 0.3)
    reference_loss, reference_grads, _ = backpropagate(blocks, layer_outputs(blocks, inputs),
                                                       targets)
    reference = [b - 0.3 * g for b, g in zip(blocks, reference_grads)]
    torch.testing.assert_close(loss, reference_loss, rtol=1e-12, atol=1e-14)
    for mine, theirs in zip(grads + stepped, reference_grads + reference):
        torch.testing.assert_close(mine, theirs.detach(), rtol=1e-12, atol=1e-14)
    assert not any(g.requires_grad for g in grads) and all(s.requires_grad for s in stepped)
    generator = torch.Generator().manual_seed(5)
    cotangent = [torch.randn(b.shape, generator=generator, dtype=b.dtype) for b in blocks]
    mine = torch.autograd.grad(stepped, blocks, grad_outputs=cotangent)
    theirs = torch.autograd.grad(reference, blocks, grad_outputs=cotangent)
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert max(float((a - c).abs().max()) for a, c in zip(mine, cotangent)) > 1e-3  # H ≠ 0


def test_gradient_step_passes_gradcheck():
    """The step's vector-Jacobian product against finite differences (ReLU kinks aside)."""
    from maml_gui.core.tasks.mlp_step import GradientStep
    from maml_gui.core.tasks.base import split_tensors

    _, family, batch, theta = _setup([5, 4], n_tasks=2)
    x, y = split_tensors(batch, SUPPORT)
    blocks = tuple(b.detach().clone().requires_grad_(True)
                   for b in family.parameter_views(0.5 * theta))

    def stepped(*blocks):
        return GradientStep.apply(x.unsqueeze(-1), y.unsqueeze(-1), 0.3, *blocks)[-len(blocks):]

    assert torch.autograd.gradcheck(stepped, blocks, eps=1e-6, atol=1e-6, rtol=1e-5)
