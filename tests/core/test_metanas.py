"""MetaNAS: reduction to batched Reptile, the temperature schedule, the inner Adam, the
separate architecture rate, warm-up, pruning, and `sin` winning layer 1 on sine waves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms.base import run_inner_loop
from maml_gui.core.algorithms.metanas import clip_rows
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.tasks.mixed_op_sinusoid import temperatures
from maml_gui.core.training import MetaTrainer

TASK = {"family": "sinusoid", "hidden": [6, 6], "n_tasks": 4, "k_shot": 5, "k_query": 5,
        "fixed_tasks": True}


def _trainer(**overrides):
    config = make_config({"algorithm": "metanas", "task": TASK, "dtype": "float64",
                          "device": "cpu", "seed": 2, "inner_lr": 0.02, "inner_steps": 3,
                          "outer_lr": 1.0, **overrides})
    return config, MetaTrainer(config)


def test_temperature_schedule():
    np.testing.assert_allclose(temperatures(1.0, 0.05, 5), [1.0, 0.7625, 0.525, 0.2875, 0.05])
    assert temperatures(2.0, 0.1, 1) == [2.0]
    config, trainer = _trainer(inner_steps=5)
    record = trainer.step()
    np.testing.assert_allclose(record.diagnostics["temperatures"], [1.0, 0.7625, 0.525, 0.2875, 0.05])
    assert record.diagnostics["arch_path"].shape == (4, 2, 4, 6)  # tasks × layers × ops × (k+1)
    with pytest.raises(ConfigError, match="t_max"):
        make_config({"algorithm": "metanas", "task": TASK, "metanas_temperature": [0.1, 1.0]})


def test_one_operation_sgd_frozen_architecture_is_batched_reptile():
    config, trainer = _trainer(metanas_ops=["relu"], metanas_inner_optimizer="sgd",
                               metanas_warmup=10)
    theta = trainer.theta.clone()
    base = trainer.family.base_dim
    assert trainer.family.param_dim == base + 2
    record = trainer.step()
    reptile_config = config.with_changes({"algorithm": "reptile"})
    reptile = MetaTrainer(reptile_config, theta0=theta[:base].numpy())
    expected = reptile.step()
    np.testing.assert_allclose(record.paths[..., :base], expected.paths, atol=1e-13)
    np.testing.assert_allclose(record.task_meta_grads[:, :base], expected.task_meta_grads,
                               atol=1e-13)
    np.testing.assert_allclose(record.theta_next[:base], expected.theta_next, atol=1e-13)
    assert (record.task_meta_grads[:, base:] == 0).all()
    np.testing.assert_allclose(record.loss_after, expected.loss_after, atol=1e-13)


def test_architecture_moves_by_its_own_rate_and_not_during_warm_up():
    config, trainer = _trainer(metanas_arch_outer_lr=0.6, metanas_warmup=1,
                               metanas_inner_optimizer="sgd")
    base = trainer.family.base_dim
    warm = trainer.step()
    assert (warm.paths[:, :, base:] == warm.theta[base:]).all()
    assert float(warm.diagnostics["arch_frozen"]) == 1.0
    record = trainer.step()
    adapted = record.paths[:, -1]
    assert np.abs(adapted[:, base:] - record.theta[base:]).max() > 1e-6
    np.testing.assert_allclose(record.theta_next[base:],
                               record.theta[base:] + 0.6 * (adapted[:, base:] - record.theta[base:]).mean(0),
                               atol=1e-13)
    np.testing.assert_allclose(record.theta_next[:base],
                               record.theta[:base] + 1.0 * (adapted[:, :base] - record.theta[:base]).mean(0),
                               atol=1e-13)


def test_clip_rows_clips_each_task_alone():
    grads = torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=torch.float64)
    clipped = clip_rows(grads, 1.0)
    np.testing.assert_allclose(clipped.norm(dim=-1).numpy(), [1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.8], atol=1e-6)


def test_pruning_removes_unlikely_operations_for_good():
    config, trainer = _trainer(metanas_prune=0.3, metanas_prune_every=1)
    trainer.step()  # no pruning at step 0
    record = trainer.step()
    pruned = record.diagnostics["pruned"].astype(bool)
    assert (pruned.sum(axis=1) == 3).all()  # softmax(0) = 0.25 < 0.3: all but the argmax
    weights = record.diagnostics["arch_weights"]
    assert (weights[pruned] == 0).all()
    np.testing.assert_allclose(weights.sum(1), 1.0)
    assert float(record.diagnostics["active_params"]) == trainer.family.base_dim + 2
    # the pruned logits no longer move in the inner loop
    base = trainer.family.base_dim
    arch = record.paths[:, :, base:].reshape(4, -1, 2, 4)
    assert (arch[:, :, pruned] == arch[:, :1, pruned]).all()


def test_refuses_families_without_an_mlp():
    with pytest.raises(ConfigError, match="sinusoid"):
        make_config({"algorithm": "metanas", "task": {"family": "softplus"}})
    with pytest.raises(ConfigError, match="metanas_ops"):
        make_config({"algorithm": "metanas", "task": TASK, "metanas_ops": ["relu", "gelu"]})
    config = make_config({"algorithm": "metanas", "task": TASK, "metanas_ops": "sin, relu"})
    assert config.metanas_ops == ("sin", "relu")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sin_wins_the_first_layer_on_sine_waves(seed):
    config = make_config({
        "algorithm": "metanas", "inner_steps": 3, "inner_lr": 0.05, "outer_lr": 1.0, "seed": seed,
        "task": {"family": "sinusoid", "hidden": [20, 20], "n_tasks": 10},
    })
    trainer = MetaTrainer(config)
    for _ in range(60):
        record = trainer.step()
    layer1 = record.diagnostics["arch_weights"][0]
    ops = list(config.metanas_ops)
    assert int(np.argmax(layer1)) == ops.index("sin")
    assert layer1[ops.index("sin")] > np.sort(layer1)[-2] + 0.2


@pytest.mark.parametrize("algorithm", ["metanas", "tree_maml", "b_small"])
def test_traces_keep_the_new_diagnostics_when_k_changes(tmp_path, algorithm):
    from maml_gui.core.trace import load_trace, save_trace
    from maml_gui.core.training import train

    task = {"family": "quadratic", "n_tasks": 3} if algorithm == "tree_maml" else TASK
    config = make_config({"algorithm": algorithm, "task": task, "inner_steps": 2})
    generator = train(config, 3)
    records = [next(generator), generator.send({"inner_steps": 3}), next(generator)]
    for suffix in (".npz", ".json"):
        path = tmp_path / f"trace{suffix}"
        save_trace(path, {"algorithm": algorithm}, records)
        loaded = load_trace(path).records
        for key, value in records[-1].diagnostics.items():
            np.testing.assert_allclose(loaded[-1].diagnostics[key], value, rtol=1e-6)


def test_meta_surface_adapts_with_darts_steps_and_judges_at_t_min():
    """The landscape's meta surface of MetaNAS: F(θ) = meanᵢ Lᵢ(θ's DARTS adaptation) at
    T = t_min; plain gradient descent on the MSE (the generic loop) gives other values."""
    from maml_gui.core.algorithms import make_algorithm, make_model
    from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks
    from maml_gui.core.training import initial_theta

    config = make_config({"algorithm": "metanas", "inner_lr": 0.05, "inner_steps": 3,
                          "metanas_warmup": 0, "device": "cpu",
                          "task": {"family": "sinusoid", "n_tasks": 4, "k_shot": 5,
                                   "k_query": 5, "hidden": [8, 8]}})
    tasks = landscape_tasks(config).to("cpu", torch.float64)
    theta0 = initial_theta(config)
    points = theta0[None] + 0.1 * np.random.default_rng(1).normal(size=(3, theta0.size))
    values = LandscapeEvaluator(config, tasks).values("meta", points)
    model = make_model(config)
    algorithm = make_algorithm("metanas", model, None)
    t_min = config.metanas_temperature[1]
    for point, value in zip(points, values):
        run = algorithm.task_optimise(torch.tensor(point).expand(tasks.n, -1), tasks, config, 3,
                                      frozen=False)
        with torch.no_grad():
            expected = model.loss_at(run.path.final, tasks, "query", t_min).mean()
        assert value == pytest.approx(float(expected), rel=1e-10)
        plain = run_inner_loop(model, tasks, torch.tensor(point).expand(tasks.n, -1).clone(),
                               config.inner_lr, 3, create_graph=False).final
        with torch.no_grad():
            plain_value = float(model.loss_at(plain, tasks, "query", t_min).mean())
        assert abs(plain_value - value) > 1e-6


def test_views_adapt_without_the_operations_the_run_pruned():
    """``follow`` takes the run's pruned operations from a record: the view's prediction then
    leaves them out, as the run's adapted network does."""
    from maml_gui.core.algorithms import make_algorithm, make_model

    config = make_config({"algorithm": "metanas", "inner_steps": 3,
                          "task": {"family": "sinusoid", "hidden": [6, 6], "n_tasks": 2}})
    model = make_model(config)
    algorithm = make_algorithm("metanas", model, None)
    theta = torch.randn(model.param_dim, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    x = torch.linspace(-5, 5, 7, dtype=torch.float64).unsqueeze(0)
    full = algorithm.predict(theta.unsqueeze(0), x, config)
    pruned = np.zeros((2, 4))
    pruned[0, 2] = 1.0  # layer 1's sin
    algorithm.follow({"pruned": pruned})
    without = algorithm.predict(theta.unsqueeze(0), x, config)
    expected = model.predict(theta.unsqueeze(0), x, config.metanas_temperature[1],
                              torch.as_tensor(pruned.astype(bool)))
    assert not torch.allclose(full, without)
    assert torch.allclose(without, expected, rtol=1e-12, atol=1e-12)  # T: 0.05 up to rounding
