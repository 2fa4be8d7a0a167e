"""iTAML: reductions to SGD and to a Reptile step, μₛ, the memory rule, both variants against
hand-computed updates, the paper's inference, checkpoints, and less forgetting than naive
fine-tuning on the blob stream."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from maml_gui.core.algorithms.itaml_stream import (
    class_ranks, infer, memory_counts, memory_mask, per_class_quota, predict_tasks,
    sample_classes, session_mask, task_scores,
)
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.training import MetaTrainer, train

SMALL_BLOBS = {"family": "blobs", "n_tasks": 3, "hidden": [6, 5], "n_points": 8, "n_query": 10}


def _quadratic_stream(n_tasks=2, **overrides):
    config = make_config({
        "algorithm": "itaml", "task": {"family": "quadratic", "dim": 2, "n_tasks": n_tasks,
                                       "condition": 3.0, "eig_max": 1.2},
        "inner_lr": 0.3, "inner_steps": 2, "outer_lr": 1.0, "itaml_session_steps": 1,
        "itaml_batch": None, "itaml_decay": 0.7, "theta0": [1.5, -0.5], **overrides,
    })
    return config, MetaTrainer(config)


def _gd(A, c, phi, lr, steps):
    for _ in range(steps):
        phi = phi - lr * A @ (phi - c)
    return phi


# --- μₛ -----------------------------------------------------------------------------------

def test_mu_follows_its_formula_over_the_sessions():
    config, _ = _quadratic_stream(n_tasks=4, itaml_session_steps=2, itaml_decay=1.3)
    records = list(train(config, 11))
    sessions = [int(r.diagnostics["session"]) for r in records]
    assert sessions == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 3]  # the last session goes on
    for record, s in zip(records, sessions):
        assert float(record.diagnostics["mu"]) == pytest.approx(math.exp(-1.3 * s / 4), abs=1e-15)
    replay = list(train(config.with_changes({"itaml_variant": "replay"}), 4))
    assert all(float(r.diagnostics["mu"]) == 1.0 for r in replay)  # baselines do not interpolate


# --- reductions ---------------------------------------------------------------------------

def _reference_blob_loss(theta, x, y, family, task):
    """The blob MLP written out layer by layer (not the family's batched code)."""
    views, start = {}, 0
    for name, shape in family.layout():
        size = int(np.prod(shape))
        views[name] = theta[start:start + size].reshape(shape)
        start += size
    h = x
    for i in (1, 2, 3):
        if f"W{i}" not in views:
            break
        h = torch.relu(h @ views[f"W{i}"].T + views[f"b{i}"])
    logits = h @ views[f"head{task}.W"].T + views[f"head{task}.b"]
    target = F.one_hot(y, family.classes_per_task).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target)


def test_one_task_is_plain_minibatch_sgd_with_r_steps_per_batch():
    config = make_config({"algorithm": "itaml", "task": SMALL_BLOBS, "inner_lr": 0.4,
                          "inner_steps": 3, "outer_lr": 1.0, "itaml_session_steps": 6,
                          "itaml_batch": 5, "seed": 3})
    trainer = MetaTrainer(config)
    pool, family = trainer.pool, trainer.family
    theta = trainer.theta.clone()
    for _ in range(6):  # session 0: μ₀ = 1, only task 0
        record = trainer.step()
        mask = record.diagnostics["batch_mask"].astype(bool)
        assert mask[1:].sum() == 0 and mask[0].sum() == 5
        x = pool["x_support"][0][torch.as_tensor(mask[0])]
        y = pool["y_support"][0][torch.as_tensor(mask[0])]
        for _ in range(3):
            phi = theta.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(_reference_blob_loss(phi, x, y, family, 0), phi)
            theta = theta - 0.4 * grad
        np.testing.assert_allclose(record.theta_next, theta.numpy(), rtol=0, atol=1e-13)


def test_one_task_with_mu_below_one_is_a_reptile_step():
    # no memory: session 1 trains on task 1 alone, with μ₁ = exp(−0.7/2) < 1
    config, trainer = _quadratic_stream(itaml_memory=0)
    A, c = trainer.pool["A"].numpy(), trainer.pool["c"].numpy()
    first, second = list(train(config, 2))
    assert first.diagnostics["present"].tolist() == [1.0, 0.0]
    assert second.diagnostics["present"].tolist() == [0.0, 1.0]
    mu = math.exp(-0.7 / 2)
    theta = second.theta
    phi = _gd(A[1], c[1], theta, 0.3, 2)
    np.testing.assert_allclose(second.theta_next, theta + mu * (phi - theta), atol=1e-14)
    np.testing.assert_allclose(first.theta_next, _gd(A[0], c[0], first.theta, 0.3, 2),
                               atol=1e-14)


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_both_variants_against_hand_computed_updates(variant):
    config, trainer = _quadratic_stream(n_tasks=3, itaml_variant=variant, itaml_memory=6)
    A, c = trainer.pool["A"].numpy(), trainer.pool["c"].numpy()
    records = list(train(config, 3))
    theta = np.array([1.5, -0.5])
    for s, record in enumerate(records):  # session s: tasks 0 … s all present
        np.testing.assert_allclose(record.theta, theta, atol=1e-13)
        mu = math.exp(-0.7 * s / 3)
        if variant == "paper":
            adapted = np.mean([_gd(A[i], c[i], theta, 0.3, 2) for i in range(s + 1)], axis=0)
        else:  # the released code: the tasks one after another
            adapted = theta
            for i in range(s + 1):
                adapted = _gd(A[i], c[i], adapted, 0.3, 2)
        theta = mu * adapted + (1 - mu) * theta
        np.testing.assert_allclose(record.theta_next, theta, atol=1e-13)
        np.testing.assert_allclose(record.diagnostics["theta_interpolated"], theta, atol=1e-13)
    assert records[2].diagnostics["present"].tolist() == [1.0, 1.0, 1.0]


def test_the_variants_differ_once_two_tasks_are_present():
    thetas = {v: list(train(_quadratic_stream(itaml_variant=v)[0], 2))[1].theta_next
              for v in ("paper", "code", "replay", "naive")}
    assert not np.allclose(thetas["paper"], thetas["code"])
    assert not np.allclose(thetas["paper"], thetas["replay"])
    assert not np.allclose(thetas["replay"], thetas["naive"])


def test_naive_fine_tuning_ignores_the_memory_and_replay_uses_it():
    config, trainer = _quadratic_stream(itaml_memory=6, itaml_variant="naive")
    A, c = trainer.pool["A"].numpy(), trainer.pool["c"].numpy()
    naive = list(train(config, 2))[1]
    assert naive.diagnostics["present"].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(naive.theta_next, _gd(A[1], c[1], naive.theta, 0.3, 2), atol=1e-14)
    replay = list(train(config.with_changes({"itaml_variant": "replay"}), 2))[1]
    joint_A = (A[0] + A[1]) / 2  # both tasks, one exemplar each: the mean loss
    joint_c = np.linalg.solve(joint_A, (A[0] @ c[0] + A[1] @ c[1]) / 2)
    np.testing.assert_allclose(replay.theta_next, _gd(joint_A, joint_c, replay.theta, 0.3, 2),
                               atol=1e-13)


# --- the memory ---------------------------------------------------------------------------

def _blob_stream(**task):
    config = make_config({"algorithm": "itaml", "task": {**SMALL_BLOBS, **task}})
    trainer = MetaTrainer(config)
    return trainer.family, trainer.pool


@pytest.mark.parametrize("memory", [0, 7, 20, 1000])
def test_memory_bound_per_class_counts_and_prefixes(memory):
    family, pool = _blob_stream(n_tasks=4, classes_per_task=3, n_points=9)
    classes = sample_classes(family, pool)
    ranks = class_ranks(classes)
    previous = None
    for s in range(4):
        kept = memory_mask(ranks, memory, s, 3)
        quota = memory // ((s + 1) * 3)
        assert quota == per_class_quota(memory, s, 3)
        assert kept.sum() <= memory
        counts = memory_counts(classes, kept, 12)
        np.testing.assert_array_equal(counts[: 3 * (s + 1)], min(quota, 9))
        assert counts[3 * (s + 1):].sum() == 0
        for task in range(s + 1):  # the kept ones are each class's first, in index order
            for cls in range(3):
                members = np.flatnonzero(classes[task] == task * 3 + cls)
                np.testing.assert_array_equal(kept[task, members],
                                              np.arange(members.size) < quota)
        if previous is not None:  # old classes keep a prefix of what they kept before
            assert not (kept & ~previous).any()
        previous = kept.copy()
        previous[s + 1:] = True  # tasks still to come are not constrained yet


def test_session_data_is_the_new_task_and_the_previous_memory():
    family, pool = _blob_stream()
    ranks = class_ranks(sample_classes(family, pool))
    data = session_mask(ranks, 8, 2, 2)
    assert data[2].all()  # the new task entirely
    np.testing.assert_array_equal(data[:2], memory_mask(ranks, 8, 1, 2)[:2])  # 8/(2·2) = 2
    assert data[:2].sum() == 2 * 2 * 2


def test_the_run_reports_the_memory_it_keeps():
    config = make_config({"algorithm": "itaml", "task": SMALL_BLOBS, "itaml_memory": 12,
                          "itaml_session_steps": 1, "itaml_batch": None})
    counts = [r.diagnostics["memory_counts"] for r in train(config, 3)]
    np.testing.assert_array_equal(counts[0], [6, 6, 0, 0, 0, 0])
    np.testing.assert_array_equal(counts[1], [3, 3, 3, 3, 0, 0])
    np.testing.assert_array_equal(counts[2], [2, 2, 2, 2, 2, 2])
    naive = list(train(config.with_changes({"itaml_variant": "naive"}), 2))
    assert naive[1].diagnostics["memory_counts"].sum() == 0


# --- inference, scores, checkpoints -----------------------------------------------------

def test_task_prediction_sums_the_max_logit_of_each_block():
    family, pool = _blob_stream()
    theta = family.default_theta0(torch.Generator().manual_seed(1))
    scores = predict_tasks(family, theta, pool)
    x = pool["x_query"][1]
    logits = torch.stack([family.logits(theta.unsqueeze(0), x.unsqueeze(0))[0, :, t]
                          for t in range(3)], 1)
    np.testing.assert_allclose(scores[1], logits.amax(-1).sum(0).numpy(), atol=1e-12)
    # a head whose bias dwarfs the others claims every continuum, and only its own task scores
    start = family.blocks()[-1]["start"]  # head2.b
    theta[start:start + 2] += 1e3
    result = infer(family, theta, pool, np.zeros((3, 16), bool), 2, torch.Generator())
    assert result["predicted_task"].tolist() == [2, 2, 2]
    assert result["agnostic_accuracy"][:2].tolist() == [0.0, 0.0]
    assert 0.0 <= result["agnostic_accuracy"][2] <= 1.0


def test_scores_are_accuracies_on_blobs_and_losses_elsewhere():
    family, pool = _blob_stream()
    theta = family.default_theta0(torch.Generator().manual_seed(0))
    accuracy, kind = task_scores(family, theta, pool)
    assert kind == "accuracy" and ((accuracy >= 0) & (accuracy <= 1)).all()
    config, trainer = _quadratic_stream()
    losses, kind = task_scores(trainer.family, trainer.theta, trainer.pool)
    assert kind == "loss"
    np.testing.assert_allclose(losses, trainer.family.loss(trainer.theta.expand(2, -1),
                                                           trainer.pool, "query").numpy())


def test_checkpoint_resumes_the_stream_exactly():
    config = make_config({"algorithm": "itaml", "task": SMALL_BLOBS, "itaml_session_steps": 2,
                          "itaml_batch": 4, "seed": 5})
    straight = MetaTrainer(config)
    for _ in range(3):
        straight.step()
    state = straight.state_dict()
    resumed = MetaTrainer(config)
    resumed.load_state_dict(state)
    for _ in range(3):
        a, b = straight.step(), resumed.step()
        np.testing.assert_array_equal(a.theta_next, b.theta_next)
        np.testing.assert_array_equal(a.diagnostics["batch_mask"], b.diagnostics["batch_mask"])
        np.testing.assert_array_equal(a.diagnostics["score_matrix"], b.diagnostics["score_matrix"])


# --- bad settings -------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"itaml_memory": -1}, "itaml_memory"),
    ({"itaml_decay": float("nan")}, "itaml_decay"),
    ({"itaml_decay": -0.5}, "itaml_decay"),
    ({"itaml_session_steps": 0}, "itaml_session_steps"),
    ({"itaml_batch": 0}, "itaml_batch"),
    ({"itaml_variant": "both"}, "itaml_variant"),
    ({"meta_batch": 1}, "meta_batch"),
    ({"task": {"family": "sinusoid"}}, "algorithm"),
])
def test_bad_itaml_settings_name_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        make_config({"algorithm": "itaml", "task": {"family": "blobs"}, **changes})
    assert info.value.field == field


# --- forgetting ---------------------------------------------------------------------------

FORGETTING = {"inner_lr": 1.0, "outer_lr": 1.0, "itaml_session_steps": 12, "itaml_batch": None,
              "task": {"family": "blobs", "n_tasks": 4, "hidden": [8, 8], "n_points": 20,
                       "n_query": 30, "centre_range": [-2, 2], "spread": 0.5}}


def _forgetting(variant: str, seed: int) -> float:
    """Mean over the old tasks of (accuracy right after its session − accuracy at the end)."""
    trainer = MetaTrainer(make_config({"algorithm": "itaml", "itaml_variant": variant,
                                       "seed": seed, **FORGETTING}))
    after = []
    for _ in range(4):
        for _ in range(12):
            trainer.step()
        after.append(task_scores(trainer.family, trainer.theta, trainer.pool)[0])
    after = np.array(after)
    return float(np.mean([after[t, t] - after[-1, t] for t in range(3)]))


def test_itaml_forgets_less_than_naive_fine_tuning():
    seeds = range(3)
    itaml = np.mean([_forgetting("paper", s) for s in seeds])
    naive = np.mean([_forgetting("naive", s) for s in seeds])
    assert naive - itaml > 0.05, (itaml, naive)


# --- presets ------------------------------------------------------------------------------

def test_softplus_stream_preset_keeps_old_tasks_that_naive_fine_tuning_forgets():
    from maml_gui.presets import load_preset

    config = load_preset("itaml_softplus_stream").config
    optima = np.array(config.task["optima"])
    itaml = list(train(config, config.steps))
    naive = list(train(config.with_changes({"itaml_variant": "naive"}), config.steps))
    np.testing.assert_allclose(naive[-1].theta_next, optima[-1], atol=1e-3)  # the last task's
    theta = itaml[-1].theta_next
    assert np.linalg.norm(theta - optima[-1]) > 0.2  # between the optima, not on the last
    assert itaml[-1].loss_after[:2].mean() < 0.7 * naive[-1].loss_after[:2].mean()


def test_blob_stream_preset_runs_its_sessions_with_the_shrinking_memory():
    from maml_gui.presets import load_preset

    config = load_preset("itaml_blob_stream").config
    assert config.task["family"] == "blobs" and config.itaml_memory == 20
    trainer = MetaTrainer(config.with_changes({"itaml_session_steps": 1}))
    counts = [trainer.step().diagnostics["memory_counts"] for _ in range(5)]
    assert [int(c.max()) for c in counts] == [10, 5, 3, 2, 2]  # ⌊20/((s+1)·2)⌋
