"""B-SMALL: reduction to MAML, the KL term, the LRT forward, finite differences, sparsity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maml_gui.core.algorithms import make_algorithm, make_model
from maml_gui.core.algorithms.base import task_rows
from maml_gui.core.config import ConfigError, make_config
from maml_gui.core.tasks.svdo_sinusoid import SVDOSinusoid, kl_approximation, log_rho
from maml_gui.core.training import MetaTrainer

TASK = {"family": "sinusoid", "hidden": [5, 5], "n_tasks": 3, "k_shot": 5, "k_query": 6,
        "fixed_tasks": True}


def _setup(**overrides):
    config = make_config({"algorithm": "b_small", "task": TASK, "dtype": "float64",
                          "device": "cpu", "seed": 4, "inner_lr": 0.05, "inner_steps": 2,
                          **overrides})
    trainer = MetaTrainer(config)
    algorithm = make_algorithm("b_small", trainer.family, trainer.family.pool_size())
    return config, trainer, algorithm


def test_layout_adds_a_log_sigma_block_per_weight_matrix():
    config, trainer, _ = _setup(bsmall_log_sigma0=-6.0)
    model = trainer.family
    names = [b["name"] for b in model.blocks()]
    assert names == ["W1", "b1", "W2", "b2", "W3", "b3", "logσ_W1", "logσ_W2", "logσ_W3"]
    assert model.param_dim == 46 + 5 + 25 + 5  # the plain MLP's 46, then one log σ per weight
    last = model.blocks()[-1]
    assert last["start"] + last["size"] == model.param_dim
    assert (trainer.theta[model.base_dim:] == -6.0).all()
    assert make_config({"algorithm": "b_small", "task": {"family": "sinusoid"}}) \
        and make_model(make_config({"algorithm": "b_small", "task": {"family": "sinusoid"}})).param_dim == 3441


def test_lambda_zero_without_noise_is_maml_on_the_means_and_biases():
    config, trainer, algorithm = _setup(bsmall_lambda=0.0, bsmall_noise=False)
    theta = trainer.theta.clone()
    result = algorithm.meta_gradient(theta, trainer.pool, config)
    base = trainer.family.base_dim
    maml_config = config.with_changes({"algorithm": "maml"})
    maml_trainer = MetaTrainer(maml_config, theta0=theta[:base].numpy())
    maml = make_algorithm("maml", maml_trainer.family, 3).meta_gradient(
        theta[:base].clone(), maml_trainer.pool, maml_config)
    np.testing.assert_allclose(result.paths[..., :base].numpy(), maml.paths.numpy(), atol=1e-13)
    np.testing.assert_allclose(result.task_grads[:, :base].numpy(), maml.task_grads.numpy(),
                               atol=1e-12)
    assert (result.task_grads[:, base:] == 0).all()  # σ does not enter
    np.testing.assert_allclose(result.loss_after.numpy(), maml.loss_after.numpy(), atol=1e-13)
    noisy = _setup(bsmall_lambda=0.0, bsmall_noise=True)
    noisy_result = noisy[2].meta_gradient(theta, noisy[1].pool, noisy[0])
    assert np.abs(noisy_result.task_grads[:, :base].numpy() - maml.task_grads.numpy()).max() > 1e-4


def test_kl_is_decreasing_in_log_rho_and_clamped():
    grid = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    kl = kl_approximation(grid)
    assert (torch.diff(kl) < 0).all()
    mu = torch.tensor([1.0, 1e-6, 0.5], dtype=torch.float64)
    values = log_rho(mu, torch.tensor([-8.0, 5.0, np.log(0.5)], dtype=torch.float64))
    np.testing.assert_allclose(values.numpy(), [-10.0, 10.0, 0.0], atol=1e-6)


def test_masked_forward_drops_exactly_the_weights_above_the_threshold():
    config, trainer, _ = _setup()
    model = trainer.family
    theta = trainer.theta.clone()
    weights = model.split_theta(theta)[0]
    # push every second weight of W2 far above log ρ = 3 (|μ| small, σ large)
    log_sigma = theta[model.base_dim:].clone()
    w1, w2 = weights[0].numel(), weights[1].numel()
    log_sigma[w1:w1 + w2:2] = 4.0
    theta[model.base_dim:] = log_sigma
    kept = theta.clone()
    blocks = model.blocks()
    start = blocks[2]["start"]
    dropped = (model.flat_log_rho(theta) >= 3).numpy()
    assert dropped[w1:w1 + w2].sum() >= w2 // 2
    flat_w2 = kept[start:start + w2].clone()
    flat_w2[torch.as_tensor(dropped[w1:w1 + w2])] = 0.0
    kept[start:start + w2] = flat_w2
    x = torch.linspace(-5, 5, 7, dtype=torch.float64).unsqueeze(0)
    masked = model.forward(theta.unsqueeze(0), x, masked=True)
    np.testing.assert_allclose(masked.numpy(), model.forward(kept.unsqueeze(0), x).numpy(),
                               atol=1e-14)
    assert model.sparsity(theta)[1][1] == pytest.approx(dropped[w1:w1 + w2].mean())


def test_lrt_noise_has_the_local_reparameterisation_variance():
    config, trainer, _ = _setup(bsmall_log_sigma0=-1.0)
    model = trainer.family
    theta = trainer.theta.clone()
    x = torch.tensor([[0.7, -2.0]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([model.forward(theta.unsqueeze(0), x, noise=gen) for _ in range(1000)])
    mean_net = model.forward(theta.unsqueeze(0), x)
    # the output layer's noise alone has variance h²·σ²; the hidden noise adds more
    assert (draws.var(0) > 0).all()
    assert torch.allclose(draws.mean(0), mean_net, atol=0.25)
    again = torch.Generator().manual_seed(0)
    assert torch.equal(draws[0], model.forward(theta.unsqueeze(0), x, noise=again))


def test_meta_gradient_matches_finite_differences_with_noise_and_kl():
    config, trainer, algorithm = _setup(bsmall_lambda=0.01, bsmall_log_sigma0=-2.0)
    pool = trainer.pool
    theta = trainer.theta.clone()

    def objective(t, create_graph=False):  # the same noise draws at every θ
        rows = task_rows(t, pool.n)
        path, query = algorithm.inner_loop(rows, pool, config, torch.Generator().manual_seed(11),
                                           config.inner_steps, create_graph=create_graph)
        return rows, query

    rows, query = objective(theta, create_graph=True)
    (grads,) = torch.autograd.grad(query.sum(), rows)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for _ in range(4):
        v = torch.tensor(rng.normal(size=theta.numel()))
        v /= v.norm()
        numeric = (objective(theta + eps * v)[1] - objective(theta - eps * v)[1]).detach() / (2 * eps)
        np.testing.assert_allclose((grads @ v).numpy(), numeric.numpy(), rtol=1e-5, atol=1e-7)


def test_diagnostics_and_refusals():
    config, trainer, _ = _setup()
    record = trainer.step()
    d = record.diagnostics
    assert d["sparsity_per_layer"].shape == (3,)
    assert 0.0 <= float(d["sparsity"]) <= 1.0
    assert d["kl"].shape == () and float(d["kl"]) > 0
    assert d["masked_loss_after"].shape == (3,)
    with pytest.raises(ConfigError, match="sinusoid"):
        make_config({"algorithm": "b_small", "task": {"family": "quadratic"}})
    with pytest.raises(ConfigError, match="theta0"):
        make_config({"algorithm": "b_small", "task": TASK, "theta0": [0.0] * 46})


@pytest.mark.slow
@pytest.mark.parametrize("lam, steps", [(1e-3, 300), (0.0, 100)])
def test_sparsity_grows_with_lambda_only(lam, steps):
    """Toy calibration (REFERENCE-EXTENSIONS § 2): 1-20-20-1, k = 1, α = 0.01, 10 tasks, Adam 3e-3."""
    config = make_config({
        "algorithm": "b_small", "bsmall_lambda": lam, "inner_steps": 1, "inner_lr": 0.01,
        "outer_optimizer": "adam", "outer_lr": 3e-3, "seed": 0,
        "task": {"family": "sinusoid", "hidden": [20, 20], "n_tasks": 10},
    })
    trainer = MetaTrainer(config)
    for _ in range(steps):
        record = trainer.step()
    sparsity = float(record.diagnostics["sparsity"])
    if lam > 0:
        assert sparsity > 0.5
        full, masked = record.meta_loss_after, float(record.diagnostics["masked_loss_after"].mean())
        assert abs(masked - full) / full < 0.01
    else:
        assert sparsity < 0.05


def test_first_step_does_not_import_the_compiler():
    """abs's double backward imports torch._dynamo (10 s on the window's first meta-step)."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from maml_gui.core.config import make_config\n"
            "from maml_gui.core.training import MetaTrainer\n"
            "config = make_config({'algorithm': 'b_small', 'task': {'family': 'sinusoid', "
            "'hidden': [5, 5], 'n_tasks': 3}})\n"
            "MetaTrainer(config).step()\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "False", out.stderr


def test_fine_tuning_is_the_inner_loop_of_the_meta_step_and_the_replay_uses_it():
    """``fine_tune`` (what the function view and the divergence replay run) takes the very
    steps of a meta-step's inner loop: data + λ·KL on every parameter, log σ included."""
    config, trainer, algorithm = _setup(bsmall_lambda=0.05, bsmall_noise=False,
                                        bsmall_log_sigma0=-2.0)
    pool = trainer.pool
    theta = trainer.theta.clone()
    result = algorithm.meta_gradient(theta, pool, config)
    path = algorithm.fine_tune(theta, pool, config, config.inner_steps)
    np.testing.assert_allclose(path.points.numpy(), result.paths.numpy(), rtol=0, atol=1e-12)
    base = SVDOSinusoid(trainer.family.params, -2.0).base_dim
    assert not torch.allclose(path.points[:, -1, base:], theta[base:])  # log σ adapts too
    replay = trainer._replay(theta.numpy(), pool)  # Algorithm.adapt: the same steps
    np.testing.assert_allclose(replay, path.losses.numpy(), atol=1e-12)
    # with the noise on, a view's adaptation is seeded: the same picture every time
    noisy = config.with_changes({"bsmall_noise": True})
    first = algorithm.fine_tune(theta, pool, noisy, 2).points
    assert torch.equal(first, algorithm.fine_tune(theta, pool, noisy, 2).points)
    assert not torch.equal(first, path.points)
