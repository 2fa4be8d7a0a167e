"""Meta-training as a plain generator of :class:`StepRecord`.

>>> gen = train(config)              # doctest: +SKIP
>>> record = next(gen)
>>> record = gen.send({"inner_lr": 0.05})   # hot change: applies from the next step on

Hot changes (learning rates, k, λ, CG settings) apply at the next step boundary and are
recorded in every record's ``hyper``. A step with non-finite values yields a record with
``diverged`` set and a reason, then the generator ends (it never raises for divergence).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Generator, Mapping

import numpy as np
import torch

from maml_gui.core.algorithms import ALGORITHMS, make_algorithm, make_model
from maml_gui.core.config import HOT_FIELDS, Config, ConfigError
from maml_gui.core.device import check_second_order, resolve_device
from maml_gui.core.divergence import any_bad, diagnose
from maml_gui.core.memory import keep_freed_memory
from maml_gui.core.optimizers import SGD, Adam, make_outer_optimizer
from maml_gui.core.tasks import TaskBatch, make_family
from maml_gui.core.trace import StepRecord, make_record


def resolve_dtype(config: Config) -> torch.dtype:
    if config.dtype == "auto":
        return make_family(config.task).default_dtype
    return {"float32": torch.float32, "float64": torch.float64}[config.dtype]


def seed_generators(seed: int, count: int) -> list[torch.Generator]:
    """Independent CPU generators for separate random streams derived from one seed."""
    states = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    return [torch.Generator().manual_seed(int(s) & (2**63 - 1)) for s in states]


def initial_theta(config: Config) -> np.ndarray:
    """θ₀ of a run of ``config``: the listed one, or the family's (seeded) default."""
    if config.theta0 is not None:
        return np.asarray(config.theta0, dtype=np.float64)
    _, init_gen, _ = seed_generators(config.seed, 3)
    return make_model(config).default_theta0(init_gen).double().numpy()


class MetaTrainer:
    """The state of one meta-training run; :meth:`step` performs one meta-step."""

    def __init__(self, config: Config, *, theta0: torch.Tensor | np.ndarray | None = None,
                 compare_to_maml: bool = False):
        keep_freed_memory()  # each step's ~1 MiB buffers: reused, not faulted in anew
        self.config = config
        self.family = make_model(config)  # the family, with the algorithm's parameter blocks
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config)
        if ALGORITHMS[config.algorithm].second_order or compare_to_maml:
            check_second_order(self.device, self.dtype, config.algorithm)
        pool_gen, _, self._stream = seed_generators(config.seed, 3)
        pool_size = self.family.pool_size()
        self.pool: TaskBatch | None = None
        if pool_size is not None:
            self.pool = self.family.make_pool(pool_gen).to(self.device, self.dtype)
        if theta0 is None:
            theta0 = initial_theta(config)
        self.theta = torch.tensor(np.asarray(theta0), dtype=self.dtype).to(self.device)
        self.algorithm = make_algorithm(config.algorithm, self.family, pool_size)
        # For comparisons: exact MAML's meta-gradient at the same θ, on the same tasks.
        self.reference = make_algorithm("maml", self.family, pool_size) if compare_to_maml else None
        self.optimizer = self._make_optimizer()
        self.step_index = 0
        self._previous: StepRecord | None = None  # for divergence diagnosis

    def _make_optimizer(self) -> SGD | Adam:
        return make_outer_optimizer(self.config.outer_optimizer, self.config.outer_lr)

    # --- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything that changes during a run, as exact numpy copies: θ, the step index,
        the outer optimizer's state, the algorithm's (TR-MAML's task weights) and the task
        stream's random state. The task pool and θ₀ follow from the config's seed."""
        state = {"theta": _numpy(self.theta).copy(),
                 "step_index": np.array(self.step_index, dtype=np.int64),
                 "stream": self._stream.get_state().numpy().copy()}
        state.update({f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()})
        state.update({f"algorithm.{k}": v for k, v in self.algorithm.state_dict().items()})
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from :meth:`state_dict`: the next :meth:`step` is the one that followed."""
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

        self.theta = torch.tensor(np.array(state["theta"])).to(self.device, self.dtype)
        self.step_index = int(state["step_index"])
        self._stream.set_state(torch.from_numpy(np.array(state["stream"], dtype=np.uint8)))
        self.optimizer.load_state_dict(part("optimizer."), self.theta)
        self.algorithm.load_state_dict(part("algorithm."))

    # --- changes during a run ---------------------------------------------------------
    def apply_changes(self, changes: Mapping[str, Any]) -> None:
        """Apply hot settings from the next step on; a cold one raises :class:`ConfigError`."""
        cold = sorted(set(changes) - HOT_FIELDS)
        if cold:
            raise ConfigError(cold[0], changes[cold[0]],
                              "cannot change during a run (it needs a restart)")
        self.config = self.config.with_changes(changes)
        self.optimizer.lr = self.config.outer_lr

    # --- one meta-step ----------------------------------------------------------------
    def next_batch(self) -> TaskBatch:
        meta_batch = self.config.meta_batch
        if self.pool is None:
            batch = self.family.sample_fresh(self.family.tasks_per_step(), self._stream)
            return batch.to(self.device, self.dtype)
        if meta_batch is None or meta_batch >= self.pool.n:
            return self.pool
        chosen = torch.randperm(self.pool.n, generator=self._stream)[:meta_batch]
        return self.pool.select(chosen.sort().values.numpy())

    def step(self) -> StepRecord:
        started = time.perf_counter()
        batch = self.next_batch()
        theta = self.theta.detach().clone()
        result = self.algorithm.meta_gradient(theta, batch, self.config)
        self.optimizer.lr = scheduled_lr(self.config, self.step_index)
        self.optimizer.step(self.theta, result.aggregate.detach().to(self.theta.dtype))
        arrays = {
            "theta": _numpy(theta), "paths": _numpy(result.paths),
            "loss_before": _numpy(result.loss_before), "loss_after": _numpy(result.loss_after),
            "inner_losses": _numpy(result.inner_losses), "task_meta_grads": _numpy(result.task_grads),
            "meta_grad": _numpy(result.aggregate), "theta_next": _numpy(self.theta),
        }
        diverged = any_bad(*arrays.values())
        if not diverged:  # state updates (TR-MAML's weights) need finite losses
            self.algorithm.post_step(result, batch, self.config)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - started
        if self.reference is not None:  # after the clock: the comparison is not the method's cost
            reference = result.aggregate if self.config.algorithm == "maml" else \
                self.reference.meta_gradient(theta, batch, self.config).aggregate
            result.diagnostics["maml_cosine"] = np.array(cosine(result.aggregate, reference))
        record = make_record(
            step=self.step_index,
            algorithm=self.config.algorithm,
            task_ids=batch.ids,
            inner_grad_norms=_numpy(result.inner_grad_norms),
            hyper=self.config.hot_values(),
            wall_time=elapsed,
            grad_evals=result.grad_evals,
            hvp_evals=result.hvp_evals,
            diagnostics=result.diagnostics,
            **arrays,
        )
        if diverged:
            record = dataclasses.replace(record, diverged=True, reason=diagnose(
                record, optimizer=self.config.outer_optimizer, previous=self._previous,
                replay=lambda start: self._replay(start, batch)))
        self._previous = record
        self.step_index += 1
        return record

    def _replay(self, theta: np.ndarray, batch: TaskBatch) -> np.ndarray:
        """Support losses along this step's inner loops started from another θ."""
        start = torch.tensor(np.array(theta), dtype=self.dtype, device=self.device)
        return _numpy(self.algorithm.adapt(start, batch, self.config).losses)


def scheduled_lr(config: Config, step: int) -> float:
    """β at meta-step ``step`` (from 0): constant, or falling linearly to 0 over ``config.steps``."""
    if config.outer_lr_decay == "linear":
        return config.outer_lr * max(0.0, 1.0 - step / config.steps) if config.steps else 0.0
    return config.outer_lr


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """cos∠(a, b); 0 when either is zero."""
    norms = float(a.norm() * b.norm())
    return float(torch.dot(a.flatten(), b.flatten())) / norms if norms > 0 else 0.0


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def train(config: Config, steps: int | None = None, *,
          theta0: torch.Tensor | np.ndarray | None = None,
          compare_to_maml: bool = False) -> Generator[StepRecord, Any, None]:
    """Yield one :class:`StepRecord` per meta-step (``steps`` of them, or forever if None).

    Send a mapping of hot settings to change them from the next step on. With
    ``compare_to_maml`` every record's ``diagnostics["maml_cosine"]`` holds the cosine between
    its meta-gradient and exact MAML's at the same θ on the same tasks.
    """
    trainer = MetaTrainer(config, theta0=theta0, compare_to_maml=compare_to_maml)
    count = 0
    while steps is None or count < steps:
        record = trainer.step()
        count += 1
        changes = yield record
        if record.diverged:
            return
        if changes:
            trainer.apply_changes(changes)
