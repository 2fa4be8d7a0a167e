"""REFERENCE.md's invariants, determinism, hot changes and divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.tasks import QUERY
from maml_gui.core.training import MetaTrainer, train

SOFTPLUS = {"family": "softplus", "optima": None, "n_tasks": 4}
SINUSOID = {"family": "sinusoid", "hidden": [8, 8], "n_tasks": 4, "k_shot": 5, "k_query": 5,
            "fixed_tasks": True}


@pytest.mark.parametrize("task", [SOFTPLUS, SINUSOID])
def test_zero_inner_lr_makes_maml_fomaml_and_plain_gradient_equal(task):
    base = make_config({"task": task, "inner_lr": 0.0, "inner_steps": 3, "dtype": "float64"})
    trainer = MetaTrainer(base)
    theta, pool, family = trainer.theta.clone(), trainer.pool, trainer.family
    phi = theta.unsqueeze(0).expand(pool.n, -1).clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(family.loss(phi, pool, QUERY).sum(), phi)
    for name in ("maml", "fomaml"):
        config = base.with_changes({"algorithm": name})
        result = make_algorithm(name, family, pool.n).meta_gradient(theta, pool, config)
        np.testing.assert_allclose(result.task_grads.numpy(), plain.numpy(), atol=1e-14, rtol=0)


def test_reptile_with_one_step_is_sgd_on_the_mean_loss_scaled_by_alpha():
    alpha, epsilon = 0.3, 0.5
    common = {"task": SOFTPLUS, "inner_steps": 1, "inner_lr": alpha, "dtype": "float64"}
    reptile = list(train(make_config({**common, "algorithm": "reptile", "outer_lr": epsilon}), 20))
    sgd = list(train(make_config({**common, "algorithm": "pretrain",
                                  "outer_lr": epsilon * alpha}), 20))
    for r, s in zip(reptile, sgd):
        np.testing.assert_allclose(r.theta_next, s.theta_next, atol=1e-13, rtol=0)


def test_imaml_tends_to_the_plain_gradient_as_lambda_grows():
    # the inner step size must stay below 2/λ for the proximal solve itself to converge
    config = make_config({"task": SOFTPLUS, "algorithm": "imaml", "imaml_lambda": 1e5,
                          "inner_lr": 1e-5, "inner_steps": 5, "cg_steps": 10})
    trainer = MetaTrainer(config)
    theta, pool, family = trainer.theta.clone(), trainer.pool, trainer.family
    phi = theta.unsqueeze(0).expand(pool.n, -1).clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(family.loss(phi, pool, QUERY).sum(), phi)
    result = make_algorithm("imaml", family, pool.n).meta_gradient(theta, pool, config)
    np.testing.assert_allclose(result.task_grads.numpy(), plain.numpy(), atol=1e-4, rtol=0)


def _flatten(records):
    keys = ("theta", "theta_next", "paths", "task_meta_grads", "meta_grad", "loss_before",
            "loss_after", "inner_losses", "task_ids")
    return [getattr(r, key) for r in records for key in keys]


@pytest.mark.parametrize("task, extra", [
    ({"family": "sinusoid", "hidden": [8, 8], "n_tasks": 5}, {}),
    ({**SOFTPLUS, "noise": 0.2, "n_tasks": 6}, {"meta_batch": 3}),
])
def test_same_seed_gives_a_bit_identical_trace(task, extra):
    config = make_config({"task": task, "algorithm": "maml", "inner_steps": 2, "seed": 11, **extra})
    first, second = list(train(config, 8)), list(train(config, 8))
    for a, b in zip(_flatten(first), _flatten(second)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    other = list(train(config.with_changes({"seed": 12}), 8))
    assert not np.array_equal(first[-1].theta_next, other[-1].theta_next)


def test_hot_change_applies_at_the_next_step_and_is_recorded():
    gen = train(make_config({"task": SOFTPLUS, "inner_steps": 1, "inner_lr": 0.1}))
    first = next(gen)
    second = gen.send({"inner_lr": 0.02, "inner_steps": 3})
    third = next(gen)
    assert first.hyper["inner_lr"] == 0.1 and first.paths.shape[1] == 2
    assert second.hyper["inner_lr"] == 0.02 and second.hyper["inner_steps"] == 3
    assert second.paths.shape[1] == 4 and third.paths.shape[1] == 4
    np.testing.assert_array_equal(second.theta, first.theta_next)  # history kept
    step = second.paths[0, 1] - second.paths[0, 0]
    assert np.linalg.norm(step) < np.linalg.norm(first.paths[0, 1] - first.paths[0, 0])


def test_cold_change_is_refused_during_a_run():
    gen = train(make_config({}))
    next(gen)
    with pytest.raises(ConfigError, match="algorithm"):
        gen.send({"algorithm": "reptile"})


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile", "imaml"])
def test_absurd_inner_lr_ends_in_a_readable_divergence(algorithm):
    config = make_config({"algorithm": algorithm, "inner_lr": 90.0, "inner_steps": 20,
                          "task": {"family": "quadratic", "eig_max": 1.0}})
    records = list(train(config, 50))
    last = records[-1]
    assert last.diverged and len(records) < 50
    assert "inner learning rate" in last.reason and "90" in last.reason
    assert not any(r.diverged for r in records[:-1])


def test_high_outer_lr_divergence_names_the_outer_learning_rate():
    config = make_config({"algorithm": "pretrain", "outer_lr": 100.0,
                          "task": {"family": "quadratic", "eig_max": 1.0, "condition": 1.0}})
    records = list(train(config, 10_000))
    assert records[-1].diverged and "outer learning rate" in records[-1].reason


def test_records_are_read_only():
    record = next(train(make_config({})))
    with pytest.raises(ValueError):
        record.theta[0] = 1.0
