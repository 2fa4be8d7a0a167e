"""One table of fields drives validation, defaults, help text and hot/cold marking.

The panel, the command line (`--set key=value`) and session files are all checked against
:data:`FIELDS` and the task families' own tables, so every range is written once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields as dc_fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

# Field and ConfigError live in core/fields (the task families use them too); importing them
# from here keeps working.
from maml_gui.core.algorithm_checks import check_algorithm_settings
from maml_gui.core.fields import ConfigError, Field
from maml_gui.core.tasks import make_family, validate_task

SCHEMA_VERSION = 1

# tasks × parameters above this would need gigabytes for the paths of one meta-step
MAX_TASK_NUMBERS = 20_000_000

ALGORITHMS = ("maml", "fomaml", "reptile", "imaml", "tr_maml", "pretrain", "tree_maml", "b_small",
              "metanas",
              "itaml")
METANAS_OPS = ("relu", "tanh", "sin", "identity")
ITAML_VARIANTS = ("paper", "code", "replay", "naive")

FIELDS: tuple[Field, ...] = (
    Field("algorithm", "choice", "maml", "Meta-learning algorithm.", choices=ALGORITHMS,
          group="algorithm"),
    Field("theta0", "vector", None,
          "Initial meta-parameters θ₀ (2 numbers for softplus/rbf, d for quadratic).",
          label="θ₀", nullable=True, null_means="the task family's default starting point",
          group="algorithm"),
    Field("inner_lr", "float", 0.1, "Inner-loop (adaptation) learning rate α.", label="inner lr α",
          hot=True, low=0.0, high=100.0, log_scale=True, formula="φʲ⁺¹ = φʲ − α ∇Lˢ(φʲ)",
          symbol="α"),
    Field("inner_steps", "int", 1, "Number of inner-loop gradient steps k per task.",
          label="inner steps k", hot=True, low=1, high=1000, formula="φ = φᵏ", symbol="k"),
    Field("outer_optimizer", "choice", "sgd", "Optimizer of the outer (meta) update.",
          label="outer optimizer", choices=("sgd", "adam"), symbol="opt"),
    Field("outer_lr", "float", 0.1,
          "Outer learning rate β (for Reptile: the interpolation step ε).", label="outer lr β",
          hot=True, low=0.0, high=100.0, log_scale=True,
          formula="θ ← θ − β · meanᵢ gᵢ   (Reptile: θ ← θ + ε · meanᵢ(φᵢ − θ))", symbol="β"),
    Field("meta_batch", "int", None, "Tasks per meta-step, sampled from the task pool.",
          label="meta-batch", nullable=True, low=1, high=10_000,
          null_means="all tasks of the pool every step"),
    Field("imaml_lambda", "float", 1.0, "iMAML proximal regularisation strength λ.",
          label="iMAML λ", hot=True, low=0.0, low_open=True, high=1e6, log_scale=True,
          formula="φᵢ ≈ argmin Lᵢˢ(φ) + λ/2 ‖φ − θ‖²,  gᵢ = (I + ∇²Lᵢˢ(φᵢ)/λ)⁻¹ ∇Lᵢq(φᵢ)",
          group="imaml", symbol="λ"),
    Field("cg_steps", "int", 5, "Conjugate-gradient iterations for iMAML's implicit gradient.",
          label="CG steps", hot=True, low=1, high=500, group="imaml", symbol="m"),
    Field("cg_damping", "float", 0.0,
          "Damping δ added to the Hessian in iMAML's linear system (robust when ∇²L is indefinite).",
          label="CG damping δ", hot=True, low=0.0, high=1e4,
          formula="solve (I + (∇²Lˢ + δI)/λ) g = ∇Lq", group="imaml", symbol="δ"),
    Field("cg_tol", "float", 1e-10,
          "Relative residual at which CG stops early (‖r‖ ≤ tol · ‖∇Lq‖).", label="CG tolerance",
          hot=True, low=0.0, high=1.0, group="imaml", symbol="tol"),
    Field("tr_lr", "float", 0.1, "TR-MAML step size η_p of the projected ascent on task weights.",
          label="TR-MAML η_p", hot=True, low=0.0, high=100.0, log_scale=True,
          formula="p ← Proj_Δ(p + η_p · F(θ))", group="tr_maml", symbol="η_p"),
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
    # --- iTAML (issue 15) ---
    Field("itaml_variant", "choice", "paper",
          "iTAML's rule: paper (every present task adapts from the same base), code (the "
          "released code: the tasks adapt one after another), or a baseline on the same stream: "
          "replay (plain SGD on new data ∪ memory) or naive (plain SGD on the new task only).",
          label="iTAML variant", hot=True, choices=ITAML_VARIANTS, group="itaml",
          formula="Φ ← μₛ · meanᵢ Φᵢ + (1 − μₛ) · Φ_base"),
    Field("itaml_memory", "int", 20,
          "Exemplar memory M: after session s each seen class keeps its first ⌊M/((s+1)·C)⌋ "
          "exemplars (0: no memory).", label="iTAML memory M", low=0, high=1_000_000,
          group="itaml", symbol="M"),
    Field("itaml_decay", "float", 1.0,
          "Decay β of the interpolation weight μₛ = exp(−β·s/T) (0: μ = 1, the plain mean).",
          label="iTAML decay", hot=True, low=0.0, high=100.0, group="itaml",
          formula="μₛ = exp(−β · s / T)", symbol="β_decay"),
    Field("itaml_session_steps", "int", 50,
          "Meta-steps (minibatches) per session; task s arrives at step s × this.",
          label="iTAML steps per session", low=1, high=10_000_000, group="itaml"),
    Field("itaml_batch", "int", 32,
          "Exemplars per minibatch, drawn from the session's data.", label="iTAML batch",
          nullable=True, low=1, high=1_000_000, group="itaml",
          null_means="all of the session's data every step"),
    Field("seed", "int", 0, "Seed of every random draw (tasks, data, meta-batches, MLP init).",
          low=0, high=2**31 - 1, group="run"),
    Field("device", "str", "auto",
          "Where training runs: auto, cpu, cuda, cuda:N or mps.", group="run"),
    Field("dtype", "choice", "auto",
          "Floating-point precision (auto: float64 for 2-parameter and quadratic tasks, "
          "float32 for the MLP).", choices=("auto", "float32", "float64"), group="run"),
    Field("steps", "int", 100, "Meta-steps of a headless run.", low=0, high=10_000_000,
          group="run"),
    Field("record_paths", "choice", "auto",
          "Which inner-loop points a trace stores on recorded steps (the sinusoid MLP has "
          "1,761 numbers per point). auto: full up to 64 parameters, none above.",
          label="record paths", choices=("auto", "full", "endpoints", "none"), group="run"),
    Field("record_every", "int", None,
          "A trace stores θ, the meta-gradients and the paths every this many steps (and at the "
          "last step); losses are stored every step.", label="record every", nullable=True,
          low=1, high=10_000_000, group="run",
          null_means="by model size: every step up to 64 parameters, else 10^⌈log₁₀(P/20)⌉ "
                     "(100 for the sinusoid MLP)"),
    Field("record_task_grads", "choice", "auto",
          "Whether a trace stores every task's meta-gradient gᵢ on recorded steps "
          "(n × P numbers). auto: on up to 64 parameters, off above.",
          label="record task grads", choices=("auto", "on", "off"), group="run"),
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
    itaml_variant: str
    itaml_memory: int
    itaml_decay: float
    itaml_session_steps: int
    itaml_batch: int | None
    seed: int
    device: str
    dtype: str
    steps: int
    record_paths: str
    record_every: int | None
    record_task_grads: str

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
    family = make_family(config.task)
    check_algorithm_settings(config, family)
    family = make_family(config)  # B-SMALL and MetaNAS add parameter blocks
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
