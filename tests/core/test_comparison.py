"""Comparison variants share the problem exactly; the cosine-to-MAML metric is right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.comparison import build_variants, parse_overrides, steps_to_target
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.training import MetaTrainer, train

QUADRATIC = {"task": {"family": "quadratic", "n_tasks": 4, "eig_max": 1.5, "condition": 3.0},
             "inner_lr": 0.3, "inner_steps": 2, "meta_batch": 2, "seed": 5}


def test_variants_share_theta0_and_the_task_stream_exactly():
    base = make_config(QUADRATIC)
    variants = build_variants(base, [("maml", {}), ("fomaml", {}), ("reptile", {"inner_lr": 0.1}),
                                     ("imaml", {"imaml_lambda": 2.0})])
    trainers = [MetaTrainer(v.config) for v in variants]
    for trainer in trainers[1:]:
        assert torch.equal(trainer.theta, trainers[0].theta)
        assert torch.equal(trainer.pool["A"], trainers[0].pool["A"])
        assert torch.equal(trainer.pool["c"], trainers[0].pool["c"])
    for _ in range(5):  # the same meta-batches, step after step (same ids, same tensors)
        batches = [t.next_batch() for t in trainers]
        for batch in batches[1:]:
            assert np.array_equal(batch.ids, batches[0].ids)
            assert torch.equal(batch["A"], batches[0]["A"])


def test_a_variant_cannot_change_the_problem():
    base = make_config(QUADRATIC)
    for bad in ({"seed": 1}, {"meta_batch": 3}, {"task.n_tasks": 3}, {"theta0": [0, 0]}):
        with pytest.raises(ConfigError, match="must be the same for every variant"):
            build_variants(base, [("maml", {}), ("fomaml", bad)])
    with pytest.raises(ConfigError, match="2 to 6"):
        build_variants(base, [("maml", {})])
    with pytest.raises(ConfigError, match="identical"):
        build_variants(base, [("maml", {}), ("maml", {})])
    with pytest.raises(ConfigError, match="variant 2: inner_lr"):
        build_variants(base, [("maml", {}), ("maml", {"inner_lr": -1})])


def test_overrides_text():
    assert parse_overrides("inner_lr=0.05, inner_steps=3; outer_optimizer=adam") == {
        "inner_lr": 0.05, "inner_steps": 3, "outer_optimizer": "adam"}
    assert parse_overrides("  ") == {}


def test_cosine_to_maml_is_one_for_maml_and_matches_the_closed_form_for_fomaml():
    config = make_config({**QUADRATIC, "meta_batch": None})
    maml = next(train(config, 1, compare_to_maml=True))
    assert float(maml.diagnostics["maml_cosine"]) == pytest.approx(1.0, abs=1e-12)
    fomaml = next(train(config.with_changes({"algorithm": "fomaml"}), 1, compare_to_maml=True))
    trainer = MetaTrainer(config)
    A, c = trainer.pool["A"].numpy(), trainer.pool["c"].numpy()
    theta = trainer.theta.numpy()
    B = [np.linalg.matrix_power(np.eye(2) - 0.3 * a, 2) for a in A]
    g_maml = np.mean([b @ a @ b @ (theta - ci) for a, b, ci in zip(A, B, c)], axis=0)
    g_fo = np.mean([a @ b @ (theta - ci) for a, b, ci in zip(A, B, c)], axis=0)
    expected = g_maml @ g_fo / (np.linalg.norm(g_maml) * np.linalg.norm(g_fo))
    assert float(fomaml.diagnostics["maml_cosine"]) == pytest.approx(expected, abs=1e-12)
    assert expected < 0.9999  # a real difference on these curved tasks


def test_steps_to_target():
    assert steps_to_target([3.0, 2.0, 0.5, 0.4], [0, 1, 2, 3], 0.6) == 3
    assert steps_to_target([3.0, float("nan")], [0, 1], 1.0) is None


def test_labels_take_names_and_symbols_from_the_field_table_and_the_registry():
    from maml_gui.core.algorithms import ALGORITHMS, algorithm_label
    from maml_gui.core.comparison import VARIANT_KEYS, variant_label
    from maml_gui.core.config import FIELD_BY_NAME

    assert variant_label("imaml", {"cg_steps": 3, "inner_lr": 0.05}) == "iMAML (m=3, α=0.05)"
    assert variant_label("pretrain", {}) == "Pretraining" == ALGORITHMS["pretrain"].short_label
    assert algorithm_label("tr_maml") == ALGORITHMS["tr_maml"].label == "TR-MAML"
    assert FIELD_BY_NAME["cg_steps"].short == "m" and FIELD_BY_NAME["tr_lr"].short == "η_p"
    assert all(FIELD_BY_NAME[key].short for key in VARIANT_KEYS - {"algorithm"})  # name if no symbol
