"""TreeMAML: reductions to MAML/FOMAML, closed forms, the four-task example, and the
per-task Jacobian that the row shortcut gets wrong when tasks pool their gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.algorithms.base import run_inner_loop, task_meta_gradients, task_rows
from maml_gui.core.algorithms.tree_maml import average_linkage, cosine_distances, pooling_matrix
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.tasks import QUERY, SUPPORT
from maml_gui.core.training import MetaTrainer

ALPHA = 0.3
SINGLETONS = [[0, 1, 2, 3]]
NESTED = [[0, 0, 1, 1], [0, 0, 1, 2], [0, 1, 2, 3]]


def _quadratic(seed=0, dim=3, n=4, k=3, **overrides):
    """Random SPD quadratics with noisy support centres, float64."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, dim)) * 1.5
    support = centres + rng.normal(size=(n, dim)) * 0.7
    config = make_config({
        "task": {"family": "quadratic", "dim": dim, "n_tasks": n, "condition": 6.0,
                 "eig_max": 1.5, "c": centres.tolist(), "c_support": support.tolist()},
        "seed": seed, "dtype": "float64", "device": "cpu", "inner_lr": ALPHA,
        "inner_steps": k, **overrides,
    })
    trainer = MetaTrainer(config)
    theta = torch.tensor(rng.normal(size=dim) * 2.0)
    return config, trainer, theta


def _run(config, trainer, theta, **changes):
    config = config.with_changes(changes) if changes else config
    algorithm = make_algorithm(config.algorithm, trainer.family, trainer.family.pool_size())
    return algorithm.meta_gradient(theta, trainer.pool, config)


def _closed_form(pool, theta, schedule, alpha, k):
    """gᵢ = J₁ᵀ⋯Jₖᵀ Aᵢ(φᵢᵏ − cᵢ), Jⱼ = I − α Σₘ Mⱼ[i,m] Aₘ, with φ computed by hand."""
    A, c, cs = (pool[key].numpy() for key in ("A", "c", "c_support"))
    n, dim = c.shape
    phi = np.tile(theta.numpy(), (n, 1))
    jacobians = [np.eye(dim) for _ in range(n)]
    for j in range(k):
        M = pooling_matrix(np.asarray(schedule[min(j, len(schedule) - 1)]))
        grads = np.einsum("ipq,iq->ip", A, phi - cs)
        phi = phi - alpha * M @ grads
        for i in range(n):
            J = np.eye(dim) - alpha * np.einsum("m,mpq->pq", M[i], A)
            jacobians[i] = J @ jacobians[i]
    task_grads = np.stack([jacobians[i].T @ A[i] @ (phi[i] - c[i]) for i in range(n)])
    return phi, task_grads


def test_singleton_clusters_are_maml_path_and_every_task_gradient():
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_clusters=SINGLETONS)
    tree = _run(config, trainer, theta)
    maml = _run(config, trainer, theta, algorithm="maml", tree_clusters=None)
    np.testing.assert_allclose(tree.paths.numpy(), maml.paths.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(tree.task_grads.numpy(), maml.task_grads.numpy(), atol=1e-12)
    np.testing.assert_allclose(tree.loss_after.numpy(), maml.loss_after.numpy(), atol=1e-13)


def test_singleton_first_order_is_fomaml():
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_clusters=SINGLETONS,
                                        tree_first_order=True)
    tree = _run(config, trainer, theta)
    fomaml = _run(config, trainer, theta, algorithm="fomaml", tree_clusters=None)
    np.testing.assert_allclose(tree.task_grads.numpy(), fomaml.task_grads.numpy(), atol=1e-13)
    second = _run(config, trainer, theta, tree_first_order=False)
    assert np.abs(second.task_grads.numpy() - tree.task_grads.numpy()).max() > 1e-2


def test_learned_tree_with_zero_cut_is_maml():
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_thresholds=[0.0])
    tree = _run(config, trainer, theta)
    maml = _run(config, trainer, theta, algorithm="maml")
    assert (tree.diagnostics["cluster_labels"] == np.arange(4)[:, None]).all()
    np.testing.assert_allclose(tree.task_grads.numpy(), maml.task_grads.numpy(), atol=1e-12)


def test_one_cluster_is_maml_on_the_merged_task():
    k = 2
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_clusters=[[5, 5, 5, 5]], k=k)
    tree = _run(config, trainer, theta)
    pool, family = trainer.pool, trainer.family
    # the merged task: k steps of gradient descent on the mean support loss, from θ itself
    leaf = theta.clone().requires_grad_(True)
    phi = leaf
    for _ in range(k):
        (grad,) = torch.autograd.grad(family.loss(phi.expand(4, -1), pool, SUPPORT).mean(), phi,
                                      create_graph=True)
        phi = phi - ALPHA * grad
    merged = family.loss(phi.expand(4, -1), pool, QUERY).mean()
    (expected,) = torch.autograd.grad(merged, leaf)
    final = tree.paths[:, -1].numpy()
    np.testing.assert_allclose(final, np.tile(phi.detach().numpy(), (4, 1)), atol=1e-13)
    np.testing.assert_allclose(tree.aggregate.numpy(), expected.numpy(), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("schedule", [NESTED, [[0, 0, 1, 1]], [[3, 3, 3, 3], [0, 0, 1, 2]]])
def test_closed_form_on_random_quadratics(seed, schedule):
    k = 3
    config, trainer, theta = _quadratic(seed=seed, algorithm="tree_maml", tree_clusters=schedule, k=k)
    result = _run(config, trainer, theta)
    phi, expected = _closed_form(trainer.pool, theta, schedule, ALPHA, k)
    np.testing.assert_allclose(result.paths[:, -1].numpy(), phi, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.task_grads.numpy(), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.aggregate.numpy(), expected.mean(0), rtol=0, atol=1e-10)


def _pooled_query_losses(config, trainer, theta):
    """The NESTED tree's inner loop written out: (θ's task rows, each task's query loss)."""
    family, pool = trainer.family, trainer.pool
    rows = task_rows(theta, pool.n)
    phi = rows
    for j in range(config.inner_steps):
        (grad,) = torch.autograd.grad(family.loss(phi, pool).sum(), phi, create_graph=True)
        phi = phi - ALPHA * torch.as_tensor(pooling_matrix(np.asarray(NESTED[j]))) @ grad
    return rows, family.loss(phi, pool, QUERY)


def test_row_shortcut_is_wrong_when_tasks_pool_and_the_jacobian_is_right():
    """The sum-of-rows trick keeps the aggregate but not gᵢ: TreeMAML must not use it."""
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_clusters=NESTED)
    rows, losses = _pooled_query_losses(config, trainer, theta)
    jacobian = task_meta_gradients(losses, rows, independent=False)  # keeps the graph
    shortcut = task_meta_gradients(losses, rows, independent=True)
    _, expected = _closed_form(trainer.pool, theta, NESTED, ALPHA, config.inner_steps)
    np.testing.assert_allclose(jacobian.numpy(), expected, atol=1e-10)
    assert np.abs(shortcut.numpy() - expected).max() > 1e-2
    np.testing.assert_allclose(shortcut.sum(0).numpy(), expected.sum(0), atol=1e-10)
    result = _run(config, trainer, theta)
    np.testing.assert_allclose(result.task_grads.numpy(), expected, atol=1e-10)


def test_independent_rows_shortcut_agrees_with_the_jacobian_for_maml():
    config, trainer, theta = _quadratic(algorithm="maml")
    rows = task_rows(theta, trainer.pool.n)
    path = run_inner_loop(trainer.family, trainer.pool, rows, ALPHA, 3, create_graph=True)
    losses = trainer.family.loss(path.final, trainer.pool, QUERY)
    jacobian = task_meta_gradients(losses, rows, independent=False)
    np.testing.assert_allclose(task_meta_gradients(losses, rows, independent=True).numpy(),
                               jacobian.numpy(), atol=1e-13)


FOUR_TASKS = {
    "maml": ([[0, 1, 2, 3], [0, 1, 2, 3]], 0.3878125),
    "cluster_leaf": ([[0, 0, 1, 1], [0, 1, 2, 3]], 0.22625),
    "cluster_cluster": ([[0, 0, 1, 1], [0, 0, 1, 1]], 0.13),
    "root_only": ([[0, 0, 0, 0], [0, 0, 0, 0]], 2.005),
}


@pytest.mark.parametrize("name", list(FOUR_TASKS))
def test_four_task_example_converges_to_the_origin_with_the_reference_losses(name):
    schedule, loss = FOUR_TASKS[name]
    query = [[2, 0.1], [2, -0.1], [-2, 0.1], [-2, -0.1]]
    support = [[c[0], c[1] + (1 if i % 2 == 0 else -1)] for i, c in enumerate(query)]
    config = make_config({
        "algorithm": "tree_maml", "tree_clusters": schedule, "inner_lr": 0.5, "inner_steps": 2,
        "outer_lr": 1.0, "theta0": [1.0, 1.0], "dtype": "float64", "device": "cpu",
        "task": {"family": "quadratic", "A": [[[1, 0], [0, 1]]] * 4, "c": query,
                 "c_support": support},
    })
    trainer = MetaTrainer(config)
    for _ in range(300):
        record = trainer.step()
    np.testing.assert_allclose(trainer.theta.numpy(), [0.0, 0.0], atol=1e-8)
    assert record.meta_loss_after == pytest.approx(loss, abs=1e-8)
    assert (record.diagnostics["cluster_labels"].T == [
        [np.flatnonzero(np.asarray(level) == v)[0] for v in level] for level in schedule]).all()


def test_average_linkage_cuts_and_nesting():
    grads = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-0.1, 1.0], [-1.0, 0.0]])
    distance = cosine_distances(grads)
    assert (average_linkage(distance, 0.0) == np.arange(5)).all()
    assert (average_linkage(distance, 0.05) == [0, 0, 2, 2, 4]).all()
    assert (average_linkage(distance, 2.01) == 0).all()
    assert distance[0, 4] == pytest.approx(2.0)


def test_learned_tree_labels_are_nested_and_pool_gradients():
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_thresholds=[1.0, 0.3, 0.0], n=6)
    result = _run(config, trainer, theta)
    labels = result.diagnostics["cluster_labels"]
    assert labels.shape == (6, 3)
    for j in range(1, 3):  # same cluster at a finer step ⇒ same cluster at the coarser one
        same_now = labels[:, j, None] == labels[None, :, j]
        same_before = labels[:, j - 1, None] == labels[None, :, j - 1]
        assert not (same_now & ~same_before).any()
    # members of a step's cluster land on the same point
    for j in range(3):
        for value in np.unique(labels[:, j]):
            members = result.paths[labels[:, j] == value, j + 1].numpy()
            np.testing.assert_allclose(members, np.broadcast_to(members[0], members.shape), atol=1e-12)
    assert result.diagnostics["grad_cosine_distances"].shape == (6, 6, 3)
    assert result.diagnostics["inner_grads"].shape == (6, 3, 3)  # tasks × P × steps


def test_meta_gradient_matches_finite_differences_on_softplus():
    config = make_config({
        "algorithm": "tree_maml", "tree_clusters": [[0, 0, 1, 1], [0, 1, 2, 3]],
        "task": {"family": "softplus", "optima": None, "n_tasks": 4, "noise": 0.1},
        "theta0": [0.4, 0.2], "inner_lr": 0.4, "inner_steps": 2, "dtype": "float64",
        "device": "cpu", "seed": 3,
    })
    trainer = MetaTrainer(config)
    algorithm = make_algorithm("tree_maml", trainer.family, trainer.family.pool_size())
    theta = trainer.theta.clone()
    result = algorithm.meta_gradient(theta, trainer.pool, config)

    def objective(t):
        return algorithm.meta_gradient(t, trainer.pool, config).loss_after

    eps = 1e-6
    for v in np.eye(2):
        v = torch.tensor(v)
        numeric = (objective(theta + eps * v) - objective(theta - eps * v)) / (2 * eps)
        np.testing.assert_allclose((result.task_grads @ v).numpy(), numeric.numpy(),
                                   rtol=1e-6, atol=1e-8)


def test_config_refuses_bad_trees():
    base = {"algorithm": "tree_maml", "task": {"family": "quadratic", "n_tasks": 4}}
    with pytest.raises(ConfigError, match="nested"):
        make_config({**base, "tree_clusters": [[0, 0, 1, 1], [0, 1, 1, 2]]})
    with pytest.raises(ConfigError, match="one label per pool task"):
        make_config({**base, "tree_clusters": [[0, 0, 1]]})
    with pytest.raises(ConfigError, match="integers"):
        make_config({**base, "tree_clusters": [[0, 0.5, 1, 1]]})
    with pytest.raises(ConfigError, match="fixed pool"):
        make_config({"algorithm": "tree_maml", "tree_clusters": [[0]],
                     "task": {"family": "sinusoid"}})
    with pytest.raises(ConfigError, match="tree_thresholds"):
        make_config({**base, "tree_thresholds": [-0.1]})


def test_support_centres_drive_the_inner_loop_only():
    config, trainer, theta = _quadratic(algorithm="maml")
    pool, family = trainer.pool, trainer.family
    A, c, cs = (pool[key] for key in ("A", "c", "c_support"))
    offset = theta - cs
    expected = 0.5 * torch.einsum("ip,ipq,iq->i", offset, A, offset)
    np.testing.assert_allclose(family.loss(theta.expand(4, -1), pool, SUPPORT).numpy(),
                               expected.numpy(), atol=1e-13)
    offset = theta - c
    expected = 0.5 * torch.einsum("ip,ipq,iq->i", offset, A, offset)
    np.testing.assert_allclose(family.loss(theta.expand(4, -1), pool, QUERY).numpy(),
                               expected.numpy(), atol=1e-13)
    with pytest.raises(ConfigError, match="c_support"):
        make_config({"task": {"family": "quadratic", "c": [[0, 0], [1, 1]],
                              "c_support": [[0, 0]]}})


@pytest.mark.parametrize("overrides", [{"tree_clusters": NESTED}, {"tree_thresholds": [1.0, 0.2]}])
def test_meta_surface_pools_like_the_algorithm(overrides):
    from maml_gui.core.landscape import LandscapeEvaluator

    config, trainer, theta = _quadratic(algorithm="tree_maml", **overrides)
    engine = LandscapeEvaluator(config, trainer.pool)
    points = np.stack([theta.numpy(), theta.numpy() + 0.3, theta.numpy() - 0.7])
    values = engine.values("meta", points)
    for point, value in zip(points, values):
        result = _run(config, trainer, torch.tensor(point))
        assert value == pytest.approx(float(result.loss_after.mean()), abs=1e-12)
    maml = LandscapeEvaluator(config.with_changes({"algorithm": "maml", "tree_clusters": None}),
                           trainer.pool).values("meta", points)
    assert np.abs(maml - values).max() > 1e-3
    assert "TreeMAML" in engine.label("meta")


def test_preset_shows_tree_maml_beating_maml_on_noisy_clusters():
    from maml_gui.core.training import train
    from maml_gui.presets import load_preset

    config = load_preset("tree_maml_noisy_clusters").config
    losses = {}
    for algorithm in ("tree_maml", "maml"):
        for record in train(config.with_changes({"algorithm": algorithm}), 100):
            pass
        losses[algorithm] = record.meta_loss_after
    assert losses["tree_maml"] == pytest.approx(0.13, abs=1e-3)
    assert losses["maml"] == pytest.approx(0.3878125, abs=1e-3)


def test_grouped_jacobian_needs_only_the_largest_groups_passes_and_is_exact():
    config, trainer, theta = _quadratic(algorithm="tree_maml", tree_clusters=NESTED)
    rows, losses = _pooled_query_losses(config, trainer, theta)
    full = task_meta_gradients(losses, rows, independent=False)
    grouped = task_meta_gradients(losses, rows, independent=False, groups=np.array(NESTED[0]))
    np.testing.assert_allclose(grouped.numpy(), full.numpy(), atol=1e-13)
    # wrong groups (claiming tasks 0 and 1 do not interact) give wrong gradients
    wrong = task_meta_gradients(losses, rows, independent=False, groups=np.arange(4))
    assert np.abs(wrong.numpy() - full.numpy()).max() > 1e-2
