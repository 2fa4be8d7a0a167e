"""Surfaces against closed forms and the engine; chunking; planes and projections; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import make_config
from maml_gui.core.landscape import (
    LandscapeError, LandscapeEvaluator, axes_plane, pca_plane, random_plane,
)
from maml_gui.core.training import MetaTrainer


def _evaluator(overrides, dtype=torch.float64):
    config = make_config(overrides)
    trainer = MetaTrainer(config)
    return config, trainer, LandscapeEvaluator(config, trainer.pool, dtype=dtype)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_meta_surface_matches_the_quadratic_closed_form(k, algorithm):
    alpha = 0.35
    config, trainer, ev = _evaluator({
        "algorithm": algorithm, "inner_lr": alpha, "inner_steps": k,
        "task": {"family": "quadratic", "n_tasks": 4, "condition": 3.0, "eig_max": 2.0},
    })
    A, c = trainer.pool["A"].numpy(), trainer.pool["c"].numpy()
    surface = ev.grid("meta", (-3, 2), (-1, 4), 33)
    u, v = np.meshgrid(surface.x, surface.y)
    theta = np.stack([u, v], -1)
    expected = np.zeros_like(u)
    for a, ci in zip(A, c):
        B = np.linalg.matrix_power(np.eye(2) - alpha * a, k)
        d = theta - ci
        expected += 0.5 * np.einsum("...i,ij,...j->...", d, B @ a @ B, d) / len(A)
    np.testing.assert_allclose(surface.z, expected, atol=1e-9, rtol=0)
    assert surface.z.shape == (33, 33) and surface.z[0, -1] == pytest.approx(expected[0, -1])
    assert "meta-objective" in surface.label and f"k = {k}" in surface.label


def test_mean_task_and_imaml_surfaces_match_direct_evaluation():
    config, trainer, ev = _evaluator({"task": {"family": "rbf"}, "imaml_lambda": 3.0})
    family, pool = trainer.family, trainer.pool
    surface = ev.grid("mean", (0, 1), (0, 1), 9)
    task1 = ev.grid("task:1", (0, 1), (0, 1), 9)
    anchor = np.array([0.3, 0.6])
    reg = ev.grid("imaml:0", (0, 1), (0, 1), 9, anchor=anchor)
    for r, yv in enumerate(surface.y):
        for col, xv in enumerate(surface.x):
            theta = torch.tensor([[xv, yv]]).expand(pool.n, 2)
            losses = family.loss(theta, pool).numpy()
            assert surface.z[r, col] == pytest.approx(losses.mean(), abs=1e-12)
            assert task1.z[r, col] == pytest.approx(losses[1], abs=1e-12)
            offset = np.array([xv, yv]) - anchor
            assert reg.z[r, col] == pytest.approx(losses[0] + 1.5 * offset @ offset, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["maml", "imaml", "reptile"])
@pytest.mark.parametrize("n_query", [0, 7])
def test_softplus_meta_surface_equals_the_engines_inner_loop(algorithm, n_query):
    config, trainer, ev = _evaluator({
        "algorithm": algorithm, "inner_lr": 0.4, "inner_steps": 4, "imaml_lambda": 2.0,
        "task": {"family": "softplus", "optima": None, "n_tasks": 5, "n_points": 9,
                 "n_query": n_query, "noise": 0.05},
    })
    points = np.array([[0.1, 0.9], [0.5, 0.5], [-0.7, 1.3], [2.0, -1.0]])
    surface = ev.values("meta", points)
    engine = make_algorithm(algorithm, trainer.family, trainer.pool.n)
    for point, value in zip(points, surface):
        result = engine.meta_gradient(torch.tensor(point), trainer.pool, config)
        assert value == pytest.approx(float(result.loss_after.mean()), abs=1e-12, rel=1e-12)


def test_overflowing_points_fall_back_to_the_clamped_path():
    config, trainer, ev = _evaluator({"inner_steps": 2, "inner_lr": 0.1}, dtype=torch.float32)
    points = np.array([[40.0, 30.0], [0.4, 0.4], [-60.0, 90.0]])  # |a·x + b| up to 270
    values = ev.values("meta", points)
    assert np.all(np.isfinite(values))
    engine = make_algorithm("maml", trainer.family, trainer.pool.n)
    for point, value in zip(points, values):
        expected = float(engine.meta_gradient(torch.tensor(point), trainer.pool, config).loss_after.mean())
        assert value == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("family, surface", [
    ({"family": "softplus", "optima": None, "n_tasks": 6}, "meta"),
    ({"family": "rbf"}, "meta"),
    ({"family": "quadratic"}, "mean"),
])
def test_chunked_and_unchunked_results_are_identical(family, surface):
    config, trainer, ev = _evaluator({"task": family, "inner_steps": 3})
    whole = ev.grid(surface, (-1, 1), (-1, 1), 37, chunk=37 * 37)
    for chunk in (1, 7, 100):
        np.testing.assert_array_equal(ev.grid(surface, (-1, 1), (-1, 1), 37, chunk=chunk).z,
                                      whole.z)


def test_tr_maml_meta_surface_uses_the_task_weights():
    config, trainer, _ = _evaluator({"algorithm": "tr_maml", "task": {"family": "rbf"}})
    uniform = LandscapeEvaluator(config, trainer.pool).values("meta", [[0.5, 0.5]])
    lopsided = LandscapeEvaluator(config, trainer.pool, weights=[1.0, 0.0])
    task0_only = LandscapeEvaluator(config.with_changes({"algorithm": "maml"}),
                                    trainer.pool.select([0])).values("meta", [[0.5, 0.5]])
    assert lopsided.values("meta", [[0.5, 0.5]])[0] == pytest.approx(task0_only[0], abs=1e-12)
    assert uniform[0] != pytest.approx(task0_only[0])


def test_pca_recovers_a_plane_with_full_explained_variance():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(50, 2)))
    centre = rng.normal(size=50)
    coords = rng.normal(size=(40, 2)) * [3.0, 1.0]
    points = centre + coords @ basis.T
    plane = pca_plane(points)
    assert sum(plane.explained_variance) == pytest.approx(1.0, abs=1e-12)
    # the directions span the same plane: projecting the basis leaves no residual
    _, distance = plane.project(centre + basis.T)
    assert np.all(distance < 1e-10)
    projected, off = plane.project(points)
    assert np.all(off < 1e-10)
    np.testing.assert_allclose(plane.points(projected[:, 0], projected[:, 1]), points, atol=1e-10)
    assert plane.explained_variance[0] > plane.explained_variance[1] > 0


def test_projection_reports_distance_off_the_plane():
    plane = axes_plane(np.zeros(3))
    coords, distance = plane.project(np.array([[1.0, 2.0, 0.0], [1.0, 2.0, -4.0]]))
    np.testing.assert_allclose(coords, [[1, 2], [1, 2]])
    np.testing.assert_allclose(distance, [0.0, 4.0])


def test_random_plane_is_seeded_and_filter_normalised():
    config = make_config({"task": {"family": "sinusoid", "hidden": [6, 5]}})
    trainer = MetaTrainer(config)
    centre = trainer.theta.double().numpy()
    a = random_plane(trainer.family, centre, seed=3)
    b = random_plane(trainer.family, centre, seed=3)
    c = random_plane(trainer.family, centre, seed=4)
    np.testing.assert_array_equal(a.directions, b.directions)
    assert not np.allclose(a.directions, c.directions)
    w2 = centre[12:42].reshape(5, 6)  # W1 (6×1), b1 (6), then W2 (5×6)
    d2 = a.directions[0][12:42].reshape(5, 6)
    np.testing.assert_allclose(np.linalg.norm(d2, axis=1), np.linalg.norm(w2, axis=1))


def test_mlp_surface_through_a_plane_matches_direct_evaluation():
    config = make_config({"task": {"family": "sinusoid", "hidden": [8], "n_tasks": 3,
                                   "fixed_tasks": True}, "inner_lr": 0.05, "inner_steps": 2})
    trainer = MetaTrainer(config)
    ev = LandscapeEvaluator(config, trainer.pool, dtype=torch.float64)
    plane = random_plane(trainer.family, trainer.theta.double().numpy(), seed=1)
    surface = ev.grid("meta", (-1, 1), (-1, 1), 5, plane=plane)
    engine = make_algorithm("maml", trainer.family, 3)
    pool64 = trainer.pool.to("cpu", torch.float64)
    config64 = config
    theta = torch.tensor(plane.points(surface.x[1], surface.y[3]))
    expected = engine.meta_gradient(theta, pool64, config64).loss_after.mean()
    assert surface.z[3, 1] == pytest.approx(float(expected), rel=1e-10)


@pytest.mark.parametrize("call, words", [
    (lambda ev: ev.grid("meta", (1, 0), (0, 1), 10), "minimum must be below"),
    (lambda ev: ev.grid("meta", (0, 1), (0, 1), 1), "out of range"),
    (lambda ev: ev.grid("meta", (0, 1), (0, 1), 4096), "out of range"),
    (lambda ev: ev.grid("task:2", (0, 1), (0, 1), 10), "task index out of range"),
    (lambda ev: ev.grid("task:x", (0, 1), (0, 1), 10), "integer"),
    (lambda ev: ev.grid("hessian", (0, 1), (0, 1), 10), "unknown surface"),
    (lambda ev: ev.grid("imaml:0", (0, 1), (0, 1), 10), "anchor"),
])
def test_bad_requests_raise_landscape_errors(call, words):
    _, _, ev = _evaluator({})
    with pytest.raises(LandscapeError, match=words):
        call(ev)


def test_pretraining_has_no_meta_surface():
    _, _, ev = _evaluator({"algorithm": "pretrain"})
    with pytest.raises(LandscapeError, match="surface mean"):
        ev.grid("meta", (0, 1), (0, 1), 8)
