"""The batched meta surface (the MLP's low-rank inner loop, the 2-D families' fused loops)
against the engine point by point; cancellation at chunk boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core import landscape_mlp
from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import make_config
from maml_gui.core.landscape import (
    LandscapeCancelled, LandscapeEvaluator, landscape_tasks, random_plane,
)
from maml_gui.core.tasks import QUERY
from maml_gui.core.tasks.sinusoid import SinusoidFamily
from maml_gui.core.training import MetaTrainer

ALGORITHMS = ["maml", "fomaml", "imaml", "reptile"]
# float32 against float64: measured ≤ 3e-7 relative on these surfaces (values 2 … 9)
FLOAT32_RTOL = 1e-5


def _engine_values(config, tasks, points: np.ndarray) -> np.ndarray:
    """The reference: the training engine's own inner loop at one θ at a time (float64)."""
    family = make_algorithm(config.algorithm, MetaTrainer(config).family, tasks.n)
    tasks64 = tasks.to("cpu", torch.float64)
    return np.array([float(family.meta_gradient(torch.tensor(point), tasks64, config)
                           .loss_after.mean()) for point in points])


def _mlp(algorithm: str, k: int, k_shot: int, hidden=(40, 40)):
    config = make_config({
        "algorithm": algorithm, "inner_lr": 0.01, "inner_steps": k, "imaml_lambda": 2.0,
        "task": {"family": "sinusoid", "n_tasks": 4, "k_shot": k_shot, "k_query": 7,
                 "hidden": list(hidden)}})
    trainer = MetaTrainer(config)
    plane = random_plane(trainer.family, trainer.theta.double().numpy(), seed=3)
    return config, landscape_tasks(config), plane


# k = 1: the change of the 40×40 matrix stays as factors; (2, 10): it turns dense at the
# second step; (3, 3): three rank-3 factors concatenated (with iMAML's shrinking of the old)
@pytest.mark.parametrize("k, k_shot", [(1, 10), (2, 10), (3, 3)])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_mlp_plane_meta_surface_equals_the_engine_point_by_point(algorithm, k, k_shot):
    config, tasks, plane = _mlp(algorithm, k, k_shot)
    evaluator = LandscapeEvaluator(config, tasks, dtype=torch.float64)
    assert landscape_mlp.supports(evaluator.family)
    surface = evaluator.grid("meta", (-1.0, 0.8), (-0.5, 1.2), 7, plane=plane, chunk=5)
    rows, cols = np.array([0, 3, 6, 2, 5]), np.array([0, 2, 6, 5, 1])
    points = plane.points(surface.x[cols], surface.y[rows])
    np.testing.assert_allclose(surface.z[rows, cols], _engine_values(config, tasks, points),
                               rtol=1e-10, atol=0)
    # the whole grid against the generic path (every grid point × task a parameter copy)
    generic = evaluator.grid("meta", (-1.0, 0.8), (-0.5, 1.2), 7, plane=plane, fast=False)
    np.testing.assert_allclose(surface.z, generic.z, rtol=1e-12, atol=0)
    single = LandscapeEvaluator(config, tasks, dtype=torch.float32).grid(
        "meta", (-1.0, 0.8), (-0.5, 1.2), 7, plane=plane)
    np.testing.assert_allclose(single.z, surface.z, rtol=FLOAT32_RTOL, atol=0)
    assert np.ptp(surface.z) > 0.1 * np.abs(surface.z).max()  # a surface, not a constant


def test_mlp_with_one_hidden_layer_and_tr_maml_weights():
    config = make_config({"algorithm": "tr_maml", "inner_lr": 0.05, "inner_steps": 2,
                          "task": {"family": "sinusoid", "n_tasks": 3, "fixed_tasks": True,
                                   "k_shot": 4, "hidden": [6]}})
    trainer = MetaTrainer(config)
    weights = np.array([0.5, 0.2, 0.3])
    plane = random_plane(trainer.family, trainer.theta.double().numpy(), seed=1)
    evaluator = LandscapeEvaluator(config, trainer.pool, weights=weights)
    fast = evaluator.grid("meta", (-1, 1), (-1, 1), 6, plane=plane)
    generic = evaluator.grid("meta", (-1, 1), (-1, 1), 6, plane=plane, fast=False)
    np.testing.assert_allclose(fast.z, generic.z, rtol=1e-12, atol=0)
    engine = make_algorithm("maml", trainer.family, 3)
    theta = torch.tensor(plane.points(fast.x[4], fast.y[1]))
    losses = engine.meta_gradient(theta, trainer.pool.to("cpu", torch.float64), config).loss_after
    assert fast.z[1, 4] == pytest.approx(float(losses.numpy() @ weights), rel=1e-10)


@pytest.mark.parametrize("hidden, k, k_shot", [((8, 8, 8), 1, 5), ((12, 6, 9), 3, 2)])
def test_deeper_mlps_equal_the_generic_path(hidden, k, k_shot):
    """Two matrices between the 1-wide layers, each with its own factored or dense change."""
    config, tasks, plane = _mlp("imaml", k, k_shot, hidden=hidden)
    evaluator = LandscapeEvaluator(config, tasks, dtype=torch.float64)
    fast = evaluator.grid("meta", (-1, 1), (-1, 1), 6, plane=plane, chunk=7)
    generic = evaluator.grid("meta", (-1, 1), (-1, 1), 6, plane=plane, fast=False)
    np.testing.assert_allclose(fast.z, generic.z, rtol=1e-12, atol=0)
    assert np.ptp(fast.z) > 0.1 * np.abs(fast.z).max()


@pytest.mark.parametrize("name", ["mean", "task:2"])
def test_mlp_plane_mean_and_task_surfaces_equal_the_loss_point_by_point(name):
    config, tasks, plane = _mlp("maml", 1, 10)
    evaluator = LandscapeEvaluator(config, tasks, dtype=torch.float64)
    surface = evaluator.grid(name, (-1.0, 0.8), (-0.5, 1.2), 7, plane=plane, chunk=5)
    family, tasks64 = evaluator.family, tasks.to("cpu", torch.float64)
    rows, cols = np.array([0, 3, 6, 2]), np.array([0, 2, 6, 5])
    points = torch.tensor(plane.points(surface.x[cols], surface.y[rows]))
    losses = family.loss(points.unsqueeze(1), tasks64, QUERY)  # (4, n): the model's own loss
    expected = losses.mean(-1) if name == "mean" else losses[:, 2]
    np.testing.assert_allclose(surface.z[rows, cols], expected.numpy(), rtol=1e-12, atol=0)
    generic = evaluator.grid(name, (-1.0, 0.8), (-0.5, 1.2), 7, plane=plane, fast=False)
    np.testing.assert_allclose(surface.z, generic.z, rtol=1e-12, atol=0)
    assert np.ptp(surface.z) > 0.1 * np.abs(surface.z).max()


@pytest.mark.parametrize("k", [1, 2])
def test_mlp_surface_does_not_depend_on_the_block_size(k):
    """Buffers are reused from block to block (equal blocks where the grid allows; 17 leaves
    a smaller last one): any block size gives the same values, bit for bit (grid points are
    independent rows of every product)."""
    config, tasks, plane = _mlp("imaml", k, 10)
    evaluator = LandscapeEvaluator(config, tasks, dtype=torch.float64)
    whole = evaluator.grid("meta", (-1, 1), (-1, 1), 9, plane=plane, chunk=1024)
    for chunk in (3, 17, 40):
        blocks = evaluator.grid("meta", (-1, 1), (-1, 1), 9, plane=plane, chunk=chunk)
        np.testing.assert_array_equal(blocks.z, whole.z)


def test_subclassed_mlps_keep_the_generic_path():
    class Scaled(SinusoidFamily):  # another model: the low-rank loop does not know it
        def predict(self, theta, x):
            return 2.0 * super().predict(theta, x)

    params = SinusoidFamily.validate_params({})
    assert landscape_mlp.supports(SinusoidFamily(params))
    assert not landscape_mlp.supports(Scaled(params))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_two_parameter_meta_surface_equals_the_engine_point_by_point(algorithm):
    config = make_config({"algorithm": algorithm, "inner_lr": 0.3, "inner_steps": 3,
                          "imaml_lambda": 1.5, "task": {"family": "rbf"}})
    tasks = MetaTrainer(config).pool
    surface = LandscapeEvaluator(config, tasks).grid("meta", (0, 1), (0, 1), 9)
    rows, cols = np.array([0, 4, 8, 1, 6]), np.array([0, 7, 8, 3, 2])
    points = np.stack([surface.x[cols], surface.y[rows]], -1)
    np.testing.assert_allclose(surface.z[rows, cols], _engine_values(config, tasks, points),
                               rtol=1e-10, atol=1e-13)
    single = LandscapeEvaluator(config, tasks, dtype=torch.float32).grid("meta", (0, 1), (0, 1), 9)
    np.testing.assert_allclose(single.z, surface.z, rtol=FLOAT32_RTOL, atol=1e-6)


@pytest.mark.parametrize("fast", [True, False])
def test_a_cancelled_grid_stops_at_the_next_chunk_boundary(fast):
    config, tasks, plane = _mlp("maml", 1, 5, hidden=(8,))
    evaluator = LandscapeEvaluator(config, tasks, dtype=torch.float32)
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(LandscapeCancelled):
        evaluator.grid("meta", (-1, 1), (-1, 1), 16, plane=plane, chunk=64, fast=fast,
                       cancelled=cancelled)
    assert len(asked) == 4  # three chunks of 64 computed, the fourth (last) never started
    full = evaluator.grid("meta", (-1, 1), (-1, 1), 16, plane=plane, chunk=64, fast=fast,
                          cancelled=lambda: False)
    assert full.z.shape == (16, 16) and np.all(np.isfinite(full.z))
