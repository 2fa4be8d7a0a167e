"""Each preset does what its description promises, run headless with few steps.

A preset is a promise to a student ("it diverges", "TR-MAML protects the outlier", ...): these
tests run the engine on the preset's own config and check the claim, not only that it loads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.comparison import build_variants
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks
from maml_gui.core.training import train
from maml_gui.presets import load_preset, preset_names


def run(config, steps: int, **kwargs):
    return list(train(config, steps, **kwargs))


def grid_minimum(config, surface: str, resolution: int = 41, **kwargs) -> np.ndarray:
    evaluator = LandscapeEvaluator(config, landscape_tasks(config), dtype=torch.float64)
    grid = evaluator.grid(surface, (0.0, 1.0), (0.0, 1.0), resolution, **kwargs)
    row, col = np.unravel_index(np.argmin(grid.z), grid.z.shape)
    return np.array([grid.x[col], grid.y[row]])


def test_the_menu_lists_the_articles_figures_in_order_then_ours():
    titles = [load_preset(name).title for name in preset_names()]
    articles = [t for t in titles if t.startswith("Article ")]
    assert titles[:len(articles)] == articles
    assert [int(t.split()[1]) for t in articles] == list(range(1, len(articles) + 1))
    ours = titles[len(articles):]
    assert ours == sorted(ours, key=str.casefold) and ours


def test_article_two_tasks_meta_learns_from_the_listed_optima():
    """Two tasks with optima (0.3, 0.05) and (0.83, 0.75); MAML moves θ to a better start."""
    config = load_preset("article_two_tasks").config
    np.testing.assert_allclose(config.task["optima"], [[0.3, 0.05], [0.83, 0.75]])
    records = run(config, 60)
    assert records[0].n_tasks == 2 and records[0].inner_steps == 1
    assert records[-1].meta_loss_after < 0.6 * records[0].meta_loss_after
    # θ ends between the two optima, not on either: a start that adapts to both
    theta = records[-1].theta_next
    assert 0.3 < theta[0] < 0.83 and 0.05 < theta[1] < 0.75


def test_article_meta_loss_k_minimum_moves_away_from_the_mean_loss_and_with_k():
    config = load_preset("article_meta_loss_k").config
    meta = grid_minimum(config, "meta")
    mean = grid_minimum(config, "mean")
    assert np.linalg.norm(meta - mean) > 0.2
    one_step = grid_minimum(config.with_changes({"inner_steps": 1}), "meta")
    assert np.linalg.norm(one_step - meta) > 0.1  # "change k ... and watch the minimum move"


def test_article_curvature_fomaml_differs_and_large_alpha_diverges():
    config = load_preset("article_curvature").config
    lam_max = max(np.linalg.eigvalsh(np.array(a)).max() for a in config.task["A"])

    def gap(alpha: float) -> float:
        records = [run(config.with_changes({"algorithm": name, "inner_lr": alpha}), 1)[0]
                   for name in ("maml", "fomaml")]
        maml, fomaml = (r.meta_grad for r in records)
        return float(np.linalg.norm(maml - fomaml) / np.linalg.norm(maml))

    assert gap(config.inner_lr) > 0.1  # the arrows differ at the preset's α
    assert gap(0.5) > gap(0.1)  # and more with more curvature seen by the inner step
    # "past α·λmax = 2 the inner loop diverges": task 0's support loss grows every inner step
    over = run(config.with_changes({"inner_lr": 2.2 / lam_max}), 1)[0].inner_losses[0]
    assert np.all(np.diff(over) > 0)
    under = run(config, 1)[0].inner_losses[0]
    assert np.all(np.diff(under) < 0)


def test_article_reptile_moves_a_fraction_epsilon_towards_the_mean_adapted_point():
    config = load_preset("article_reptile").config
    record = run(config, 1)[0]
    assert record.n_tasks == 2  # all tasks at once
    target = record.paths[:, -1].mean(axis=0)
    expected = record.theta + config.outer_lr * (target - record.theta)
    np.testing.assert_allclose(record.theta_next, expected, rtol=1e-10, atol=1e-12)


def test_article_imaml_rbf_lambda_pulls_the_inner_minimum_towards_theta():
    config = load_preset("article_imaml_rbf").config
    theta = np.array(config.theta0)
    distances = [np.linalg.norm(grid_minimum(config.with_changes({"imaml_lambda": lam}),
                                             "imaml:0", anchor=theta) - theta)
                 for lam in (0.5, 2.0, 10.0)]
    assert distances[0] > distances[1] > distances[2]
    residuals = run(config, 1)[0].diagnostics["cg_residuals"]  # what the trace view plots
    assert residuals.shape[1] >= 2 and np.all(residuals[:, -1] < residuals[:, 0])


def test_article_four_methods_differ():
    config = load_preset("article_four_methods").config
    specs = [(name, {}) for name in ("maml", "fomaml", "reptile", "imaml")]
    finals, cosines = [], []
    for variant in build_variants(config, specs):
        records = run(variant.config, 20, compare_to_maml=True)
        finals.append(records[-1].theta_next)
        cosines.append(records[0].diagnostics["maml_cosine"])
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.linalg.norm(finals[i] - finals[j]) > 0.05, (specs[i][0], specs[j][0])
    assert cosines[0] == pytest.approx(1.0)
    assert all(c < 0.95 for c in cosines[1:])  # "how closely its meta-gradient follows MAML's"


def test_tr_maml_protects_the_outlier():
    config = load_preset("tr_maml_worst_task").config
    steps = 100
    maml = run(config.with_changes({"algorithm": "maml"}), steps)[-1]
    tr = run(config, steps)[-1]
    assert tr.worst_loss_after < 0.8 * maml.worst_loss_after
    assert int(np.argmax(maml.loss_after)) == 3  # the far task is MAML's worst
    weights = tr.diagnostics["task_weights"]
    assert weights[3] > 1.5 / len(weights)  # its weight climbed well above uniform


def test_imaml_cg_damping_few_cg_steps_are_inexact():
    config = load_preset("imaml_cg_damping").config
    few = run(config, 1)[0].diagnostics["cg_residuals"][:, -1]
    many = run(config.with_changes({"cg_steps": 20}), 1)[0].diagnostics["cg_residuals"][:, -1]
    assert few.min() > 1e-3  # inexact with the preset's 3 steps
    assert many.max() < 1e-3 * few.min()


def test_inner_lr_too_high_diverges_within_a_few_steps():
    config = load_preset("inner_lr_too_high").config
    records = run(config, 10)
    assert records[-1].diverged
    assert "inner" in records[-1].reason and "α" in records[-1].reason


@pytest.mark.slow
def test_sinusoid_few_shot_gap_appears():
    """After a short meta-training, the meta-learned model fine-tunes better on 10 points than
    the pretrained (ERM) one trained as long: the article's few-shot gap."""
    from maml_gui.core.function_space import few_shot_comparison, train_model, train_pretrained

    config = load_preset("sinusoid_few_shot").config
    meta = train_model(config, 200)
    erm = train_pretrained(config, 200)
    table = few_shot_comparison(meta, erm, config, k_shot=10, steps=(0, 10), n_tasks=100, seed=1)
    meta_gain = table.value("meta-learned", 0) - table.value("meta-learned", 10)
    erm_gain = table.value("pretrained (ERM)", 0) - table.value("pretrained (ERM)", 10)
    assert meta_gain > 2 * erm_gain > 0
    gap = table.per_task["pretrained (ERM)"][:, 1] - table.per_task["meta-learned"][:, 1]
    assert np.median(gap) > 0 and table.value("meta-learned", 10) < table.value(
        "pretrained (ERM)", 10)
