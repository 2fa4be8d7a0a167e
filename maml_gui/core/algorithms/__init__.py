"""Meta-learning algorithms, registered by name."""

from __future__ import annotations

from maml_gui.core.algorithms.b_small import BSMALL
from maml_gui.core.algorithms.base import Algorithm, MetaGradient
from maml_gui.core.algorithms.fomaml import FOMAML
from maml_gui.core.algorithms.imaml import IMAML
from maml_gui.core.algorithms.itaml import ITAML
from maml_gui.core.algorithms.maml import MAML
from maml_gui.core.algorithms.metanas import MetaNAS
from maml_gui.core.algorithms.pretrain import Pretrain
from maml_gui.core.algorithms.reptile import Reptile
from maml_gui.core.algorithms.tr_maml import TRMAML
from maml_gui.core.algorithms.tree_maml import TreeMAML
from maml_gui.core.config import ALGORITHMS as CONFIG_ALGORITHMS
from maml_gui.core.config import Config
from maml_gui.core.tasks import TaskFamily, make_family

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (MAML, FOMAML, Reptile, IMAML, TRMAML, Pretrain, TreeMAML, BSMALL,
                              MetaNAS,
                              ITAML)
}
assert tuple(ALGORITHMS) == CONFIG_ALGORITHMS, "config.ALGORITHMS must list the registry's names"


def algorithm_label(name: str) -> str:
    """The short display name of algorithm ``name`` (``name`` itself if unknown)."""
    cls = ALGORITHMS.get(name)
    return cls.short_label if cls is not None else name


def make_algorithm(name: str, family: TaskFamily, pool_size: int | None) -> Algorithm:
    return ALGORITHMS[name](family, pool_size)


def make_model(config: Config) -> TaskFamily:
    """The parameterised model ``config`` trains: its task family, with the parameter blocks
    its algorithm adds (B-SMALL's log σ, MetaNAS's architecture logits); the same as
    ``make_family(config)``, whose table (:mod:`maml_gui.core.tasks.models`) builds it."""
    return make_family(config)


__all__ = ["ALGORITHMS", "Algorithm", "MetaGradient", "algorithm_label", "make_algorithm",
           "make_model"]
