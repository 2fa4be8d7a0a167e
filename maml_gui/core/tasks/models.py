"""Which model an algorithm trains on a task family: the family itself, or the family with the
parameter blocks the algorithm adds (B-SMALL's log σ, MetaNAS's architecture logits).

The table lives beside the families, under both the config (which validates against the model)
and the algorithms (which train it), so neither has to import the other to build one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from maml_gui.core.fields import ConfigError
from maml_gui.core.tasks.base import TaskFamily
from maml_gui.core.tasks.mixed_op_sinusoid import MixedOpSinusoid
from maml_gui.core.tasks.svdo_sinusoid import SVDOSinusoid

if TYPE_CHECKING:  # the config imports this module: at run time only its values are read
    from maml_gui.core.config import Config


@dataclass(frozen=True)
class ModelBlocks:
    """An algorithm's own model: the family it needs and how to build the model from it.

    Attributes
    ----------
    family : the task family the blocks are built on.
    why : the reason, shown when a config pairs the algorithm with another family.
    build : ``(family, config) -> model``, from cold settings only.
    """

    family: str
    why: str
    build: Callable[[TaskFamily, "Config"], TaskFamily]


MODEL_BLOCKS: dict[str, ModelBlocks] = {
    "b_small": ModelBlocks(
        "sinusoid", "B-SMALL's sparse variational dropout is built on the sinusoid MLP",
        lambda family, config: SVDOSinusoid(family.params, config.bsmall_log_sigma0)),
    "metanas": ModelBlocks(
        "sinusoid", "MetaNAS searches the sinusoid MLP's non-linearities",
        lambda family, config: MixedOpSinusoid(family.params, config.metanas_ops)),
}


def check_model(config: "Config", family: TaskFamily) -> None:
    """Refuse a family the algorithm's own model cannot be built on (:class:`ConfigError`)."""
    blocks = MODEL_BLOCKS.get(config.algorithm)
    if blocks is not None and family.name != blocks.family:
        raise ConfigError("algorithm", config.algorithm,
                          f"{blocks.why}: set task.family = {blocks.family}")


def model_for(config: "Config", family: TaskFamily) -> TaskFamily:
    """The model ``config``'s algorithm trains on ``family`` (``config.task``'s family)."""
    blocks = MODEL_BLOCKS.get(config.algorithm)
    if blocks is None:
        return family
    check_model(config, family)
    return blocks.build(family, config)


__all__ = ["MODEL_BLOCKS", "ModelBlocks", "check_model", "model_for"]
