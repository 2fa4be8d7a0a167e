"""MAML and iMAML meta-gradients against central finite differences of the meta-objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import make_config
from maml_gui.core.tasks import QUERY
from maml_gui.core.training import MetaTrainer

CASES = {
    "softplus": ({"family": "softplus", "optima": None, "n_tasks": 3, "noise": 0.1}, [0.4, 0.2]),
    "rbf": ({"family": "rbf"}, [0.45, 0.35]),
    "sinusoid": ({"family": "sinusoid", "hidden": [5, 5], "n_tasks": 3, "k_shot": 5,
                  "k_query": 6, "fixed_tasks": True}, None),
}


def _setup(case, **overrides):
    task, theta0 = CASES[case]
    config = make_config({"task": task, "theta0": theta0, "dtype": "float64", "device": "cpu",
                          "seed": 7, **overrides})
    trainer = MetaTrainer(config)
    algorithm = make_algorithm(config.algorithm, trainer.family, trainer.family.pool_size())
    return config, trainer, algorithm


def _directions(dim, count=4, seed=0):
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(count, dim))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _check(objective, theta, grads, eps, tol):
    """Compare every task's directional derivative with gᵢ·v along random unit vectors v."""
    for v in _directions(theta.numel()):
        v = torch.tensor(v)
        numeric = (objective(theta + eps * v) - objective(theta - eps * v)) / (2 * eps)
        analytic = grads @ v
        np.testing.assert_allclose(analytic.numpy(), numeric.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("k", [1, 3])
def test_maml_meta_gradient_matches_finite_differences(case, k):
    lr = 0.05 if case == "sinusoid" else 0.3
    config, trainer, algorithm = _setup(case, algorithm="maml", inner_lr=lr, inner_steps=k)
    pool, family = trainer.pool, trainer.family
    theta = trainer.theta.clone()

    def objective(t):  # Fᵢ(θ) = Lᵢq(φᵏ(θ)), by plain unrolled gradient descent
        phi = t.unsqueeze(0).expand(pool.n, -1).clone().requires_grad_(True)
        for _ in range(k):
            (g,) = torch.autograd.grad(family.loss(phi, pool).sum(), phi)
            phi = (phi - lr * g).detach().requires_grad_(True)
        return family.loss(phi, pool, QUERY).detach()

    result = algorithm.meta_gradient(theta, pool, config)
    _check(objective, theta, result.task_grads, eps=1e-6, tol=2e-6)
    # and the FOMAML gradient is measurably different on these curved tasks
    fo_config = config.with_changes({"algorithm": "fomaml"})
    fo = make_algorithm("fomaml", family, pool.n).meta_gradient(theta, pool, fo_config)
    assert float((fo.task_grads - result.task_grads).norm()) > 1e-4


@pytest.mark.parametrize("case", list(CASES))
def test_imaml_meta_gradient_matches_finite_differences_of_the_exact_solution(case):
    lam, lr, steps = (10.0, 0.02, 1000) if case != "softplus" else (2.0, 0.3, 400)
    config, trainer, algorithm = _setup(case, algorithm="imaml", imaml_lambda=lam, inner_lr=lr,
                                        inner_steps=steps, cg_steps=200, cg_tol=1e-13)
    pool, family = trainer.pool, trainer.family
    theta = trainer.theta.clone()

    def objective(t):  # Lᵢq(φ*(θ)) with φ* the converged proximal solve
        anchor = t.unsqueeze(0).expand(pool.n, -1)
        phi = anchor.clone().requires_grad_(True)
        for _ in range(steps):
            obj = family.loss(phi, pool) + 0.5 * lam * (phi - anchor).square().sum(-1)
            (g,) = torch.autograd.grad(obj.sum(), phi)
            phi = (phi - lr * g).detach().requires_grad_(True)
        return family.loss(phi, pool, QUERY).detach()

    result = algorithm.meta_gradient(theta, pool, config)
    assert result.diagnostics["cg_residuals"][:, -1].max() < 1e-10
    _check(objective, theta, result.task_grads, eps=1e-5, tol=1e-5)
