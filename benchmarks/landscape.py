"""Time to compute the ``meta`` surface: the landscape engine against simpler ways, one run.

Workloads (one torch thread):
- softplus, 10 tasks × 10 points, k = 5, at 128² and 256²: a per-grid-point loop (autograd
  inner loop over the tasks at one θ at a time: timed on a slice of the grid and scaled),
  the straightforward vectorised surface (all points × tasks × data in float32 tensors, in
  chunks), and the engine's fused path in float32 (what the canvas uses live) and float64
  (what `maml-gui landscape` writes).
- the sinusoid MLP 1-40-40-1 on a random plane at 64², 10 tasks, K = 10, k = 1.

    python benchmarks/landscape.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from maml_gui.core.config import make_config
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks, random_plane
from maml_gui.core.tasks import QUERY, SUPPORT
from maml_gui.core.training import MetaTrainer

SOFTPLUS = {"task": {"family": "softplus", "optima": None, "n_tasks": 10, "n_points": 10},
            "inner_steps": 5, "inner_lr": 0.3}
MLP = {"task": {"family": "sinusoid", "n_tasks": 10, "k_shot": 10, "k_query": 10},
       "inner_steps": 1, "inner_lr": 0.01}


def median_time(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def per_point_loop(evaluator: LandscapeEvaluator, points: np.ndarray) -> np.ndarray:
    """The reference: the engine's inner loop (autograd, tasks batched) at one θ at a time."""
    family, tasks, config = evaluator.family, evaluator.tasks, evaluator.config
    values = []
    for point in points:
        phi = torch.as_tensor(point, dtype=evaluator.dtype).expand(tasks.n, -1)
        for _ in range(config.inner_steps):
            leaf = phi.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(family.loss(leaf, tasks, SUPPORT).sum(), leaf)
            phi = leaf.detach() - config.inner_lr * grad
        values.append(float(family.loss(phi, tasks, QUERY).mean()))
    return np.array(values)


def grid_points(resolution: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    axis = np.linspace(low, high, resolution)
    u, v = np.meshgrid(axis, axis)
    return np.stack([u.ravel(), v.ravel()], -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--loop-points", type=int, default=1024,
                        help="grid points the per-point loop is timed on (then scaled)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = make_config(SOFTPLUS)
    tasks = landscape_tasks(config)
    fast32 = LandscapeEvaluator(config, tasks, dtype=torch.float32)
    fast64 = LandscapeEvaluator(config, tasks, dtype=torch.float64)
    loop_sample = grid_points(64)[: args.loop_points]
    per_point = median_time(lambda: per_point_loop(fast32, loop_sample), 3) / len(loop_sample)
    print(f"torch {torch.__version__}, 1 thread; median of {args.repeats} runs")
    print("\nsoftplus meta surface, 10 tasks × 10 points, k = 5 (ms)")
    header = (f"{'grid':>6} {'per-point loop*':>16} {'vectorised f32':>15} {'engine f32':>11} "
              f"{'engine f64':>11} {'vs loop':>8} {'vs vectorised':>14}")
    print(header)
    for resolution in (128, 256):
        points = torch.as_tensor(grid_points(resolution, 0.0, 1.0), dtype=torch.float32)
        loop = per_point * resolution**2
        plain = median_time(lambda: fast32._generic("meta", None, points, None, None), args.repeats)
        ours = median_time(lambda: fast32.grid("meta", (0, 1), (0, 1), resolution), args.repeats)
        ours64 = median_time(lambda: fast64.grid("meta", (0, 1), (0, 1), resolution), args.repeats)
        print(f"{resolution:>5}² {1e3 * loop:>16.0f} {1e3 * plain:>15.1f} {1e3 * ours:>11.1f} "
              f"{1e3 * ours64:>11.1f} {loop / ours:>7.0f}× {plain / ours:>13.1f}×")
    print(f"* timed on {len(loop_sample)} grid points ({1e6 * per_point:.0f} µs each) and scaled")

    mlp_config = make_config(MLP)
    trainer = MetaTrainer(mlp_config)
    mlp = LandscapeEvaluator(mlp_config, landscape_tasks(mlp_config), dtype=torch.float32)
    plane = random_plane(trainer.family, trainer.theta.double().numpy(), seed=0)
    sample = plane.points(*grid_points(64).T[:, :256])
    mlp_per_point = median_time(lambda: per_point_loop(mlp, sample), 1) / len(sample)
    print("\nsinusoid MLP 1-40-40-1, random plane 64², 10 tasks, K = 10, k = 1 (s)")
    print(f"{'surface':>8} {'per-point loop*':>16} {'engine f32':>11} {'vs loop':>8}")
    for name in ("meta", "mean"):
        ours = median_time(lambda: mlp.grid(name, (-1, 1), (-1, 1), 64, plane=plane),
                           max(3, args.repeats // 3))
        if name == "meta":
            loop = mlp_per_point * 64**2
            print(f"{name:>8} {loop:>16.2f} {ours:>11.2f} {loop / ours:>7.1f}×")
        else:
            print(f"{name:>8} {'—':>16} {ours:>11.2f} {'—':>8}")
    print(f"* timed on {len(sample)} plane points and scaled")


if __name__ == "__main__":
    main()
