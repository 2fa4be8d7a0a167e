"""The memory a config will need, estimated before anything is allocated.

Every setting has its own maximum, but products of them do not: 1,000 quadratic tasks of
dimension 512, a 16 × 1,024 MLP, 10,000 tasks of 10,000 shots or a 2,048² landscape of the
MLP each pass their single checks and then need tens of gigabytes. :func:`check_budget` adds
up the big terms and refuses with a :class:`~maml_gui.core.config.ConfigError` that names the
largest term and the setting that shrinks it, so the window and the CLI say so at once
instead of swapping or being killed.

The factors below are measured (peak RSS of one ``maml-gui run``, this machine, loaded):
100 quadratic tasks of d = 512 peaked 1.2 GB above the 0.34 GB of a d = 2 run, about six
copies of the 210 MB of matrices (sampling, the pool, the landscape's copy, torch's working
copies); a 5-task MLP of 1.05 M parameters peaked at about the records plus three copies of
the unrolled inner loop.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maml_gui.core.fields import ConfigError

if TYPE_CHECKING:  # config checks the budget: a plain import would be a circle
    from maml_gui.core.config import Config

GB = 1024**3
DEFAULT_BUDGET = 8 * GB
BUDGET_ENV = "MAML_GUI_MEMORY_BUDGET"  # e.g. "32" (GiB), to run bigger configs on big machines
MATRIX_COPIES = 6  # measured, see the module docstring
GRAPH_COPIES = 3  # parameters, gradients and the autograd graph of each inner step
RECORD_ITEM = 8  # step records are float64
TEXT_BYTES_PER_NUMBER = 22  # "-0.12345678901234567, " (shortest round-trip repr)
JSON_BYTES_PER_NUMBER = 100
RL_NUMBERS_PER_TRANSITION = 10  # s, a, s′, r, log π, advantage, return  # a Python float in a list, its text, the joined string


@dataclass(frozen=True)
class Term:
    """One big allocation: what it is, its size in bytes, and the setting that shrinks it."""

    what: str
    bytes: int
    setting: str
    value: object


def memory_budget() -> int:
    """The budget in bytes: ``$MAML_GUI_MEMORY_BUDGET`` GiB if set, else
    :data:`DEFAULT_BUDGET` or 60 % of the machine's memory, whichever is smaller."""
    text = os.environ.get(BUDGET_ENV, "").strip().upper().removesuffix("B").removesuffix("G")
    try:
        value = float(text)
        if math.isfinite(value) and value > 0:
            return int(value * GB)
    except ValueError:
        pass
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return DEFAULT_BUDGET
    return min(DEFAULT_BUDGET, int(0.6 * physical)) if physical > 0 else DEFAULT_BUDGET


def _itemsize(config: Config, family) -> int:
    if config.dtype == "float32":
        return 4
    if config.dtype == "float64":
        return 8
    return 4 if str(family.default_dtype).endswith("float32") else 8


def _points_per_task(params) -> int:
    return sum(int(params.get(key) or 0) for key in ("k_shot", "k_query", "n_points", "n_query"))


def path_points(config: Config) -> int:
    mode = config.record_paths
    if mode == "auto":  # as maml_gui.core.recording resolves it: by the number of parameters
        from maml_gui.core.recording import SMALL_MODEL
        from maml_gui.core.tasks import make_family

        mode = "full" if make_family(config.task).param_dim <= SMALL_MODEL else "none"
    return {"full": config.inner_steps + 1, "endpoints": 2, "none": 0}[mode]


def record_bytes(config: Config) -> int:
    """One meta-step's record: every task's stored inner path and its meta-gradient."""
    from maml_gui.core.tasks import make_family

    family = make_family(config.task)
    tasks = _tasks_per_step(config, family)
    return tasks * family.param_dim * (path_points(config) + 1) * RECORD_ITEM


def _tasks_per_step(config: Config, family) -> int:
    pool = family.pool_size()
    return config.meta_batch or (family.tasks_per_step() if pool is None else pool)


def training_terms(config: Config) -> list[Term]:
    """The big allocations of one meta-step of ``config``."""
    from maml_gui.core.tasks import make_family

    family = make_family(config.task)
    params, dim = family.params, family.param_dim
    tasks = _tasks_per_step(config, family)
    item, k = _itemsize(config, family), config.inner_steps
    terms = [
        Term(f"the inner loop ({tasks:,} tasks × {dim:,} parameters × {k + 1} points)",
             tasks * dim * (k + 1) * item * GRAPH_COPIES, "inner_steps", k),
        Term(f"one step's record ({tasks:,} tasks × {dim:,} parameters × "
             f"{path_points(config) + 1} vectors)", record_bytes(config), "record_paths",
             config.record_paths),
    ]
    if family.name == "quadratic":
        pool = family.pool_size() or tasks
        terms.append(Term(f"the tasks' matrices ({pool:,} tasks × {dim}² numbers)",
                          pool * dim * dim * 8 * MATRIX_COPIES, "task.n_tasks", pool))
    points = _points_per_task(params)
    if "hidden" in params and points:
        width = sum(int(w) for w in params["hidden"])
        setting = "task.k_shot" if "k_shot" in params else "task.n_points"
        terms.append(Term(f"the activations ({tasks:,} tasks × {points:,} points × {width:,} "
                          f"hidden units × {k + 1} points)",
                          tasks * points * width * (k + 1) * item * GRAPH_COPIES, setting,
                          params.get("k_shot", params.get("n_points"))))
    if "rollouts" in params:  # meta-RL: both rollout phases' transitions and activations
        runs, horizon = int(params["rollouts"]), int(params["horizon"])
        width = RL_NUMBERS_PER_TRANSITION + 2 * config.norml_advantage_hidden
        if params["policy"] == "mlp":
            width += 2 * int(params["policy_hidden"])
        terms.append(Term(f"the rollouts ({tasks:,} tasks × {runs:,} rollouts × {horizon} steps, "
                          "before and after adaptation)",
                          2 * tasks * runs * horizon * width * item * GRAPH_COPIES,
                          "task.rollouts", runs))
    return terms


def landscape_term(config: Config, grid: int, *, plane: bool) -> Term:
    """A ``grid × grid`` surface: on a plane every point is a full parameter vector."""
    from maml_gui.core.tasks import make_family

    family = make_family(config.task)
    width = family.param_dim if plane else 2
    return Term(f"the landscape grid ({grid}² points × {width:,} parameters)",
                grid * grid * width * (8 + _itemsize(config, family)), "--grid", grid)


def trace_term(config: Config, fmt: str, steps: int) -> Term:
    """Writing a trace: JSON and CSV turn one step at a time into text (Python floats, then
    characters: about :data:`JSON_BYTES_PER_NUMBER` per number); an NPZ trace is assembled
    from all steps in memory (the records, then the stacked columns)."""
    numbers = record_bytes(config) // RECORD_ITEM
    if fmt == "npz":
        return Term(f"the NPZ trace assembled in memory ({steps:,} steps × {numbers:,} numbers)",
                    2 * steps * numbers * RECORD_ITEM, "record_paths", config.record_paths)
    return Term(f"writing one step as text ({numbers:,} numbers)",
                numbers * JSON_BYTES_PER_NUMBER, "record_paths", config.record_paths)


def trace_file_bytes(config: Config, fmt: str, steps: int) -> int:
    """The trace file's size on disk: ~:data:`TEXT_BYTES_PER_NUMBER` characters per number
    as text, 8 bytes as NPZ (trained float values barely compress)."""
    numbers = record_bytes(config) // RECORD_ITEM
    return steps * numbers * (RECORD_ITEM if fmt == "npz" else TEXT_BYTES_PER_NUMBER)


def check_disk(config: Config, out: str | os.PathLike, steps: int) -> None:
    """Refuse a trace that cannot fit in the free space of ``out``'s folder."""
    import shutil
    from pathlib import Path

    fmt = Path(out).suffix.lower().lstrip(".")
    needed = trace_file_bytes(config, fmt, steps)
    try:
        free = shutil.disk_usage(Path(out).resolve().parent).free
    except OSError:
        return
    if needed > free:
        raise ConfigError("record_paths", config.record_paths,
                          f"the trace would be about {_size(needed)}, more than the "
                          f"{_size(free)} free beside {out}; set record_paths to endpoints or "
                          "none (--paths), or use fewer --steps")


def records_term(config: Config, steps: int) -> Term:
    """Records kept in memory for ``steps`` meta-steps (an export draws the whole trail)."""
    return Term(f"the {steps:,} steps' records kept for the export",
                steps * record_bytes(config), "record_paths", config.record_paths)


def _size(n: int) -> str:
    return f"{n / GB:.1f} GB" if n >= GB / 10 else f"{n / 1024**2:.0f} MB"


def check_budget(terms: list[Term], budget: int | None = None) -> None:
    """Raise :class:`ConfigError` if ``terms`` together exceed the budget, naming the largest
    and the setting that shrinks it."""
    budget = memory_budget() if budget is None else budget
    total = sum(t.bytes for t in terms)
    if total <= budget:
        return
    largest = max(terms, key=lambda t: t.bytes)
    hint = {"record_paths": "set record_paths to endpoints or none, or fewer --steps",
            "--grid": "use a smaller --grid",
            "inner_steps": "use fewer inner_steps, a smaller model or fewer tasks",
            }.get(largest.setting, f"lower {largest.setting}")
    raise ConfigError(largest.setting, largest.value,
                      f"needs about {_size(total)} of memory, more than the {_size(budget)} "
                      f"budget; the largest part is {largest.what}: {_size(largest.bytes)}. "
                      f"To shrink it, {hint} (or raise ${BUDGET_ENV}, in GB)")


__all__ = ["BUDGET_ENV", "DEFAULT_BUDGET", "Term", "check_budget", "check_disk", "landscape_term",
           "memory_budget", "record_bytes", "records_term", "trace_term", "trace_file_bytes", "training_terms"]
