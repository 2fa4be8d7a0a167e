"""Comparing algorithms (or settings) on exactly the same problem, in lockstep.

Variants share everything that decides the problem (task family and its parameters, seed,
θ₀, meta-batch, device, precision): they then see the same pool, the same meta-batches and
the same initialisation, and differ only in the algorithm and its settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from maml_gui.core.algorithms import algorithm_label
from maml_gui.core.config import FIELD_BY_NAME, Config, ConfigError, parse_assignment

MIN_VARIANTS, MAX_VARIANTS = 2, 6
# Settings a variant may change; everything else must match so the task stream is shared.
VARIANT_KEYS = frozenset({
    "algorithm", "inner_lr", "inner_steps", "outer_optimizer", "outer_lr", "imaml_lambda",
    "cg_steps", "cg_damping", "cg_tol", "tr_lr",
    "tree_clusters", "tree_thresholds", "tree_first_order", "bsmall_lambda", "bsmall_noise",
    "metanas_temperature", "metanas_inner_optimizer",
    "metanas_arch_outer_lr", "metanas_warmup", "metanas_prune", "metanas_prune_every",
    "itaml_variant", "itaml_decay",
})


@dataclass(frozen=True)
class Variant:
    """One contestant: its label and full config."""

    label: str
    config: Config
    overrides: Mapping[str, Any]


def parse_overrides(text: str) -> dict[str, Any]:
    """``"inner_lr=0.05, inner_steps=3"`` → ``{"inner_lr": 0.05, "inner_steps": 3}``."""
    changes: dict[str, Any] = {}
    for part in (p.strip() for p in _top_level_parts(text.replace(";", ","))):
        if part:
            key, value = parse_assignment(part)
            changes[key] = value
    return changes


def _top_level_parts(text: str) -> list[str]:
    """``text`` split at commas outside brackets (list values such as tree_thresholds=[1, 0])."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    return parts + ["".join(current)]


def build_variants(base: Config, specs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Variant]:
    """Validated variants of ``base``: each spec is (algorithm, other settings to change).

    Raises :class:`ConfigError` for a bad value, a setting that would change the problem
    (so the runs would not share their tasks), or a count outside 2 … 6.
    """
    if not MIN_VARIANTS <= len(specs) <= MAX_VARIANTS:
        raise ConfigError("comparison", len(specs),
                          f"compare {MIN_VARIANTS} to {MAX_VARIANTS} variants")
    variants = []
    for index, (algorithm, overrides) in enumerate(specs):
        shared = sorted(set(overrides) - VARIANT_KEYS)
        if shared:
            raise ConfigError(f"variant {index + 1}: {shared[0]}", overrides[shared[0]],
                              "must be the same for every variant (it changes the tasks or "
                              f"θ₀); a variant may change only {', '.join(sorted(VARIANT_KEYS))}")
        try:
            config = base.with_changes({"algorithm": algorithm, **overrides})
        except ConfigError as exc:
            raise ConfigError(f"variant {index + 1}: {exc.field}", exc.value, exc.problem) from None
        variants.append(Variant(variant_label(algorithm, overrides), config, dict(overrides)))
    _check_same_model(variants)
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError("comparison", duplicates[0], "two variants are identical")
    return variants


def _check_same_model(variants: Sequence[Variant]) -> None:
    """Lockstep variants share θ₀: B-SMALL and MetaNAS train larger parameter vectors."""
    from maml_gui.core.tasks import make_family

    sizes = [make_family(v.config).param_dim for v in variants]
    for variant, size in zip(variants[1:], sizes[1:]):
        if size != sizes[0]:
            raise ConfigError("comparison", variant.label,
                              f"trains {size} parameters where {variants[0].label} trains "
                              f"{sizes[0]}: B-SMALL and MetaNAS add parameter blocks, so compare "
                              "them only with variants of themselves")


def variant_label(algorithm: str, overrides: Mapping[str, Any]) -> str:
    label = algorithm_label(algorithm)
    if overrides:
        settings = ", ".join(f"{FIELD_BY_NAME[k].short}={v:g}" if isinstance(v, (int, float))
                             else f"{FIELD_BY_NAME[k].short}={v}" for k, v in overrides.items())
        label += f" ({settings})"
    return label


def steps_to_target(losses: Iterable[float], steps: Iterable[int], target: float) -> int | None:
    """The first meta-step (1-based count of steps taken) whose loss is at most ``target``."""
    for step, loss in zip(steps, losses):
        if np.isfinite(loss) and loss <= target:
            return int(step) + 1
    return None


@dataclass(frozen=True)
class VariantMetrics:
    """A row of the comparison table."""

    label: str
    meta_loss: float  # post-adaptation meta-loss of the latest step
    worst_loss: float
    maml_cosine: float  # cos∠(gradient, exact MAML's gradient at the same θ)
    seconds_per_step: float  # mean wall time of the method's meta-step (excludes the reference)
    evaluations_per_step: float  # gradient evaluations + Hessian-vector products, all tasks
    steps_to_target: int | None
    diverged: bool


def metrics_for(label: str, history, target: float | None) -> VariantMetrics:
    """The table row of one variant from its :class:`~maml_gui.core.history.RunHistory`."""
    record = history.latest
    if record is None:
        nan = float("nan")
        return VariantMetrics(label, nan, nan, nan, nan, nan, None, False)
    recent = list(history.records)
    cosine = record.diagnostics.get("maml_cosine")
    return VariantMetrics(
        label=label,
        meta_loss=record.meta_loss_after,
        worst_loss=record.worst_loss_after,
        maml_cosine=float(cosine) if cosine is not None else float("nan"),
        seconds_per_step=float(np.mean(history.wall_times)) if len(history.wall_times) else 0.0,
        evaluations_per_step=float(np.mean([r.grad_evals + r.hvp_evals for r in recent])),
        steps_to_target=None if target is None else
        steps_to_target(history.loss_after, history.steps, target),
        diverged=record.diverged,
    )
