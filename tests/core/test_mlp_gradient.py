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
    """The step's one node and its hand-written backward (u ↦ u − αHu) against autograd
    through the same step recorded op by op (the hand-written gradient, θ − α∇L), float64."""
    _, family, batch, theta = _setup(hidden)
    theta = (0.5 * theta).requires_grad_(True)
    loss, grad, stepped = family.gradient_step(theta, batch, 0.3, SUPPORT)
    reference_loss, reference_grad = family.loss_and_grad(theta, batch, SUPPORT)
    reference = theta - 0.3 * reference_grad
    torch.testing.assert_close(loss, reference_loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, reference_grad.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(stepped, reference.detach(), rtol=1e-12, atol=1e-14)
    assert not grad.requires_grad and stepped.requires_grad
    cotangent = torch.randn(theta.shape, generator=torch.Generator().manual_seed(5),
                            dtype=theta.dtype)
    (mine,) = torch.autograd.grad(stepped, theta, grad_outputs=cotangent)
    (theirs,) = torch.autograd.grad(reference, theta, grad_outputs=cotangent)
    torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    assert float((mine - cotangent).abs().max()) > 1e-3  # the Hessian term is there


def test_gradient_step_passes_gradcheck():
    """The step's vector-Jacobian product against finite differences (ReLU kinks aside)."""
    _, family, batch, theta = _setup([5, 4], n_tasks=2)
    theta = (0.5 * theta).requires_grad_(True)

    def stepped(theta):
        return family.gradient_step(theta, batch, 0.3, SUPPORT)[-1]

    assert torch.autograd.gradcheck(stepped, (theta,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradient_step_refuses_a_backward_after_theta_changed_in_place():
    _, family, batch, theta = _setup([5, 4], n_tasks=2)
    leaf = theta.clone().requires_grad_(True)
    rows = leaf * 1.0
    _, _, stepped = family.gradient_step(rows, batch, 0.3, SUPPORT)
    with torch.no_grad():
        rows.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        stepped.sum().backward()
