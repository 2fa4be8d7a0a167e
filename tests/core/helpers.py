"""Small builders shared by the core tests."""

from __future__ import annotations

import numpy as np
import torch

from maml_gui.core.algorithms import make_algorithm
from maml_gui.core.config import make_config
from maml_gui.core.tasks import make_family
from maml_gui.core.training import MetaTrainer


def quadratic_setup(dim: int, n_tasks: int = 4, seed: int = 0, condition: float = 4.0, **overrides):
    """A trainer on random quadratic tasks in float64, plus A, c and a random θ as numpy."""
    config = make_config({
        "task": {"family": "quadratic", "dim": dim, "n_tasks": n_tasks, "condition": condition,
                 "eig_max": 1.5},
        "seed": seed, "dtype": "float64", "device": "cpu", **overrides,
    })
    trainer = MetaTrainer(config)
    A = trainer.pool["A"].numpy()
    c = trainer.pool["c"].numpy()
    theta = np.random.default_rng(seed + 100).normal(size=dim) * 2.0
    return config, trainer, A, c, theta


def meta_gradient(config, trainer, theta):
    algorithm = make_algorithm(config.algorithm, trainer.family, trainer.family.pool_size())
    return algorithm.meta_gradient(torch.tensor(theta), trainer.pool, config)


def family_and_pool(config):
    family = make_family(config.task)
    trainer = MetaTrainer(config)
    return family, trainer.pool


# B-SMALL and MetaNAS are built on the sinusoid MLP; a small one keeps tests fast.
SMALL_SINE = {"family": "sinusoid", "hidden": [5, 5], "n_tasks": 3}
SMALL_ROBOT = {"family": "point_robot", "n_tasks": 3, "rollouts": 4, "horizon": 5}


def algorithm_config(algorithm: str, **settings):
    """A config of ``algorithm`` on the default task family, or a small sinusoid where needed."""
    task = SMALL_SINE if algorithm in ("b_small", "metanas") else {}
    if algorithm == "norml":  # meta-RL: its own family, one inner step
        task, settings = SMALL_ROBOT, {**settings, "inner_steps": 1}
    return make_config({"algorithm": algorithm, "task": task, **settings})
