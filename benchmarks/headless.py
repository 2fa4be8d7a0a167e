"""``maml-gui run`` on Finn et al.'s sinusoid workload: throughput, peak memory, trace size.

Workload: MLP 1-40-40-1, meta-batch 25, K = 10 + 10 points, inner lr 0.01, Adam 0.001,
float32, CPU, one torch thread, MAML, no record settings (the defaults for 1,761 parameters).
Each run is a fresh ``python -m maml_gui run`` process; its peak RSS comes from ``wait4``,
its steps/s from its own closing line (the training loop with the trace writer, without
the interpreter's start-up) and from its CPU time (``wait4``, less the CPU time of a 1-step
run: robust to a loaded machine), its bytes per step from the file.

Two tables:

1. memory and file growth between 100 and 400 steps (k = 1) for ``.npz`` and ``.json``
   (the issue's bar: RSS grows < 15 MB, the file < 8 KB per step);
2. throughput with k = 5 at 1,000 (and, with ``--long``, 10,000) steps against the
   per-task-loop reference of ``benchmarks/meta_step.py``, timed in the same run.

    python benchmarks/headless.py [--long 10000 [--only-long] [--formats .npz]] [--seconds 6]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WORKLOAD = ["--set", 'task={"family": "sinusoid", "n_tasks": 25, "k_shot": 10, "k_query": 10}',
            "--set", "inner_lr=0.01", "--set", "outer_optimizer=\"adam\"",
            "--set", "outer_lr=0.001", "--set", "device=\"cpu\""]


def cli_run(steps: int, k: int, suffix: str, folder: Path) -> dict:
    """One ``maml-gui run`` process: its steps/s, peak RSS (MB), wall time, file size."""
    out = folder / f"k{k}-{steps}{suffix}"
    command = [sys.executable, "-m", "maml_gui", "run", *WORKLOAD, "--set", f"inner_steps={k}",
               "--steps", str(steps), "--out", str(out)]
    started = time.perf_counter()
    with open(folder / "stderr.txt", "w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        err.seek(0)
        text = err.read()
    if process.returncode != 0:
        raise RuntimeError(f"maml-gui run failed ({process.returncode}): {text[-500:]}")
    rate = float(re.search(r"steps in [\d.]+ s \(([\d.]+) steps/s\)", text).group(1))
    size = out.stat().st_size
    out.unlink()
    return {"steps": steps, "rate": rate, "rss_mb": usage.ru_maxrss / 1024, "wall": wall,
            "bytes": size, "cpu": usage.ru_utime + usage.ru_stime}


def cpu_steps_per_second(step, seconds: float) -> float:
    """Steps per second of this process's CPU time: on a machine shared with other work,
    wall-clock rates swing with the neighbours' load, CPU-time rates much less."""
    step()
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        step()
        count += 1
    return count / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="time for the per-task-loop reference (default 6)")
    parser.add_argument("--long", type=int, default=0, metavar="STEPS",
                        help="also time a run of this many steps (e.g. 10000; minutes)")
    parser.add_argument("--only-long", action="store_true",
                        help="skip table 1 and the 1,000-step runs (with --long)")
    parser.add_argument("--formats", nargs="+", default=[".npz", ".json"],
                        help="trace formats of table 2 (default .npz .json)")
    args = parser.parse_args()
    import torch

    from meta_step import engine_step, loop_step, steps_per_second

    torch.set_num_threads(1)
    print(f"sinusoid MLP 1-40-40-1, meta-batch 25, K=10+10, MAML, Adam, float32, CPU, "
          f"torch {torch.__version__}, 1 thread, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("\n1. growth between 100 and 400 steps (k = 1, default recording)")
        print(f"{'format':<8}{'RSS 100':>10}{'RSS 400':>10}{'RSS growth':>12}{'bytes/step':>12}")
        for suffix in () if args.only_long else (".npz", ".json"):
            short, long = cli_run(100, 1, suffix, folder), cli_run(400, 1, suffix, folder)
            growth = long["rss_mb"] - short["rss_mb"]
            per_step = (long["bytes"] - short["bytes"]) / 300
            print(f"{suffix:<8}{short['rss_mb']:>7.0f} MB{long['rss_mb']:>7.0f} MB"
                  f"{growth:>9.1f} MB{per_step:>12.0f}")

        loop = steps_per_second(loop_step("maml", 5), args.seconds, 5)
        loop_cpu = cpu_steps_per_second(loop_step("maml", 5), args.seconds)
        engine_cpu = cpu_steps_per_second(engine_step("maml", 5), args.seconds)
        startup = cli_run(1, 5, ".npz", folder)["cpu"]  # imports and set-up, in CPU seconds
        print(f"\n2. throughput with k = 5; per-task loop (meta_step.py, in-process): "
              f"{loop:.1f} steps/s wall, {loop_cpu:.1f} steps per CPU second; "
              f"CLI start-up {startup:.1f} CPU s; the engine in-process without a trace: "
              f"{engine_cpu:.1f} steps per CPU second ({engine_cpu / loop_cpu:.1f}× the loop)")
        print(f"{'format':<8}{'steps':>7}{'CLI steps/s':>13}{'× loop':>8}{'per CPU s':>11}"
              f"{'× loop':>8}{'wall':>8}{'peak RSS':>10}{'bytes/step':>12}")
        sizes = ([] if args.only_long else [1000]) + ([args.long] if args.long else [])
        for steps in sizes:
            for suffix in args.formats:
                row = cli_run(steps, 5, suffix, folder)
                cpu_rate = steps / max(row["cpu"] - startup, 1e-9)
                print(f"{suffix:<8}{steps:>7}{row['rate']:>13.1f}{row['rate'] / loop:>7.1f}×"
                      f"{cpu_rate:>11.1f}{cpu_rate / loop_cpu:>7.1f}×{row['wall']:>7.0f}s"
                      f"{row['rss_mb']:>7.0f} MB{row['bytes'] / steps:>12.0f}")
        loop_after = steps_per_second(loop_step("maml", 5), args.seconds, 5)
        print(f"per-task loop timed again after the CLI runs: {loop_after:.1f} steps/s wall "
              "(how much the machine's load changed during the table)")


if __name__ == "__main__":
    main()
