"""Settings that only one algorithm reads, checked when a config is made.

Config validation runs these before any algorithm is built; they sit under both
:mod:`maml_gui.core.config` and :mod:`maml_gui.core.algorithms`, so the config never imports
the algorithms (which import the config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from maml_gui.core.fields import ConfigError
from maml_gui.core.tasks import TaskFamily
from maml_gui.core.tasks.models import check_model

if TYPE_CHECKING:  # the config imports this module
    from maml_gui.core.config import Config


def check_tree_clusters(config: "Config", family: TaskFamily) -> None:
    """TreeMAML's fixed clusters: one integer label per pool task, nested step by step."""
    if config.tree_clusters is None:
        return
    pool = family.pool_size()
    if pool is None:
        raise ConfigError("tree_clusters", "...",
                          "fixed clusters label the tasks of a fixed pool: set "
                          "task.fixed_tasks = true or leave tree_clusters empty")
    previous = None
    for j, labels in enumerate(config.tree_clusters):
        where = f"tree_clusters[{j}]"
        if len(labels) != pool:
            raise ConfigError(where, list(labels), f"must give one label per pool task ({pool})")
        if any(not float(v).is_integer() for v in labels):
            raise ConfigError(where, list(labels), "labels must be integers")
        current = np.asarray(labels, dtype=np.int64)
        if previous is not None:
            same_now = current[:, None] == current[None, :]
            same_before = previous[:, None] == previous[None, :]
            if (same_now & ~same_before).any():
                raise ConfigError(where, list(labels),
                                  f"clusters must be nested: each must lie inside one "
                                  f"cluster of step {j}")
        previous = current


def check_metanas_temperature(config: "Config", family: TaskFamily) -> None:
    """MetaNAS anneals the softmax temperature downwards: [t_max, t_min]."""
    t = config.metanas_temperature
    if len(t) != 2 or t[0] < t[1]:
        raise ConfigError("metanas_temperature", list(t),
                          "must be [t_max, t_min] with t_max ≥ t_min")


def check_itaml_stream(config: "Config", family: TaskFamily) -> None:
    """iTAML walks a fixed stream of tasks and draws its own minibatches from it."""
    if family.pool_size() is None:
        raise ConfigError("algorithm", "itaml",
                          "iTAML needs a fixed stream of tasks: set task.fixed_tasks = true")
    if config.meta_batch is not None:
        raise ConfigError("meta_batch", config.meta_batch,
                          "iTAML draws its own minibatches from the stream (itaml_batch): "
                          "set meta_batch to null")


CHECKS: dict[str, Callable[["Config", TaskFamily], None]] = {
    "tree_maml": check_tree_clusters,
    "metanas": check_metanas_temperature,
    "itaml": check_itaml_stream,
}


def check_algorithm_settings(config: "Config", family: TaskFamily) -> None:
    """Refuse settings ``config``'s algorithm cannot run with on ``family`` (the plain task
    family): :class:`ConfigError` naming the field."""
    check_model(config, family)
    check = CHECKS.get(config.algorithm)
    if check is not None:
        check(config, family)


__all__ = ["CHECKS", "check_algorithm_settings", "check_itaml_stream", "check_metanas_temperature",
           "check_tree_clusters"]
