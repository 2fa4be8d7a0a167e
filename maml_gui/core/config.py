"""One table of fields drives validation, defaults, help text and hot/cold marking.

The panel, the command line (`--set key=value`) and session files are all checked against
:data:`FIELDS` and the task families' own tables, so every range is written once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields as dc_fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

SCHEMA_VERSION = 1


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: Any, problem: str):
        self.field = field_name
        self.value = value
        self.problem = problem
        from maml_gui.core.safe_read import shown_name

        super().__init__(f"{shown_name(field_name)} = {_short_repr(value)}: {problem}")


def _short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Field:
    """One setting: its type, range, default, meaning and whether it can change during a run.

    ``kind`` is one of ``"float"``, ``"int"``, ``"choice"``, ``"bool"``, ``"str"``, ``"vector"``
    (a list of numbers), ``"matrices"`` (a list of square matrices), ``"points"`` (a list of
    fixed-length number lists), ``"pointsets"`` (a list of such lists), ``"range"`` (a ``[low, high]`` pair), ``"ints"`` (a list of ints)
    or ``"choice_list"`` (distinct names out of ``choices``, as a list or comma-separated).
    """

    name: str
    kind: str
    default: Any
    help: str
    label: str = ""
    hot: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be strictly above ``low``
    choices: tuple[str, ...] = ()
    nullable: bool = False
    log_scale: bool = False  # widget hint: learning rates and λ span decades
    formula: str = ""  # shown in tooltips
    group: str = "training"
    point_len: int | None = None  # for kind "points"
    null_means: str = ""  # what null stands for, for help text

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lo = "" if self.low is None else (f"> {_fmt(self.low)}" if self.low_open else f"≥ {_fmt(self.low)}")
        hi = "" if self.high is None else f"≤ {_fmt(self.high)}"
        return " and ".join(part for part in (lo, hi) if part) or "any value"

    def tooltip(self) -> str:
        parts = [self.help]
        if self.formula:
            parts.append(self.formula)
        if self.kind in ("float", "int", "choice"):
            parts.append(f"Allowed: {self.range_text()}.")
        if self.nullable and self.null_means:
            parts.append(f"Empty (null): {self.null_means}.")
        parts.append("Applies live during a run." if self.hot else "Changing it restarts the run.")
        return "\n".join(parts)

    def validate(self, value: Any, where: str | None = None) -> Any:
        """Return ``value`` converted to this field's type, or raise :class:`ConfigError`."""
        name = where or self.name
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(name, value, "a value is required (null is not allowed)")
        check = _CHECKERS[self.kind]
        return check(self, name, value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _number(name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                kind = "an integer" if integer else "a number"
                raise ConfigError(name, value, f"must be {kind}") from None
        else:
            kind = "an integer" if integer else "a number"
            raise ConfigError(name, value, f"must be {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(name, value, "must be a finite number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ConfigError(name, value, "must be an integer")
            value = int(value)
        return int(value)
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(name, value, "is too large") from None


def _check_range(f: Field, name: str, value: float, shown: Any = None) -> None:
    too_low = f.low is not None and (value <= f.low if f.low_open else value < f.low)
    too_high = f.high is not None and value > f.high
    if too_low or too_high:
        raise ConfigError(name, value if shown is None else shown,
                          f"out of range: must be {f.range_text()}")


def _check_float(f: Field, name: str, value: Any) -> float:
    number = _number(name, value, integer=False)
    _check_range(f, name, number, shown=value)
    return float(number)


def _check_int(f: Field, name: str, value: Any) -> int:
    number = _number(name, value, integer=True)
    _check_range(f, name, number, shown=value)
    return int(number)


def _check_choice(f: Field, name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in f.choices:
        raise ConfigError(name, value, f"unknown value: must be {f.range_text()}")
    return value


def _check_bool(f: Field, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(name, value, "must be true or false")


def _check_str(f: Field, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, value, "must be a non-empty string")
    return value.strip()


def _number_list(f: Field, name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of numbers")
    if len(value) > 100_000:
        raise ConfigError(name, "[...]", "too long (at most 100000 numbers)")
    return tuple(_number(f"{name}[{i}]", v, integer=False) for i, v in enumerate(value))


def _check_vector(f: Field, name: str, value: Any) -> tuple[float, ...]:
    numbers = _number_list(f, name, value)
    for i, v in enumerate(numbers):
        _check_range(f, f"{name}[{i}]", v)
    return numbers


def _check_range_pair(f: Field, name: str, value: Any) -> tuple[float, float]:
    pair = _number_list(f, name, value)
    if len(pair) != 2:
        raise ConfigError(name, value, "must be a pair [low, high]")
    for i, v in enumerate(pair):
        _check_range(f, f"{name}[{i}]", v)
    if not pair[0] < pair[1]:
        raise ConfigError(name, value, "low must be below high")
    return pair[0], pair[1]


def _check_ints(f: Field, name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0 or len(value) > 16:
        raise ConfigError(name, value, "must be a list of 1 to 16 integers")
    numbers = tuple(_number(f"{name}[{i}]", v, integer=True) for i, v in enumerate(value))
    for i, v in enumerate(numbers):
        _check_range(f, f"{name}[{i}]", v)
    return numbers


def _check_points(f: Field, name: str, value: Any) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of points")
    if len(value) > 1000:
        raise ConfigError(name, "[...]", "too many points (at most 1000)")
    points = []
    for i, point in enumerate(value):
        numbers = _number_list(f, f"{name}[{i}]", point)
        if f.point_len is not None and len(numbers) != f.point_len:
            raise ConfigError(f"{name}[{i}]", point, f"must have exactly {f.point_len} numbers")
        points.append(numbers)
    return tuple(points)


def _check_pointsets(f: Field, name: str, value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of point lists")
    return tuple(_check_points(f, f"{name}[{i}]", points) for i, points in enumerate(value))


def _check_matrices(f: Field, name: str, value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of square matrices")
    matrices = []
    for i, matrix in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(matrix, (list, tuple)) or len(matrix) == 0:
            raise ConfigError(where, matrix, "must be a square matrix (a list of rows)")
        rows = tuple(_number_list(f, f"{where}[{r}]", row) for r, row in enumerate(matrix))
        size = len(rows)
        if any(len(row) != size for row in rows):
            shape = f"{size}×{'/'.join(str(len(r)) for r in rows)}"
            raise ConfigError(where, matrix, f"must be square (got {shape})")
        matrices.append(rows)
    return tuple(matrices)


def _check_choice_list(f: Field, name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, f"must be a non-empty list of names out of {', '.join(f.choices)}")
    for item in value:
        if not isinstance(item, str) or item not in f.choices:
            raise ConfigError(name, value, f"unknown name {item!r}: must be out of {', '.join(f.choices)}")
    if len(set(value)) != len(value):
        raise ConfigError(name, value, "lists a name twice")
    return tuple(value)


_CHECKERS = {
    "float": _check_float,
    "int": _check_int,
    "choice": _check_choice,
    "bool": _check_bool,
    "str": _check_str,
    "vector": _check_vector,
    "range": _check_range_pair,
    "ints": _check_ints,
    "points": _check_points,
    "pointsets": _check_pointsets,
    "matrices": _check_matrices,
    "choice_list": _check_choice_list,
}

# tasks × parameters above this would need gigabytes for the paths of one meta-step
MAX_TASK_NUMBERS = 20_000_000

ALGORITHMS = ("maml", "fomaml", "reptile", "imaml", "tr_maml", "pretrain", "tree_maml", "b_small",
              "metanas")
METANAS_OPS = ("relu", "tanh", "sin", "identity")

FIELDS: tuple[Field, ...] = (
    Field("algorithm", "choice", "maml", "Meta-learning algorithm.", choices=ALGORITHMS,
          group="algorithm"),
    Field("theta0", "vector", None,
          "Initial meta-parameters θ₀ (2 numbers for softplus/rbf, d for quadratic).",
          label="θ₀", nullable=True, null_means="the task family's default starting point",
          group="algorithm"),
    Field("inner_lr", "float", 0.1, "Inner-loop (adaptation) learning rate α.", label="inner lr α",
          hot=True, low=0.0, high=100.0, log_scale=True, formula="φʲ⁺¹ = φʲ − α ∇Lˢ(φʲ)"),
    Field("inner_steps", "int", 1, "Number of inner-loop gradient steps k per task.",
          label="inner steps k", hot=True, low=1, high=1000, formula="φ = φᵏ"),
    Field("outer_optimizer", "choice", "sgd", "Optimizer of the outer (meta) update.",
          label="outer optimizer", choices=("sgd", "adam")),
    Field("outer_lr", "float", 0.1,
          "Outer learning rate β (for Reptile: the interpolation step ε).", label="outer lr β",
          hot=True, low=0.0, high=100.0, log_scale=True,
          formula="θ ← θ − β · meanᵢ gᵢ   (Reptile: θ ← θ + ε · meanᵢ(φᵢ − θ))"),
    Field("meta_batch", "int", None, "Tasks per meta-step, sampled from the task pool.",
          label="meta-batch", nullable=True, low=1, high=10_000,
          null_means="all tasks of the pool every step"),
    Field("imaml_lambda", "float", 1.0, "iMAML proximal regularisation strength λ.",
          label="iMAML λ", hot=True, low=0.0, low_open=True, high=1e6, log_scale=True,
          formula="φᵢ ≈ argmin Lᵢˢ(φ) + λ/2 ‖φ − θ‖²,  gᵢ = (I + ∇²Lᵢˢ(φᵢ)/λ)⁻¹ ∇Lᵢq(φᵢ)",
          group="imaml"),
    Field("cg_steps", "int", 5, "Conjugate-gradient iterations for iMAML's implicit gradient.",
          label="CG steps", hot=True, low=1, high=500, group="imaml"),
    Field("cg_damping", "float", 0.0,
          "Damping δ added to the Hessian in iMAML's linear system (robust when ∇²L is indefinite).",
          label="CG damping δ", hot=True, low=0.0, high=1e4,
          formula="solve (I + (∇²Lˢ + δI)/λ) g = ∇Lq", group="imaml"),
    Field("cg_tol", "float", 1e-10,
          "Relative residual at which CG stops early (‖r‖ ≤ tol · ‖∇Lq‖).", label="CG tolerance",
          hot=True, low=0.0, high=1.0, group="imaml"),
    Field("tr_lr", "float", 0.1, "TR-MAML step size η_p of the projected ascent on task weights.",
          label="TR-MAML η_p", hot=True, low=0.0, high=100.0, log_scale=True,
          formula="p ← Proj_Δ(p + η_p · F(θ))", group="tr_maml"),
    Field("tree_clusters", "points", None,
          "FixedTreeMAML: one list of cluster labels per inner step (a label per pool task), "
          "nested from coarse (step 1) to fine; steps beyond the list reuse its last level.",
          label="tree clusters", nullable=True, group="tree_maml",
          null_means="the learned tree: clusters cut at tree_thresholds",
          formula="φʲ = φʲ⁻¹ − α · Mⱼ · ∇Lˢ(φʲ⁻¹),  Mⱼ[i,m] = 1[m ∈ Cⱼ(i)] / |Cⱼ(i)|"),
    Field("tree_thresholds", "vector", (1.0, 0.0),
          "Learned tree: one cosine-distance cut per inner step for average-linkage clustering "
          "of the task gradients within the parent cluster (0: every task alone, 2: one "
          "cluster); steps beyond the list reuse its last cut.",
          label="tree cuts τ", hot=True, low=0.0, high=2.0, group="tree_maml"),
    Field("tree_first_order", "bool", False,
          "TreeMAML without the Hessians: gᵢ = ∇Lᵢq(φᵢᵏ) along the pooled path.",
          label="TreeMAML first order", hot=True, group="tree_maml"),
    Field("bsmall_lambda", "float", 1e-3,
          "B-SMALL weight λ of the KL term (sparse variational dropout) in the inner and outer "
          "objectives.", label="B-SMALL λ", hot=True, low=0.0, high=100.0, log_scale=True,
          formula="ℒᵢ = MSE + λ · KL(q(w) ‖ log-uniform)", group="b_small"),
    Field("bsmall_log_sigma0", "float", -4.0,
          "Initial log σ of every weight of the B-SMALL network.", label="B-SMALL log σ₀",
          low=-20.0, high=5.0, group="b_small"),
    Field("bsmall_noise", "bool", True,
          "Sample the local-reparameterisation noise in training (off: deterministic forward).",
          label="B-SMALL noise", hot=True, group="b_small"),
    Field("metanas_ops", "choice_list", METANAS_OPS,
          "Candidate non-linearities of each hidden layer's DARTS mixed operation.",
          label="MetaNAS operations", choices=METANAS_OPS, group="metanas",
          formula="ō(x) = Σₒ softmax(a/T)ₒ · o(x)"),
    Field("metanas_temperature", "vector", (1.0, 0.05),
          "Softmax temperature [t_max, t_min], annealed linearly over the inner steps.",
          label="MetaNAS temperature", hot=True, low=1e-3, high=100.0, group="metanas",
          formula="T_j = t_max − j (t_max − t_min) / (k − 1)"),
    Field("metanas_inner_optimizer", "choice", "adam",
          "Task optimiser of weights and architecture (Adam with β₁ = 0 as the authors, or SGD).",
          label="MetaNAS inner optimizer", hot=True, choices=("adam", "sgd"), group="metanas"),
    Field("metanas_arch_outer_lr", "float", 0.6,
          "Reptile interpolation rate λ_a of the architecture logits (the weights use outer lr); "
          "exact with the SGD outer optimizer (Adam rescales every coordinate).",
          label="MetaNAS arch outer lr", hot=True, low=0.0, high=10.0, group="metanas",
          formula="a ← a + λ_a · meanᵢ(aᵢ − a)"),
    Field("metanas_warmup", "int", 0,
          "Meta-steps at the start with the architecture frozen (only the weights adapt).",
          label="MetaNAS warm-up", hot=True, low=0, high=10_000_000, group="metanas"),
    Field("metanas_prune", "float", 0.01,
          "Operations whose probability (softmax at T = 1) falls below this are pruned for good.",
          label="MetaNAS prune below", hot=True, low=0.0, high=1.0, group="metanas"),
    Field("metanas_prune_every", "int", 100,
          "Meta-steps between pruning passes (0: never prune).", label="MetaNAS prune every",
          hot=True, low=0, high=10_000_000, group="metanas"),
    Field("seed", "int", 0, "Seed of every random draw (tasks, data, meta-batches, MLP init).",
          low=0, high=2**31 - 1, group="run"),
    Field("device", "str", "auto",
          "Where training runs: auto, cpu, cuda, cuda:N or mps.", group="run"),
    Field("dtype", "choice", "auto",
          "Floating-point precision (auto: float64 for 2-parameter and quadratic tasks, "
          "float32 for the MLP).", choices=("auto", "float32", "float64"), group="run"),
    Field("steps", "int", 100, "Meta-steps of a headless run.", low=0, high=10_000_000,
          group="run"),
    Field("record_paths", "choice", "full",
          "Which inner-loop points a trace stores (the MLP has 1,761 numbers per point).",
          label="record paths", choices=("full", "endpoints", "none"), group="run"),
)

FIELD_BY_NAME: Mapping[str, Field] = MappingProxyType({f.name: f for f in FIELDS})
HOT_FIELDS: frozenset[str] = frozenset(f.name for f in FIELDS if f.hot)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Config:
    """A validated, immutable configuration. Build it with :func:`make_config`."""

    # No defaults here: they live in FIELDS, and make_config() fills them in.
    algorithm: str
    task: Mapping[str, Any]
    theta0: tuple[float, ...] | None
    inner_lr: float
    inner_steps: int
    outer_optimizer: str
    outer_lr: float
    meta_batch: int | None
    imaml_lambda: float
    cg_steps: int
    cg_damping: float
    cg_tol: float
    tr_lr: float
    tree_clusters: tuple[tuple[float, ...], ...] | None
    tree_thresholds: tuple[float, ...]
    tree_first_order: bool
    bsmall_lambda: float
    bsmall_log_sigma0: float
    bsmall_noise: bool
    metanas_ops: tuple[str, ...]
    metanas_temperature: tuple[float, ...]
    metanas_inner_optimizer: str
    metanas_arch_outer_lr: float
    metanas_warmup: int
    metanas_prune: float
    metanas_prune_every: int
    seed: int
    device: str
    dtype: str
    steps: int
    record_paths: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists, not tuples)."""
        return {f.name: _thaw(getattr(self, f.name)) for f in dc_fields(self)}

    def hot_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(HOT_FIELDS)}

    def with_changes(self, changes: Mapping[str, Any]) -> "Config":
        """Validated copy with ``changes`` applied (dotted keys such as ``task.n_tasks`` allowed)."""
        data = self.to_dict()
        for key, value in changes.items():
            _set_dotted(data, key, value)
        return make_config(data)

    @property
    def family(self) -> str:
        return self.task["family"]


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("task."):
        sub = key[len("task."):]
        if sub == "family":
            data["task"] = {"family": value}  # a new family starts from its own defaults
        else:
            data.setdefault("task", {})[sub] = value
    else:
        data[key] = value


assert [f.name for f in FIELDS] == [f.name for f in dc_fields(Config) if f.name != "task"], (
    "FIELDS and Config must list the same settings in the same order"
)


def make_config(data: Mapping[str, Any] | None = None) -> Config:
    """Validate a (possibly partial) mapping of settings and fill in defaults.

    Unknown keys are an error. Raises :class:`ConfigError` on the first problem found.
    """
    from maml_gui.core.tasks import validate_task  # tasks import config: keep the cycle lazy

    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("config", data, "must be a JSON object")
    data = dict(data)
    data.pop("schema_version", None)
    unknown = sorted(set(data) - set(FIELD_BY_NAME) - {"task"})
    if unknown:
        allowed = ", ".join(["task", *FIELD_BY_NAME])
        raise ConfigError(unknown[0], data[unknown[0]], f"unknown setting (known: {allowed})")
    values: dict[str, Any] = {}
    for f in FIELDS:
        values[f.name] = f.validate(data.get(f.name, f.default))
    task = validate_task(data.get("task", {}))
    values["task"] = _freeze(task)
    config = Config(**values)
    _check_cross_field(config)
    return config


def _check_cross_field(config: Config) -> None:
    from maml_gui.core.algorithms import ALGORITHMS as REGISTRY  # algorithms import config
    from maml_gui.core.tasks import make_family

    family = make_family(config.task)
    algorithm = REGISTRY[config.algorithm]
    algorithm.check_config(config, family)
    family = algorithm.model(family, config)  # B-SMALL and MetaNAS add parameter blocks
    family.check_config(config)
    if config.device not in ("auto", "cpu", "mps", "cuda") and not (
        config.device.startswith("cuda:") and config.device[5:].isdigit()
    ):
        raise ConfigError("device", config.device, "must be auto, cpu, cuda, cuda:N or mps")
    pool = family.pool_size()
    per_step = family.tasks_per_step() if pool is None else pool
    if per_step * family.param_dim > MAX_TASK_NUMBERS:
        raise ConfigError("task.n_tasks", per_step,
                          f"{per_step} tasks × {family.param_dim} parameters is too large to run "
                          f"interactively (at most {MAX_TASK_NUMBERS:,} numbers)")
    if config.meta_batch is not None and pool is not None and config.meta_batch > pool:
        raise ConfigError("meta_batch", config.meta_batch,
                          f"larger than the {pool} tasks of the pool (task.n_tasks)")
    from maml_gui.core.budget import check_budget, training_terms

    check_budget(training_terms(config))  # before anything is allocated
    if config.algorithm == "tr_maml" and pool is None:
        raise ConfigError("algorithm", "tr_maml",
                          "TR-MAML weights a fixed set of training tasks: set task.fixed_tasks = true")


def load_config_file(path: str | Path) -> Config:
    """Read a JSON config file; every problem becomes a :class:`ConfigError` with the file's name."""
    from maml_gui.core.safe_read import InputFileError, read_json

    path = Path(path)
    try:
        data = read_json(path, what="config")
    except InputFileError as exc:
        raise ConfigError("config", str(path), str(exc)) from None
    return config_from_json(data, str(path))


def config_from_json(data: Any, source: str) -> Config:
    """A config from parsed JSON: a config, or a trace, export or session holding one under
    ``config``; :class:`ConfigError` naming ``source`` otherwise."""
    if not isinstance(data, dict):
        raise ConfigError("config", source, "must hold a JSON object")
    if "config" in data and isinstance(data["config"], dict) and "algorithm" not in data:
        data = data["config"]  # a trace, export or session file: use its embedded config
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise ConfigError("schema_version", version,
                          f"made by a newer maml-gui (this one reads up to {SCHEMA_VERSION})")
    return make_config(data)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from ``--set``; the value is JSON when it parses, else a string."""
    from maml_gui.core.safe_read import InputFileError, JSONSyntaxError, parse_json

    if "=" not in text:
        raise ConfigError("--set", text, "must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = parse_json(raw, f"the value of {key}")
    except JSONSyntaxError:
        value = raw
    except InputFileError as exc:  # too deep, or a number too long
        raise ConfigError("--set", key, str(exc)) from None
    return key, value


def config_json(config: Config) -> dict[str, Any]:
    """The config as stored in traces, exports and sessions (with its schema version)."""
    return {"schema_version": SCHEMA_VERSION, **config.to_dict()}


__all__ = [
    "ALGORITHMS", "Config", "ConfigError", "FIELDS", "FIELD_BY_NAME", "Field", "HOT_FIELDS",
    "SCHEMA_VERSION", "config_from_json", "config_json", "load_config_file", "make_config", "parse_assignment",
]
