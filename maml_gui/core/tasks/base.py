"""The protocol every task family follows.

Losses are written for batches: ``theta`` has shape ``(..., n, P)`` (any leading dimensions,
then one row per task) and the task tensors have a leading dimension ``n``. The result has
shape ``(..., n)``. The same code therefore evaluates one meta-step's tasks, a whole
landscape grid of θ values times tasks, and per-task gradients by a single backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np
import torch

from maml_gui.core.fields import ConfigError, Field

if TYPE_CHECKING:  # config imports the families: at run time they need only its fields
    from maml_gui.core.config import Config

SUPPORT = "support"
QUERY = "query"


@dataclass(frozen=True)
class TaskBatch:
    """The tensors of ``n`` tasks (leading dimension ``n``) and their ids in the task pool.

    ``ids`` are pool indices for fixed task sets and ``-1`` for tasks drawn fresh each step.
    """

    tensors: Mapping[str, torch.Tensor]
    ids: np.ndarray

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def select(self, index: torch.Tensor | np.ndarray | list[int]) -> "TaskBatch":
        index_t = torch.tensor(np.asarray(index), dtype=torch.long)
        tensors = {k: v[index_t.to(v.device)] for k, v in self.tensors.items()}
        return TaskBatch(tensors, self.ids[np.asarray(index, dtype=np.int64)])

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "TaskBatch":
        tensors = {
            k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
            for k, v in self.tensors.items()
        }
        return TaskBatch(tensors, self.ids)

    def with_tensor(self, key: str, value: torch.Tensor) -> "TaskBatch":
        return TaskBatch({**self.tensors, key: value}, self.ids)

    def numpy(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.tensors.items()}


def n_tasks_field(default: int | None, high: int, help_text: str, null_means: str = "") -> Field:
    return Field("n_tasks", "int", default, help_text, label="tasks", low=1, high=high,
                 nullable=null_means != "", null_means=null_means, group="task")


class TaskFamily:
    """A family of tasks; an instance is bound to one validated set of family parameters."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]]
    #: names of the two parameters for axis labels, or None for high-dimensional models
    axis_names: ClassVar[tuple[str, str] | None] = None
    default_dtype: ClassVar[torch.dtype] = torch.float64
    has_data: ClassVar[bool] = False
    #: the task family's optimum per task can be moved on the canvas
    movable_optima: ClassVar[bool] = False
    #: settings that suit this family, offered when a user switches to it in the window
    suggested: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any]):
        self.params = dict(params)

    # --- validation -------------------------------------------------------------------
    @classmethod
    def validate_params(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Check the family's parameters (``raw`` without ``family``) and fill defaults."""
        known = {f.name for f in cls.fields}
        unknown = sorted(set(raw) - known)
        if unknown:
            allowed = ", ".join(["family", *sorted(known)])
            raise ConfigError(f"task.{unknown[0]}", raw[unknown[0]],
                              f"unknown parameter of the {cls.name} family (known: {allowed})")
        values = {
            f.name: f.validate(raw.get(f.name, f.default), where=f"task.{f.name}") for f in cls.fields
        }
        cls.check_params(values)
        return values

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """Cross-field checks of the family's parameters; may fill derived values in place."""

    def check_config(self, config: Config) -> None:
        if config.theta0 is not None and len(config.theta0) != self.param_dim:
            raise ConfigError("theta0", list(config.theta0),
                              f"must have {self.param_dim} numbers for this {self.name} task")

    # --- shape of the problem ---------------------------------------------------------
    @property
    def param_dim(self) -> int:
        raise NotImplementedError

    def pool_size(self) -> int | None:
        """Number of fixed training tasks, or None when fresh tasks are drawn every step."""
        return int(self.params["n_tasks"])

    def tasks_per_step(self) -> int:
        return int(self.params["n_tasks"])

    def work_per_task(self, batch: TaskBatch) -> int:
        """Elements of the largest temporary one loss evaluation makes per task (for chunking)."""
        return self.param_dim

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """Named blocks of the flat parameter vector (rows of a weight matrix are filters)."""
        return [("theta", (self.param_dim,))]

    def blocks(self) -> list[dict[str, Any]]:
        """The layout as ``{"name", "start", "size", "shape"}`` entries (for traces and views)."""
        out, start = [], 0
        for name, shape in self.layout():
            size = int(np.prod(shape))
            out.append({"name": name, "start": start, "size": size, "shape": list(shape)})
            start += size
        return out

    # --- sampling ---------------------------------------------------------------------
    def make_pool(self, generator: torch.Generator) -> TaskBatch:
        """The fixed training tasks (only when :meth:`pool_size` is not None)."""
        raise NotImplementedError

    def sample_fresh(self, n: int, generator: torch.Generator) -> TaskBatch:
        """``n`` new tasks with new data (families with a task distribution)."""
        raise NotImplementedError

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    # --- losses -----------------------------------------------------------------------
    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        """Loss of every task at ``theta`` (shape ``(..., n, P)``), shape ``(..., n)``."""
        raise NotImplementedError

    #: ``gradient_step`` (and ``loss_and_grad``) are differentiable, so the engine's inner
    #: loop uses them, MAML's second-order graph included, not autograd's double backward
    differentiable_grad: ClassVar[bool] = False

    def parameter_views(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Rows ``(n, P)`` of θ as views, one per parameter block (families with
        ``differentiable_grad``)."""
        raise NotImplementedError

    def gradient_step(self, theta: torch.Tensor, batch: TaskBatch, lr: float,
                      split: str = SUPPORT) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every task's loss and gradient (both detached) at rows ``theta`` ``(n, P)``, and
        the step θ − lr·∇L(θ), differentiable (families with ``differentiable_grad``)."""
        raise NotImplementedError

    def loss_and_grad(
        self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Analytic loss and gradient without autograd, where the family has them (else None).

        Used by landscapes, which need many values and no graph, and by the training inner
        loop where ``differentiable_grad`` says so.
        """
        return None

    def adapted_query_losses(
        self, points: torch.Tensor, batch: TaskBatch, inner_lr: float, steps: int,
        proximal_lambda: float | None, chunk: int,
    ) -> torch.Tensor | None:
        """A family's own fast inner loop for landscapes: query losses ``(G, n)`` after
        adaptation from each θ in ``points`` ``(G, P)``, or None to use the generic path."""
        return None

    def optima(self, batch: TaskBatch) -> torch.Tensor | None:
        """Each task's known minimiser ``(n, P)``, where it is known in closed form."""
        return None

    def move_optimum(self, pool: TaskBatch, task_index: int, point: tuple[float, ...]) -> dict[str, Any]:
        """Family parameters with task ``task_index`` of ``pool`` moved so its optimum is ``point``."""
        raise NotImplementedError(f"the {self.name} family has no movable optima")

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        """A rectangle (xmin, xmax, ymin, ymax) of the 2-parameter space worth looking at."""
        return (0.0, 1.0, 0.0, 1.0)

    # --- function view ----------------------------------------------------------------
    def predict(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Model output at inputs ``x`` (shape ``(n, M)``) for parameters ``(..., n, P)``."""
        raise NotImplementedError(f"the {self.name} family has no data")

    def true_function(self, batch: TaskBatch, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"the {self.name} family has no data")

    def input_range(self) -> tuple[float, float]:
        return tuple(self.params["x_range"])  # type: ignore[return-value]


def uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float,
            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """U(low, high) draws from ``generator`` (always on the CPU, so seeds mean the same everywhere)."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)


def split_tensors(batch: TaskBatch, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of the support or query set; families without a separate query reuse the support."""
    if split == QUERY and "x_query" in batch.tensors:
        return batch["x_query"], batch["y_query"]
    return batch["x_support"], batch["y_support"]
