"""The article's sinusoid finding in numbers: meta-learned vs pretrained, few-shot fine-tuning.

Trains MAML on the ``sinusoid_few_shot`` preset (Finn et al. 2017: MLP 1-40-40-1, α = 0.01,
k = 1 inner step during training, meta-batch 25, Adam β = 0.001, K = 10) and a pretrained
(ERM) model on the same task stream from the same θ₀ for the same number of steps. Then both
are fine-tuned on K = 5 points of fresh seeded test tasks with plain gradient descent
(α = 0.01, as in the article's demo) and their query MSE after 1, 5 and 10 steps is printed,
averaged over the test tasks, beside the article's numbers for its published models.

    python benchmarks/sinusoid_few_shot.py [--steps 30000] [--seed 0] [--tasks 500]
                                           [--save models.npz | --load models.npz]
    python benchmarks/sinusoid_few_shot.py --trace finn.npz   # θ of a `maml-gui run` trace

One MAML step takes ~5.5 ms and one ERM step ~2 ms here (2-core CPU, one torch thread), so the
default 30,000 steps of each take about 4 minutes in all. Finn et al. trained for 70,000 steps.
Besides the mean (what the article reports) the table gives the median: with α = 0.01 a few
large-amplitude tasks overshoot after several steps and dominate the mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from maml_gui.core.config import config_json, make_config
from maml_gui.core.function_space import few_shot_comparison, train_model
from maml_gui.presets import load_preset

ARTICLE = {"meta-learned": (0.60, 0.32, 0.32), "pretrained (ERM)": (2.61, 2.16, 2.15)}
ARTICLE_STEPS = (1, 5, 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000,
                        help="meta-steps of MAML and of ERM training (default 30000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and test tasks")
    parser.add_argument("--tasks", type=int, default=500, help="test tasks (default 500)")
    parser.add_argument("--k-shot", type=int, default=5, help="fine-tuning points (default 5)")
    parser.add_argument("--inner-lr", type=float, default=0.01, help="fine-tuning α (default 0.01)")
    parser.add_argument("--query", type=int, default=100, help="query points per test task")
    parser.add_argument("--device", default="cpu", help="training device (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--save", help="write both trained θ (and the config) to this .npz")
    parser.add_argument("--load", help="evaluate the θ of a --save file instead of training")
    parser.add_argument("--trace", help="take the meta-learned θ from the last step of a "
                        "`maml-gui run` trace (its config and step count; ERM is trained here)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.load:
        return evaluate(*load_models(args.load), args)
    if args.trace:
        from maml_gui.core.trace import final_theta, read_trace_config

        config = make_config({k: v for k, v in read_trace_config(args.trace).items()
                              if k != "schema_version"})
        step, theta = final_theta(args.trace)
        print(f"{args.trace}: θ after {step} meta-steps; training ERM for as many steps here")
        erm = train_model(config, step, algorithm="pretrain")
        return evaluate(config, {"meta-learned": theta, "pretrained (ERM)": erm}, step, args)

    config = load_preset("sinusoid_few_shot").config.with_changes(
        {"seed": args.seed, "device": args.device})
    print(f"preset sinusoid_few_shot: MLP 1-{'-'.join(map(str, config.task['hidden']))}-1, "
          f"α = {config.inner_lr:g}, k = {config.inner_steps}, meta-batch {config.task['n_tasks']}, "
          f"K = {config.task['k_shot']}, {config.outer_optimizer} β = {config.outer_lr:g}, "
          f"seed {args.seed}, device {args.device}")
    thetas = {}
    started_all = time.perf_counter()
    for name, algorithm in (("meta-learned", "maml"), ("pretrained (ERM)", "pretrain")):
        started = time.perf_counter()
        last = [started]

        def progress(done: int, total: int, record, name=name, last=last) -> None:
            now = time.perf_counter()
            if now - last[0] > 15 or done == total:
                last[0] = now
                print(f"  {name}: step {done}/{total}, post-adaptation query loss "
                      f"{record.meta_loss_after:.3f} ({now - started:.0f} s)", flush=True)

        thetas[name] = train_model(config, args.steps, algorithm=algorithm, progress=progress)
        print(f"{name} ({algorithm}): {args.steps} steps in {time.perf_counter() - started:.1f} s")
    print(f"training took {time.perf_counter() - started_all:.0f} s")
    if args.save:
        np.savez(args.save, meta=thetas["meta-learned"], pretrained=thetas["pretrained (ERM)"],
                 steps=args.steps, config=json.dumps(config_json(config)))
        print(f"saved both models to {args.save}")
    return evaluate(config, thetas, args.steps, args)


def load_models(path: str):
    with np.load(path, allow_pickle=False) as data:
        config = make_config(json.loads(str(data["config"])))
        thetas = {"meta-learned": data["meta"], "pretrained (ERM)": data["pretrained"]}
        return config, thetas, int(data["steps"])


def evaluate(config, thetas, steps: int, args) -> int:
    table = few_shot_comparison(thetas["meta-learned"], thetas["pretrained (ERM)"], config,
                                k_shot=args.k_shot, steps=ARTICLE_STEPS, n_tasks=args.tasks,
                                seed=args.seed + 1_000_003, n_query=args.query,
                                inner_lr=args.inner_lr)
    print()
    print(f"after {steps} training steps each:")
    print(table.as_text())
    print()
    print("the article's published models (5 points, α = 0.01):")
    for name, values in ARTICLE.items():
        print(f"{name + ': mean':<28}" + "".join(f"{v:>18.2f}" for v in values))
    print()
    for statistic in ("mean", "median"):
        meta5 = table.value("meta-learned", 5, statistic)
        erm5 = table.value("pretrained (ERM)", 5, statistic)
        print(f"after 5 steps ({statistic}): meta-learned {meta5:.3f} vs pretrained {erm5:.3f} "
              f"(pretrained / meta-learned = {erm5 / meta5:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
