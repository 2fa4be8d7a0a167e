"""Function space: fine-tuning on given points is the engine's inner loop; MSE tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.function_space import (
    dense_grid, few_shot_comparison, few_shot_tasks, fine_tune, fine_tune_batch, mse,
    points_batch, pretrain_config, train_model, train_pretrained, true_values,
)
from maml_gui.core.tasks import make_family
from maml_gui.core.training import MetaTrainer, initial_theta


def softplus_config(**overrides):
    return make_config({"inner_lr": 0.3, "inner_steps": 4, "device": "cpu", **overrides})


def small_sinusoid_config(**overrides):
    task = {"family": "sinusoid", "n_tasks": 4, "k_shot": 5, "k_query": 6, "hidden": [8, 8],
            **overrides.pop("task", {})}
    return make_config({"inner_lr": 0.01, "inner_steps": 2, "outer_optimizer": "adam",
                        "outer_lr": 0.01, "device": "cpu", "task": task, **overrides})


@pytest.mark.parametrize("make", [softplus_config, small_sinusoid_config])
def test_fine_tuning_lowers_the_support_loss(make):
    config = make()
    family = make_family(config.task)
    theta = initial_theta(config)
    x = np.linspace(*family.input_range(), 6)
    tasks = few_shot_tasks(config, 1, 6, 4, seed=3)
    y = true_values(family, tasks, x)[0]
    result = fine_tune(family, theta, x, y, inner_lr=config.inner_lr, steps=8)
    assert result.predictions.shape == (9, len(dense_grid(family)))
    assert np.all(np.diff(result.support_loss) < 0)
    np.testing.assert_allclose(result.predictions[0],
                               family.predict(torch.tensor(theta)[None], torch.tensor(result.x)[None])
                               .numpy()[0])


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_fine_tuning_follows_the_engines_inner_loop_softplus(algorithm):
    config = softplus_config(algorithm=algorithm, dtype="float64")
    trainer = MetaTrainer(config)
    record = trainer.step()
    pool = trainer.pool
    result = fine_tune_batch(trainer.family, record.theta, pool["x_support"].numpy(),
                             pool["y_support"].numpy(), config.inner_lr, config.inner_steps)
    # the same operations in the same order: bit for bit the path of the meta-step
    np.testing.assert_array_equal(result.paths, record.paths)
    np.testing.assert_array_equal(result.support_loss, record.inner_losses)


def test_fine_tuning_follows_the_engines_inner_loop_sinusoid_float32():
    config = small_sinusoid_config(task={"fixed_tasks": True})
    trainer = MetaTrainer(config)
    trainer.step()
    record = trainer.step()  # a θ that has moved once
    batch = trainer.pool.select(np.array(record.task_ids))
    result = fine_tune_batch(trainer.family, record.theta, batch["x_support"].numpy(),
                             batch["y_support"].numpy(), config.inner_lr, config.inner_steps,
                             x_query=batch["x_query"].numpy(), y_query=batch["y_query"].numpy(),
                             dtype=torch.float32)
    np.testing.assert_allclose(result.paths, record.paths, rtol=1e-6, atol=1e-7)
    # the sinusoid loss is the MSE, so the query MSE after k steps is the engine's loss_after
    np.testing.assert_allclose(result.query_mse[:, -1], record.loss_after, rtol=1e-5)
    np.testing.assert_allclose(result.query_mse[:, 0], record.loss_before, rtol=1e-5)


def test_query_mse_by_hand():
    family = make_family(softplus_config().task)
    result = fine_tune(family, np.zeros(2), [0.5], [1.0], inner_lr=0.1, steps=0,
                       x_query=np.array([0.0, 1.0]), y_query=np.array([0.0, 1.0]))
    ln2 = math.log(2.0)  # softplus(0·x + 0) = ln 2 everywhere
    assert result.query_mse[0] == pytest.approx((ln2**2 + (ln2 - 1.0) ** 2) / 2, rel=1e-14)
    # one step by hand: L = ½(softplus(a·x + b) − y)², at θ = 0 with x = 0.5, y = 1
    step = fine_tune(family, np.zeros(2), [0.5], [1.0], inner_lr=0.1, steps=1)
    r, sigma = ln2 - 1.0, 0.5
    np.testing.assert_allclose(step.paths[1], [-0.1 * r * sigma * 0.5, -0.1 * r * sigma],
                               rtol=1e-14)
    batch = points_batch([0.0], [0.0], x_query=[[0.0, 2.0]], y_query=[[1.0, 1.0]])
    value = mse(family, torch.zeros(1, 2, dtype=torch.float64), batch["x_query"], batch["y_query"])
    assert float(value[0]) == pytest.approx((ln2 - 1.0) ** 2, rel=1e-14)


def test_no_support_points_means_no_adaptation():
    config = small_sinusoid_config()
    family = make_family(config.task)
    result = fine_tune(family, initial_theta(config), [], [], inner_lr=0.01, steps=3)
    assert result.predictions.shape[0] == 4
    np.testing.assert_array_equal(result.predictions[3], result.predictions[0])
    assert np.all(np.isnan(result.support_loss))


def test_few_shot_comparison_table():
    config = small_sinusoid_config()
    meta = initial_theta(config)
    erm = meta + 0.05
    table = few_shot_comparison(meta, erm, config, k_shot=5, steps=(0, 1, 3), n_tasks=12, seed=4,
                                n_query=20)
    assert table.steps == (0, 1, 3)
    assert table.models == ("meta-learned", "pretrained (ERM)")
    for name in table.models:
        assert table.mean[name].shape == (3,)
        assert table.per_task[name].shape == (12, 3)
        assert np.all(np.isfinite(table.mean[name])) and np.all(table.sem[name] >= 0)
        np.testing.assert_array_equal(table.median[name], np.median(table.per_task[name], axis=0))
        np.testing.assert_array_equal(table.blown_up[name], 0)
    # step 0 is the plain MSE of θ on the test tasks' query points
    family = make_family(config.task)
    tasks = few_shot_tasks(config, 12, 5, 20, seed=4)
    direct = mse(family, torch.tensor(meta)[None].expand(12, -1), tasks["x_query"], tasks["y_query"])
    assert table.value("meta-learned", 0) == pytest.approx(float(direct.mean()), rel=1e-12)
    again = few_shot_comparison(meta, erm, config, k_shot=5, steps=(0, 1, 3), n_tasks=12, seed=4,
                                n_query=20)
    np.testing.assert_array_equal(again.mean["pretrained (ERM)"], table.mean["pretrained (ERM)"])
    assert "pretrained (ERM): median" in table.as_text()


def test_few_shot_comparison_counts_diverged_fine_tuning():
    config = small_sinusoid_config()
    table = few_shot_comparison(initial_theta(config), None, config, k_shot=5, steps=(0, 8),
                                n_tasks=6, seed=0, n_query=10, inner_lr=50.0)  # far too large
    assert table.models == ("meta-learned",)
    assert table.blown_up["meta-learned"][0] == 0 and table.blown_up["meta-learned"][1] == 6
    assert "diverged tasks" in table.as_text()


def test_few_shot_tasks_cycle_the_softplus_pool():
    config = softplus_config()
    tasks = few_shot_tasks(config, 5, 3, 7, seed=1)
    assert tasks["x_support"].shape == (5, 3) and tasks["x_query"].shape == (5, 7)
    np.testing.assert_allclose(tasks["optima"].numpy(), np.array(config.task["optima"])[[0, 1, 0, 1, 0]])
    low, high = make_family(config.task).input_range()
    assert tasks["x_query"].min() >= low and tasks["x_query"].max() <= high


def test_families_without_data_are_refused():
    config = make_config({"task": {"family": "rbf"}})
    with pytest.raises(ConfigError, match="no data"):
        few_shot_tasks(config, 2, 3, 3, seed=0)


def test_pretrained_model_is_the_engines_pretrain_run():
    config = small_sinusoid_config()
    seen = []
    theta = train_pretrained(config, 3, progress=lambda done, total, record: seen.append(done))
    assert seen == [1, 2, 3]
    trainer = MetaTrainer(pretrain_config(config))
    for _ in range(3):
        record = trainer.step()
    assert record.algorithm == "pretrain"
    np.testing.assert_array_equal(theta, trainer.theta.double().numpy())
    assert train_model(config, 5, should_stop=lambda: True) is None
