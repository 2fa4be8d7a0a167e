"""Diagnostics that must not claim more than is true: CG residuals, curvature, divergence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms.base import batched_conjugate_gradient
from maml_gui.core.algorithms.imaml import curvature_warning
from maml_gui.core.config import make_config
from maml_gui.core.tasks import QUERY, SUPPORT
from maml_gui.core.trace import TraceWriter, load_trace
from maml_gui.core.training import MetaTrainer, train
from maml_gui.paths import resource_dir

# Finn et al.'s MLP shrunk to 1-8-1 so that dense Hessians are cheap to form independently.
SMALL_MLP = {"family": "sinusoid", "n_tasks": 4, "k_shot": 10, "k_query": 10, "hidden": [8]}


# --- TR-MAML ------------------------------------------------------------------------------

def test_diverging_tr_maml_ends_with_a_diverged_record(tmp_path):
    config = make_config({"algorithm": "tr_maml", "inner_lr": 90.0, "inner_steps": 20,
                          "task": {"family": "quadratic", "eig_max": 1.0}})
    records = list(train(config, 50))  # raised IndexError in project_to_simplex before
    last = records[-1]
    assert last.diverged and len(records) < 50 and not any(r.diverged for r in records[:-1])
    assert "inner learning rate α = 90" in last.reason
    # the weights are not updated from non-finite losses, and stay a distribution
    weights = last.diagnostics["task_weights_next"]
    np.testing.assert_array_equal(weights, last.diagnostics["task_weights"])
    assert np.isfinite(weights).all() and weights.sum() == pytest.approx(1.0)


# --- CG residuals -------------------------------------------------------------------------

def _independent_residuals(config, trainer, result) -> np.ndarray:
    """‖b − Mx‖/‖b‖ per task with dense Hessians in float64, nothing shared with the engine's CG."""
    family, batch = trainer.family, trainer.pool
    batch64 = batch.to(torch.device("cpu"), torch.float64)
    phi = result.paths[:, -1].detach().double()
    x = result.task_grads.detach().double()
    out = []
    for i in range(phi.shape[0]):
        def support(v, i=i):
            rows = phi.clone()
            rows[i] = v
            return family.loss(rows, batch64, SUPPORT)[i]

        def query(v, i=i):
            rows = phi.clone()
            rows[i] = v
            return family.loss(rows, batch64, QUERY)[i]

        b = torch.autograd.functional.jacobian(query, phi[i])
        H = torch.autograd.functional.hessian(support, phi[i])
        M = torch.eye(len(b), dtype=torch.float64) + (H + config.cg_damping * torch.eye(len(b),
                                                       dtype=torch.float64)) / config.imaml_lambda
        out.append(float(torch.linalg.norm(b - M @ x[i]) / torch.linalg.norm(b)))
    return np.array(out)


def _imaml_step(task, dtype, **settings):
    config = make_config({"algorithm": "imaml", "task": task, "dtype": dtype, "device": "cpu",
                          "meta_batch": None, **settings})
    trainer = MetaTrainer(config)
    if trainer.pool is None:  # fresh tasks: freeze one batch as the pool for the check
        trainer.pool = trainer.next_batch()
    result = trainer.algorithm.meta_gradient(trainer.theta, trainer.pool, config)
    return config, trainer, result


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_final_cg_residual_is_the_true_residual_while_cg_is_still_working(dtype):
    config, trainer, result = _imaml_step(SMALL_MLP, dtype, inner_lr=0.01, inner_steps=3,
                                          imaml_lambda=2.0, cg_steps=2, cg_damping=0.1)
    reported = result.diagnostics["cg_residuals"][:, -1]
    assert np.all(reported > 1e-4)  # far from rounding: the two must agree closely
    np.testing.assert_allclose(reported, _independent_residuals(config, trainer, result),
                               rtol=1e-3 if dtype == "float32" else 1e-8)


@pytest.mark.parametrize("dtype, floor", [("float32", 1e-9), ("float64", 1e-18)])
def test_final_cg_residual_is_the_true_residual_at_rounding_level(dtype, floor):
    # Run CG far past convergence: its recursive estimate falls to 1e-30 and below (float64)
    # or past cg_tol = 1e-10 (float32) while ‖b − Mx‖/‖b‖ stays at the rounding floor.
    config, trainer, result = _imaml_step(SMALL_MLP, dtype, inner_lr=0.01, inner_steps=3,
                                          imaml_lambda=2.0, cg_steps=60, cg_damping=0.1,
                                          cg_tol=0.0 if dtype == "float64" else 1e-10)
    reported = result.diagnostics["cg_residuals"][:, -1]
    independent = _independent_residuals(config, trainer, result)
    assert np.all(reported > floor) and np.all(independent > floor)
    # both are rounding noise of the same size, not equal digits: within a factor of 30
    assert np.all(np.abs(np.log10(reported / independent)) < 1.5), (reported, independent)
    if dtype == "float32":  # cg_tol = 1e-10 is out of float32's reach: never reported as met
        assert np.all(reported > 1e-10)


def test_cg_stops_on_the_true_residual_and_counts_every_product():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    matrices = torch.stack([q @ torch.diag(torch.logspace(0, 3, 6, dtype=torch.float64)) @ q.T,
                            torch.eye(6, dtype=torch.float64) * 2])
    rhs = torch.randn(2, 6, dtype=torch.float64)
    calls = []

    def matvec(v):
        calls.append(1)
        return torch.einsum("nij,nj->ni", matrices, v)

    result = batched_conjugate_gradient(matvec, rhs, max_steps=50, tolerance=1e-9)
    true = (rhs - torch.einsum("nij,nj->ni", matrices, result.solution)).norm(dim=-1) / rhs.norm(dim=-1)
    np.testing.assert_allclose(result.residuals[:, -1], true, rtol=1e-6)
    assert torch.all(true <= 1e-9)
    assert result.matvecs == len(calls) > result.iterations
    # the identity row converges in one iteration; its curve stops changing there
    assert result.residuals[1, 1] <= 1e-9 and torch.all(result.residuals[1, 1:] == result.residuals[1, 1])


# --- negative curvature -------------------------------------------------------------------

def test_cg_reports_an_indefinite_system_and_only_that_one():
    eigen = torch.tensor([[3.0, 1.0, -2.0, 0.5], [3.0, 1.0, 2.0, 0.5]], dtype=torch.float64)
    rhs = torch.ones(2, 4, dtype=torch.float64)
    result = batched_conjugate_gradient(lambda v: eigen * v, rhs, max_steps=4, tolerance=0.0)
    curvature = result.min_curvature.numpy()
    assert curvature[0] <= 0
    assert 0.5 <= curvature[1] <= 3.0  # a Rayleigh quotient of the SPD system lies in its spectrum
    text = curvature_warning({"cg_min_curvature": curvature}, {"imaml_lambda": 1.0, "cg_damping": 0})
    assert "not positive definite for 1 of 2 tasks" in text and "task 0" in text
    assert "raise λ or the CG damping" in text
    assert curvature_warning({"cg_min_curvature": curvature[1:]}, {}) is None


def test_imaml_on_the_mlp_reports_negative_curvature_in_the_record_and_trace(tmp_path):
    # The case: λ = 1, α = 0.01, k = 20 on Finn et al.'s MLP; most tasks' I + H/λ has
    # negative eigenvalues, and CG meets pᵀMp ≤ 0 on them within a few iterations.
    config = make_config({"algorithm": "imaml", "imaml_lambda": 1.0, "inner_lr": 0.01,
                          "inner_steps": 20, "cg_steps": 5, "task": {"family": "sinusoid"}})
    record = next(train(config, 1))
    curvature = record.diagnostics["cg_min_curvature"]
    assert curvature.shape == (record.n_tasks,) and np.sum(curvature <= 0) >= record.n_tasks // 2
    assert "not positive definite" in curvature_warning(record.diagnostics, record.hyper)
    # a larger λ makes the same system positive definite, and nothing is reported
    calm = next(train(config.with_changes({"imaml_lambda": 100.0}), 1))
    assert np.all(calm.diagnostics["cg_min_curvature"] > 0)
    assert curvature_warning(calm.diagnostics, calm.hyper) is None
    path = tmp_path / "t.json"
    with TraceWriter(path, config.to_dict()) as writer:
        writer.append(record)
    np.testing.assert_allclose(load_trace(path).records[0].diagnostics["cg_min_curvature"],
                               curvature, rtol=1e-6)


# --- who is blamed for a divergence -------------------------------------------------------

def test_an_outer_step_that_throws_theta_away_is_blamed_not_the_inner_loop():
    # α = 0.1, k = 5, β = 0.05 on the MLP: step 0's meta-gradient (‖g‖ = 174) moves θ by 8.7
    # and the loss at θ jumps ~800-fold; the inner loop then blows up at step 1.
    config = make_config({"algorithm": "maml", "inner_lr": 0.1, "inner_steps": 5,
                          "outer_lr": 0.05, "seed": 7, "task": {"family": "sinusoid"}})
    records = list(train(config, 20))
    last = records[-1]
    assert last.diverged and last.step == 1
    assert last.reason.startswith("outer update diverged: the outer update of step 0")
    assert "moved θ by 8.7" in last.reason and "‖g‖ = 174" in last.reason
    assert "outer learning rate β = 0.05 is too high" in last.reason
    assert "inner learning rate α = 0.1 is too high" not in last.reason


def test_inner_lr_set_live_is_blamed_not_the_outer_learning_rate():
    preset = json.loads((resource_dir("presets") / "article_two_tasks.json").read_text())
    config = make_config({**preset["config"], "algorithm": "fomaml", "inner_steps": 3})
    gen = train(config, 500)
    record = next(gen)
    for _ in range(3):
        record = gen.send(None)
    record = gen.send({"inner_lr": 3.0})
    while not record.diverged:
        record = gen.send(None)
    assert record.step > 10  # a runaway over many steps, not an instant blow-up
    assert record.reason.startswith("inner loop diverged")
    assert "inner learning rate α = 3 is too high" in record.reason
    assert "β" not in record.reason.split(":")[-1]  # the advice is about α only


def test_an_inner_loop_that_blows_up_at_the_first_step_is_blamed():
    config = make_config({"algorithm": "maml", "inner_lr": 2.0, "inner_steps": 35,
                          "task": {"family": "quadratic", "n_tasks": 2, "eig_max": 2.0,
                                   "condition": 4.0}})
    record = next(train(config, 1))
    assert record.diverged and record.step == 0
    assert record.reason.startswith("inner loop diverged (task ")
    assert "inner learning rate α = 2 is too high" in record.reason


def test_high_outer_lr_on_a_plain_bowl_blames_the_outer_update():
    config = make_config({"algorithm": "maml", "inner_lr": 0.1, "outer_lr": 30.0,
                          "task": {"family": "quadratic", "eig_max": 1.0, "condition": 1.0}})
    last = list(train(config, 10_000))[-1]
    assert last.diverged and last.reason.startswith("outer update diverged")
    assert "outer learning rate β = 30 is too high" in last.reason


@pytest.mark.parametrize("value, expected", [
    (1.0, False), (-1e30, False), (1e30, False), (np.nan, True), (np.inf, True),
    (-np.inf, True), (1.5e30, True), (-1.5e30, True),
])
def test_any_bad_sees_one_bad_value_among_many_as_bad_does(value, expected):
    from maml_gui.core.divergence import any_bad, bad

    for dtype in (np.float32, np.float64):
        array = np.linspace(-3, 3, 25 * 6 * 7).reshape(25, 6, 7).astype(dtype)
        array[17, 4, 2] = value
        assert any_bad(None, np.zeros(0), array) is expected
        assert bool(bad(array).any()) is expected
    assert not any_bad(np.ones(3), None, np.zeros((2, 0)))
