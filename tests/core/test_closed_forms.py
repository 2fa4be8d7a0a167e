"""Every meta-gradient against REFERENCE.md §1's closed forms on random quadratic tasks (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.helpers import meta_gradient, quadratic_setup

TOL = 1e-8


def _B(A, alpha, k):
    eye = np.eye(A.shape[-1])
    return np.linalg.matrix_power(eye - alpha * A, k)


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_maml_matches_closed_form(dim, k):
    alpha = 0.3
    config, trainer, A, c, theta = quadratic_setup(dim, algorithm="maml", inner_lr=alpha,
                                                    inner_steps=k)
    result = meta_gradient(config, trainer, theta)
    for i in range(len(A)):
        B = _B(A[i], alpha, k)
        expected = B @ A[i] @ B @ (theta - c[i])
        np.testing.assert_allclose(result.task_grads[i].numpy(), expected, atol=TOL, rtol=0)
        np.testing.assert_allclose(result.paths[i, -1].numpy(), c[i] + B @ (theta - c[i]),
                                   atol=TOL, rtol=0)
    expected_mean = np.mean([_B(a, alpha, k) @ a @ _B(a, alpha, k) @ (theta - ci)
                             for a, ci in zip(A, c)], axis=0)
    np.testing.assert_allclose(result.aggregate.numpy(), expected_mean, atol=TOL, rtol=0)


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_fomaml_matches_closed_form(dim, k):
    alpha = 0.3
    config, trainer, A, c, theta = quadratic_setup(dim, algorithm="fomaml", inner_lr=alpha,
                                                    inner_steps=k)
    result = meta_gradient(config, trainer, theta)
    for i in range(len(A)):
        expected = A[i] @ _B(A[i], alpha, k) @ (theta - c[i])
        np.testing.assert_allclose(result.task_grads[i].numpy(), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_reptile_matches_closed_form(dim, k):
    alpha = 0.3
    config, trainer, A, c, theta = quadratic_setup(dim, algorithm="reptile", inner_lr=alpha,
                                                    inner_steps=k)
    result = meta_gradient(config, trainer, theta)
    for i in range(len(A)):
        expected = (np.eye(dim) - _B(A[i], alpha, k)) @ (theta - c[i])
        np.testing.assert_allclose(result.task_grads[i].numpy(), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_imaml_matches_closed_form_with_exact_inner_solve(dim, lam):
    # GD on Lˢ + λ/2‖φ−θ‖² contracts by ≤ 1 − α(λmin(A)+λ) per step: 400 steps reach 1e-12.
    config, trainer, A, c, theta = quadratic_setup(
        dim, algorithm="imaml", inner_lr=0.4, inner_steps=400, imaml_lambda=lam,
        cg_steps=dim, cg_tol=0.0,
    )
    result = meta_gradient(config, trainer, theta)
    eye = np.eye(dim)
    for i in range(len(A)):
        phi = np.linalg.solve(A[i] + lam * eye, A[i] @ c[i] + lam * theta)
        np.testing.assert_allclose(result.paths[i, -1].numpy(), phi, atol=TOL, rtol=0)
        expected = np.linalg.solve(eye + A[i] / lam, A[i] @ (phi - c[i]))
        np.testing.assert_allclose(result.task_grads[i].numpy(), expected, atol=TOL, rtol=0)
    residuals = result.diagnostics["cg_residuals"]
    assert residuals.shape == (len(A), dim + 1)
    np.testing.assert_allclose(residuals[:, 0], 1.0, rtol=1e-12)
    assert np.all(residuals[:, -1] < 1e-10)


def test_imaml_damping_solves_the_damped_system():
    dim, lam, damping = 3, 1.0, 0.7
    config, trainer, A, c, theta = quadratic_setup(
        dim, algorithm="imaml", inner_lr=0.4, inner_steps=400, imaml_lambda=lam,
        cg_steps=dim, cg_tol=0.0, cg_damping=damping,
    )
    result = meta_gradient(config, trainer, theta)
    eye = np.eye(dim)
    for i in range(len(A)):
        phi = np.linalg.solve(A[i] + lam * eye, A[i] @ c[i] + lam * theta)
        expected = np.linalg.solve(eye + (A[i] + damping * eye) / lam, A[i] @ (phi - c[i]))
        np.testing.assert_allclose(result.task_grads[i].numpy(), expected, atol=TOL, rtol=0)


def test_cg_tolerance_stops_early_and_reports_it():
    config, trainer, A, c, theta = quadratic_setup(
        5, algorithm="imaml", inner_lr=0.4, inner_steps=50, cg_steps=50, cg_tol=1e-3,
    )
    result = meta_gradient(config, trainer, theta)
    residuals = result.diagnostics["cg_residuals"]
    assert residuals.shape[1] - 1 < 50  # stopped before the cap
    assert np.all(residuals[:, -1] <= 1e-3)
    # every HVP is counted: CG's iterations and the true-residual checks of its stopping test
    iterations = residuals.shape[1] - 1
    assert len(A) * (iterations + 1) <= result.hvp_evals <= len(A) * 2 * iterations


def test_meta_objective_value_matches_closed_form():
    alpha, k = 0.25, 3
    config, trainer, A, c, theta = quadratic_setup(4, algorithm="maml", inner_lr=alpha,
                                                    inner_steps=k)
    result = meta_gradient(config, trainer, theta)
    for i in range(len(A)):
        B = _B(A[i], alpha, k)
        d = theta - c[i]
        assert abs(float(result.loss_after[i]) - 0.5 * d @ B @ A[i] @ B @ d) < 1e-10
        assert abs(float(result.loss_before[i]) - 0.5 * d @ A[i] @ d) < 1e-10


def test_tr_maml_uses_simplex_weights_and_ascends_on_the_worst_task():
    config, trainer, A, c, theta = quadratic_setup(2, algorithm="tr_maml", inner_lr=0.2,
                                                    inner_steps=1, tr_lr=0.5)
    first = trainer.step()
    weights = first.diagnostics["task_weights"]
    np.testing.assert_allclose(weights, np.full(len(A), 1 / len(A)))
    # first step: uniform weights, so the aggregate is the plain mean of MAML's gradients
    np.testing.assert_allclose(first.meta_grad, first.task_meta_grads.mean(0), atol=1e-14)
    after = first.diagnostics["task_weights_next"]
    assert abs(after.sum() - 1) < 1e-12 and np.all(after >= 0)
    worst = int(np.argmax(first.loss_after))
    assert np.argmax(after) == worst
    second = trainer.step()
    np.testing.assert_allclose(second.meta_grad,
                               (after[:, None] * second.task_meta_grads).sum(0), atol=1e-14)


def test_simplex_projection():
    from maml_gui.core.algorithms.tr_maml import project_to_simplex

    rng = np.random.default_rng(3)
    for _ in range(50):
        v = rng.normal(size=6) * 3
        p = project_to_simplex(v)
        assert abs(p.sum() - 1) < 1e-12 and np.all(p >= 0)
        # optimality: no random simplex point is closer to v
        for _ in range(20):
            q = rng.dirichlet(np.ones(6))
            assert np.linalg.norm(v - p) <= np.linalg.norm(v - q) + 1e-12
