"""Meta-steps per second on the sinusoid workload: the engine against a per-task loop.

Workload (Finn et al.): MLP 1-40-40-1, meta-batch 25, K = 10 support + 10 query points,
inner lr 0.01, k = 1 and 5, float32, one torch thread. The engine batches the tasks;
the reference, written here, loops over tasks in Python the way most tutorials do
(``F.linear`` per layer, one task at a time, one backward per task for MAML).
torchopt is timed too where importable.

A second table (MAML and FOMAML, k = 1 and 5) interleaves, round by round, the per-task
loop, learn2learn's idiom written out (clone, ``adapt`` by ``autograd.grad(create_graph=True)``,
``nn.Module`` forward), the ``torch.func`` reference (``vmap`` over tasks of a ``grad``
inner loop, one ``backward``), the engine with autograd's inner gradient, and the engine,
with the machine's load average and the engine/vmap ratio in thread CPU time too.
A third times the article's further-reading methods (TreeMAML, B-SMALL, MetaNAS) on the
same workload against MAML (and Reptile, MetaNAS's meta-learner), in the same run.

    python benchmarks/meta_step.py [--repeats 5] [--seconds 1.5] [--rounds 3]
    python benchmarks/meta_step.py --references-only --rounds 5
    python benchmarks/meta_step.py --extensions-only
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call

from maml_gui.core.config import make_config
from maml_gui.core.training import MetaTrainer

TASKS, K, INNER_LR, HIDDEN = 25, 10, 0.01, (40, 40)


def engine_step(algorithm: str, k: int):
    config = make_config({
        "algorithm": algorithm, "inner_lr": INNER_LR, "inner_steps": k, "cg_steps": 5,
        "imaml_lambda": 1.0, "outer_optimizer": "adam", "outer_lr": 0.001, "device": "cpu",
        "task": {"family": "sinusoid", "n_tasks": TASKS, "k_shot": K, "k_query": K,
                 "hidden": list(HIDDEN)},
    })
    trainer = MetaTrainer(config)
    return trainer.step


# --- the per-task-loop reference ------------------------------------------------------------

def _init(generator):
    widths = [1, *HIDDEN, 1]
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        bound = fan_in ** -0.5
        params.append((torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound)
        params.append((torch.rand(fan_out, generator=generator) * 2 - 1) * bound)
    return [p.requires_grad_(True) for p in params]


def _forward(params, x):
    h = x
    for i in range(0, len(params), 2):
        h = F.linear(h, params[i], params[i + 1])
        if i < len(params) - 2:
            h = torch.relu(h)
    return h


def _sample(generator):
    amplitude = torch.rand(TASKS, 1, 1, generator=generator) * 4.9 + 0.1
    phase = torch.rand(TASKS, 1, 1, generator=generator) * torch.pi
    xs = torch.rand(TASKS, K, 1, generator=generator) * 10 - 5
    xq = torch.rand(TASKS, K, 1, generator=generator) * 10 - 5
    return xs, amplitude * torch.sin(xs - phase), xq, amplitude * torch.sin(xq - phase)


def loop_step(algorithm: str, k: int):
    generator = torch.Generator().manual_seed(0)
    params = _init(generator)
    optimizer = torch.optim.Adam(params, lr=0.001)
    lam, cg_steps = 1.0, 5

    def adapt(xs, ys, create_graph, anchor=None):
        fast = list(params) if create_graph else [p.detach().requires_grad_(True) for p in params]
        for _ in range(k):
            loss = F.mse_loss(_forward(fast, xs), ys)
            if anchor is not None:
                loss = loss + 0.5 * lam * sum((f - a).square().sum() for f, a in zip(fast, anchor))
            grads = torch.autograd.grad(loss, fast, create_graph=create_graph)
            fast = [f - INNER_LR * g for f, g in zip(fast, grads)]
            if not create_graph:
                fast = [f.detach().requires_grad_(True) for f in fast]
        return fast

    def step():
        xs, ys, xq, yq = _sample(generator)
        optimizer.zero_grad()
        meta = [torch.zeros_like(p) for p in params]
        total = 0.0
        for t in range(TASKS):
            if algorithm == "maml":
                fast = adapt(xs[t], ys[t], create_graph=True)
                loss = F.mse_loss(_forward(fast, xq[t]), yq[t]) / TASKS
                loss.backward()
                total += float(loss.detach())
                continue
            if algorithm == "imaml":
                anchor = [p.detach() for p in params]
                fast = adapt(xs[t], ys[t], create_graph=False, anchor=anchor)
            else:
                fast = adapt(xs[t], ys[t], create_graph=False)
            if algorithm == "reptile":
                grads = [p.detach() - f.detach() for p, f in zip(params, fast)]
            else:
                query = F.mse_loss(_forward(fast, xq[t]), yq[t])
                grads = torch.autograd.grad(query, fast)
                if algorithm == "imaml":
                    support_grads = torch.autograd.grad(F.mse_loss(_forward(fast, xs[t]), ys[t]),
                                                        fast, create_graph=True)
                    grads = _cg(support_grads, fast, grads, lam, cg_steps)
            for m, g in zip(meta, grads):
                m += g / TASKS
        if algorithm != "maml":
            for p, m in zip(params, meta):
                p.grad = m
        optimizer.step()
        return total

    return step


def _cg(support_grads, fast, rhs, lam, steps):
    def matvec(v):
        hv = torch.autograd.grad(support_grads, fast, grad_outputs=v, retain_graph=True)
        return [vi + hi / lam for vi, hi in zip(v, hv)]

    x = [torch.zeros_like(r) for r in rhs]
    r = [ri.clone() for ri in rhs]
    p = [ri.clone() for ri in rhs]
    rs = sum((ri * ri).sum() for ri in r)
    for _ in range(steps):
        ap = matvec(p)
        alpha = rs / sum((pi * ai).sum() for pi, ai in zip(p, ap))
        x = [xi + alpha * pi for xi, pi in zip(x, p)]
        r = [ri - alpha * ai for ri, ai in zip(r, ap)]
        rs_new = sum((ri * ri).sum() for ri in r)
        p = [ri + (rs_new / rs) * pi for ri, pi in zip(r, p)]
        rs = rs_new
    return x


def torchopt_maml_step(k: int):
    """torchopt's own MAML recipe (MetaSGD on an nn.Module, one task at a time)."""
    import torchopt

    generator = torch.Generator().manual_seed(0)
    net = _module()
    inner = torchopt.MetaSGD(net, lr=INNER_LR)
    outer = torch.optim.Adam(net.parameters(), lr=0.001)

    def step():
        xs, ys, xq, yq = _sample(generator)
        outer.zero_grad()
        net_state = torchopt.extract_state_dict(net, by="reference", detach_buffers=True)
        inner_state = torchopt.extract_state_dict(inner)
        for t in range(TASKS):
            for _ in range(k):
                inner.step(F.mse_loss(net(xs[t]), ys[t]))
            (F.mse_loss(net(xq[t]), yq[t]) / TASKS).backward()
            torchopt.recover_state_dict(net, net_state)
            torchopt.recover_state_dict(inner, inner_state)
        outer.step()

    return step


# --- MAML references: learn2learn's idiom and torch.func --------------------------------------

def learn2learn_idiom_step(k: int, first_order: bool = False):
    """learn2learn's MAML recipe, written out (it does not build on Python 3.11).

    ``learner = maml.clone()`` (every parameter ``p.clone()``, so the graph reaches θ),
    ``learner.adapt(loss)`` k times (``autograd.grad(..., create_graph=not first_order)`` and
    ``p - lr * g``), the query loss's ``backward()`` per task, one optimizer step.
    The module is an ``nn.Sequential`` run with the adapted tensors by ``functional_call``.
    """
    generator = torch.Generator().manual_seed(0)
    net = _module()
    names = [name for name, _ in net.named_parameters()]
    outer = torch.optim.Adam(net.parameters(), lr=0.001)

    def step():
        xs, ys, xq, yq = _sample(generator)
        outer.zero_grad()
        for t in range(TASKS):
            fast = [p.clone() for p in net.parameters()]
            for _ in range(k):
                loss = F.mse_loss(functional_call(net, dict(zip(names, fast)), (xs[t],)), ys[t])
                grads = torch.autograd.grad(loss, fast, create_graph=not first_order)
                fast = [p - INNER_LR * g for p, g in zip(fast, grads)]
            query = F.mse_loss(functional_call(net, dict(zip(names, fast)), (xq[t],)), yq[t])
            (query / TASKS).backward()
        outer.step()

    return step


def vmap_maml_step(k: int, first_order: bool = False):
    """The ``torch.func`` reference: ``vmap`` over tasks of a ``grad`` inner loop.

    Each task's k inner steps are ``torch.func.grad`` of its support loss; ``vmap`` runs all
    tasks as one batch; the outer gradient is one ordinary ``backward()`` of the mean query
    loss through the vmapped, still differentiable, inner loops. First-order (FOMAML): the
    inner loops run on θ detached and the query gradients at φᵏ, ``vmap(grad(...))``, are
    averaged into θ's gradient.
    """
    from torch.func import grad, vmap

    generator = torch.Generator().manual_seed(0)
    params = _init(generator)
    outer = torch.optim.Adam(params, lr=0.001)

    def task_loss(fast, x, y):
        return F.mse_loss(_forward(fast, x), y)

    def adapted_query_loss(theta, xs, ys, xq, yq):
        fast = theta
        for _ in range(k):
            grads = grad(task_loss)(fast, xs, ys)
            fast = [p - INNER_LR * g for p, g in zip(fast, grads)]
        return task_loss(fast, xq, yq)

    batched = vmap(adapted_query_loss, in_dims=(None, 0, 0, 0, 0))

    def adapted(theta, xs, ys):
        fast = theta
        for _ in range(k):
            grads = grad(task_loss)(fast, xs, ys)
            fast = [p - INNER_LR * g for p, g in zip(fast, grads)]
        return fast

    adapt_all = vmap(adapted, in_dims=(None, 0, 0))
    query_grads = vmap(grad(task_loss), in_dims=(0, 0, 0))

    def step():
        xs, ys, xq, yq = _sample(generator)
        outer.zero_grad()
        if first_order:
            with torch.no_grad():
                fast = adapt_all([p.detach() for p in params], xs, ys)
            for p, g in zip(params, query_grads(fast, xq, yq)):
                p.grad = g.mean(0)
        else:
            batched(params, xs, ys, xq, yq).mean().backward()
        outer.step()

    return step


def engine_autograd_step(k: int, algorithm: str = "maml"):
    """The engine with autograd's double backward for the inner gradient (as before the MLP's
    hand-written gradient and step): the same batched inner loop, ``create_graph=True``."""
    step = engine_step(algorithm, k)
    step.__self__.family.differentiable_grad = False
    return step


def _module() -> torch.nn.Sequential:
    widths = [1, *HIDDEN, 1]
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def maml_reference_table(seconds: float, repeats: int, rounds: int) -> None:
    """MAML and FOMAML at k = 1 and 5: the engine against every reference, interleaved.

    Each round times every method once (in turn, so machine load hits them alike); the
    table gives each method's median over rounds (wall clock) and the engine's ratio to
    each; the last column is engine/vmap from the thread's CPU time, which the other
    processes on a loaded machine disturb less.
    """
    makers = {
        "per-task loop": lambda algorithm, k: loop_step(algorithm, k),
        "l2l idiom": lambda algorithm, k: learn2learn_idiom_step(k, algorithm == "fomaml"),
        "torch.func vmap": lambda algorithm, k: vmap_maml_step(k, algorithm == "fomaml"),
        "engine, autograd": lambda algorithm, k: engine_autograd_step(k, algorithm),
        "engine": engine_step,
    }
    print(f"\nMAML and FOMAML against their references ({rounds} interleaved rounds, medians, "
          f"steps/s; load average {_load()})")
    print(f"{'':<7}{'k':>3}" + "".join(f"{name:>17}" for name in makers)
          + "".join(f"{'engine/' + name.split()[-1]:>18}" for name in list(makers)[:-1])
          + f"{'engine/vmap CPU':>17}")
    for algorithm in ("maml", "fomaml"):
        for k in (1, 5):
            steps = {name: make(algorithm, k) for name, make in makers.items()}
            rates: dict[str, list[float]] = {name: [] for name in makers}
            cpu: dict[str, list[float]] = {name: [] for name in makers}
            for _ in range(rounds):
                for name, step in steps.items():
                    wall, thread = steps_per_second(step, seconds, repeats, cpu=True)
                    rates[name].append(wall)
                    cpu[name].append(thread)
            median = {name: statistics.median(values) for name, values in rates.items()}
            engine = median["engine"]
            cpu_ratio = statistics.median(cpu["engine"]) / statistics.median(cpu["torch.func vmap"])
            print(f"{algorithm:<7}{k:>3}" + "".join(f"{median[name]:>17.1f}" for name in makers)
                  + "".join(f"{engine / median[name]:>17.2f}×" for name in list(makers)[:-1])
                  + f"{cpu_ratio:>16.2f}×")
    print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def steps_per_second(step, seconds: float, repeats: int, cpu: bool = False):
    """Median steps/s over ``repeats`` slices of ``seconds / repeats``; with ``cpu``, also the
    median steps per second of this thread's CPU time."""
    step()  # warm-up (allocations, autograd graph caches)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        count, started, thread = 0, time.perf_counter(), time.thread_time()
        while time.perf_counter() - started < seconds / repeats:
            step()
            count += 1
        rates.append(count / (time.perf_counter() - started))
        cpu_rates.append(count / max(time.thread_time() - thread, 1e-9))
    if cpu:
        return statistics.median(rates), statistics.median(cpu_rates)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="medians over this many slices")
    parser.add_argument("--only", nargs="+", default=["maml", "fomaml", "reptile", "imaml"],
                        help="algorithms to time")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the MAML reference table (0: skip it)")
    parser.add_argument("--references-only", action="store_true",
                        help="print only the MAML reference table")
    parser.add_argument("--extensions-only", action="store_true",
                        help="only the TreeMAML / B-SMALL / MetaNAS table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.extensions_only:
        extensions_table(args.seconds, args.repeats)
        return
    try:
        import torchopt  # noqa: F401

        has_torchopt = True
    except Exception:  # absent, or built for another torch
        has_torchopt = False
    print(f"sinusoid MLP 1-{'-'.join(map(str, HIDDEN))}-1, meta-batch {TASKS}, K={K}+{K}, "
          f"inner lr {INNER_LR}, float32, torch {torch.__version__}, 1 thread")
    print("learn2learn 0.2.0 does not build on Python 3.11: not timed. torchopt: "
          + ("timed (MAML rows)" if has_torchopt else "not importable here, not timed"))
    algorithms = [] if args.references_only else args.only
    if algorithms:
        print(f"{'algorithm':<10}{'k':>3}{'per-task loop':>16}{'engine':>12}{'ratio':>9}"
              + (f"{'torchopt':>14}{'engine/torchopt':>17}" if has_torchopt else ""))
    for algorithm in algorithms:
        for k in (1, 5):
            loop = steps_per_second(loop_step(algorithm, k), args.seconds, args.repeats)
            engine = steps_per_second(engine_step(algorithm, k), args.seconds, args.repeats)
            line = f"{algorithm:<10}{k:>3}{loop:>12.1f} st/s{engine:>8.1f} st/s{engine / loop:>8.1f}×"
            if has_torchopt and algorithm == "maml":
                other = steps_per_second(torchopt_maml_step(k), args.seconds, args.repeats)
                line += f"{other:>9.1f} st/s{engine / other:>16.1f}×"
            print(line)
    if args.rounds > 0 and "maml" in args.only:
        maml_reference_table(args.seconds, args.repeats, args.rounds)
    if not args.references_only:
        extensions_table(args.seconds, args.repeats)


EXTENSIONS = ("tree_maml", "b_small", "metanas")


def extensions_table(seconds: float, repeats: int) -> None:
    """Steps/s of the further-reading methods and their ratio to MAML's, same run and workload.

    TreeMAML uses its learned tree (default cuts) and pays n backward passes for the per-task
    gᵢ; B-SMALL trains μ, b and log σ (P 1761 → 3441) with LRT noise and the KL term;
    MetaNAS mixes relu/tanh/sin/identity (Adam inner steps, two gradient evaluations each).
    """
    print(f"\nfurther-reading methods, same workload ({TASKS} tasks, engine only)")
    print(f"{'algorithm':<10}{'k':>3}{'steps/s':>10}{'MAML st/s':>12}{'÷ MAML':>9}"
          f"{'Reptile st/s':>14}{'÷ Reptile':>11}")
    for k in (1, 5):
        maml = steps_per_second(engine_step("maml", k), seconds, repeats)
        reptile = steps_per_second(engine_step("reptile", k), seconds, repeats)
        for algorithm in EXTENSIONS:
            rate = steps_per_second(engine_step(algorithm, k), seconds, repeats)
            print(f"{algorithm:<10}{k:>3}{rate:>10.1f}{maml:>12.1f}{rate / maml:>8.2f}×"
                  f"{reptile:>14.1f}{rate / reptile:>10.2f}×")


if __name__ == "__main__":
    main()
