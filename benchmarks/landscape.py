"""Time to compute the ``meta`` surface: the landscape engine against simpler ways, one run.

Workloads (one torch thread):
- softplus, 10 tasks × 10 points, k = 5, at 128² and 256²: a per-grid-point loop (autograd
  inner loop over the tasks at one θ at a time: timed on a slice of the grid and scaled),
  the straightforward vectorised surface (all points × tasks × data in float32 tensors, in
  chunks), and the engine's fused path in float32 (what the canvas uses live) and float64
  (what `maml-gui landscape` writes).
- the sinusoid MLP 1-40-40-1 on a random plane, 10 tasks, K = 10, k = 1, float32 (what the
  canvas computes live): the coarse 16² and the full 64² surface against today's path (the
  generic inner loop, ``fast=False``), wall-clock and CPU time, with ratios measured in this
  run; the time from a request to each surface through the landscape serve loop; and the
  ``mean`` 64² surface (no adaptation) against today's path.

    python benchmarks/landscape.py [--repeats 9] [--mlp-only]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import threading
import time

import numpy as np
import torch

from maml_gui.core.config import config_json, make_config
from maml_gui.core.landscape import (
    PLANE_GRID, PLANE_GRID_COARSE, LandscapeEvaluator, landscape_tasks, random_plane,
)
from maml_gui.core.tasks import QUERY, SUPPORT
from maml_gui.core.training import MetaTrainer
from maml_gui.runtime.landscape_process import serve

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
    parser.add_argument("--mlp-only", action="store_true", help="only the MLP's table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mlp_only:
        mlp_section(args.repeats)
        return
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

    mlp_section(args.repeats)


def timed(function, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU (this process) seconds of ``function``."""
    function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def through_the_worker(request: dict, repeats: int) -> tuple[float, float]:
    """Median seconds from a request to its coarse and to its full surface, through the
    landscape serve loop (in a thread here; the window runs the same loop in a process)."""
    commands, results = queue.Queue(), queue.Queue()
    loop = threading.Thread(target=serve, args=(commands, results), daemon=True)
    loop.start()
    coarse, full = [], []
    for generation in range(repeats + 1):
        started = time.perf_counter()
        commands.put(("request", {**request, "generation": generation}))
        arrived = []
        while len(arrived) < len(request["resolutions"]):
            message = results.get()
            if message[0] == "surface":
                arrived.append(time.perf_counter() - started)
            elif message[0] == "failed":
                raise RuntimeError(message[2])
        if generation:  # the first one warms up
            coarse.append(arrived[0])
            full.append(arrived[-1])
    commands.put(("stop",))
    loop.join()
    return statistics.median(coarse), statistics.median(full)


def mlp_section(repeats: int) -> None:
    """The MLP's live surface: a coarse 16² grid, then the full 64² one, against today's path
    (every grid point × task a copy of the 1,761 parameters through the generic inner loop)."""
    mlp_config = make_config(MLP)
    trainer = MetaTrainer(mlp_config)
    tasks = landscape_tasks(mlp_config)
    mlp = LandscapeEvaluator(mlp_config, tasks, dtype=torch.float32)
    plane = random_plane(trainer.family, trainer.theta.double().numpy(), seed=0)
    sample = plane.points(*grid_points(64).T[:, :256])
    mlp_per_point = median_time(lambda: per_point_loop(mlp, sample), 1) / len(sample)
    repeats = max(3, repeats // 3)
    print(f"\nsinusoid MLP 1-40-40-1, random plane, 10 tasks, K = 10, k = 1, float32 "
          f"(median of {repeats}; load average before: {os.getloadavg()[0]:.1f})")
    print(f"{'surface':>18} {'today wall':>11} {'today CPU':>10} {'new wall':>9} {'new CPU':>8} "
          f"{'wall ratio':>11} {'CPU ratio':>10}")
    rows = {}
    for resolution in (PLANE_GRID_COARSE, PLANE_GRID):
        axis = np.linspace(-1.0, 1.0, resolution)
        u, v = np.meshgrid(axis, axis)
        # today's path exactly: the plane's points in numpy float64, then the generic loop
        today = timed(lambda: mlp.values("meta", plane.points(u.ravel(), v.ravel()), fast=False),
                      repeats)
        new = timed(lambda: mlp.grid("meta", (-1, 1), (-1, 1), resolution, plane=plane), repeats)
        rows[resolution] = today, new
        print(f"{f'meta {resolution}²':>18} {1e3 * today[0]:>9.0f}ms {1e3 * today[1]:>8.0f}ms "
              f"{1e3 * new[0]:>7.0f}ms {1e3 * new[1]:>6.0f}ms {today[0] / new[0]:>10.1f}× "
              f"{today[1] / new[1]:>9.1f}×")
    request = {"config": config_json(mlp_config), "tasks": tasks, "surface": "meta",
               "xrange": (-1.0, 1.0), "yrange": (-1.0, 1.0), "plane": plane, "anchor": None,
               "weights": None, "dtype": torch.float32}
    coarse, full = through_the_worker(
        {**request, "resolutions": (PLANE_GRID_COARSE, PLANE_GRID)}, repeats)
    print(f"through the landscape serve loop (wall): request → coarse {PLANE_GRID_COARSE}² "
          f"{1e3 * coarse:.0f} ms, → full {PLANE_GRID}² {1e3 * full:.0f} ms; today's path: "
          f"{PLANE_GRID}² in {1e3 * rows[PLANE_GRID][0][0]:.0f} ms")
    mean = timed(lambda: mlp.grid("mean", (-1, 1), (-1, 1), 64, plane=plane), repeats)[0]
    u, v = np.meshgrid(np.linspace(-1.0, 1.0, 64), np.linspace(-1.0, 1.0, 64))
    mean_today = timed(lambda: mlp.values("mean", plane.points(u.ravel(), v.ravel()), fast=False),
                       repeats)[0]
    print(f"per-point loop* 64² meta: {mlp_per_point * 64**2:.2f} s; `mean` 64²: "
          f"{1e3 * mean:.0f} ms (today's path {1e3 * mean_today:.0f} ms)")
    print(f"* timed on {len(sample)} plane points and scaled; load average after: "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
