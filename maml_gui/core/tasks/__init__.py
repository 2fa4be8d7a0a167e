"""Task families, registered by name."""

from __future__ import annotations

from typing import Any, Mapping

from maml_gui.core.fields import ConfigError
from maml_gui.core.tasks.base import QUERY, SUPPORT, TaskBatch, TaskFamily
from maml_gui.core.tasks.blobs import BlobsFamily
from maml_gui.core.tasks.models import model_for
from maml_gui.core.tasks.quadratic import QuadraticFamily
from maml_gui.core.tasks.rbf import RBFFamily
from maml_gui.core.tasks.sinusoid import SinusoidFamily
from maml_gui.core.tasks.softplus import SoftplusFamily

FAMILIES: dict[str, type[TaskFamily]] = {
    cls.name: cls for cls in (SoftplusFamily, RBFFamily, QuadraticFamily, SinusoidFamily,
                              BlobsFamily)
}
DEFAULT_FAMILY = "softplus"


def get_family(name: str) -> type[TaskFamily]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError("task.family", name,
                          f"unknown task family: must be one of {', '.join(FAMILIES)}") from None


def validate_task(raw: Any) -> dict[str, Any]:
    """Validate the ``task`` object of a config and fill in the family's defaults."""
    if not isinstance(raw, Mapping):
        raise ConfigError("task", raw, "must be an object with a 'family' and its parameters")
    raw = dict(raw)
    family = raw.pop("family", DEFAULT_FAMILY)
    if not isinstance(family, str):
        raise ConfigError("task.family", family, f"must be one of {', '.join(FAMILIES)}")
    cls = get_family(family)
    return {"family": family, **cls.validate_params(raw)}


def make_family(task: Mapping[str, Any] | Any) -> TaskFamily:
    """The family instance for a validated ``task`` mapping.

    Given a whole config, the model that config trains: the family with the parameter blocks
    its algorithm adds (B-SMALL's log σ, MetaNAS's architecture logits).
    """
    if not isinstance(task, Mapping):  # a Config (not imported: config imports this package)
        return model_for(task, make_family(task.task))
    params = {k: v for k, v in task.items() if k != "family"}
    return get_family(task["family"])(params)


__all__ = [
    "FAMILIES", "QUERY", "SUPPORT", "TaskBatch", "TaskFamily", "get_family", "make_family",
    "validate_task",
]
