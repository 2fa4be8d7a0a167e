"""Function space for tasks with data (softplus, sinusoid): fine-tuning on given points.

What the function view draws and what the few-shot benchmark measures, without Qt:

- :func:`fine_tune` / :func:`fine_tune_batch`: plain gradient descent on the support loss of
  the family from θ, with the engine's own inner loop (:func:`run_inner_loop`, so the path
  is the one a meta-step takes on the same points), the model's predictions on a dense x
  grid after every step and the query MSE after every step; with a :class:`Learner`, the
  algorithm's own adaptation instead (B-SMALL's data + λ·KL steps judged by the masked
  network, MetaNAS's DARTS steps under the falling temperature) and, for a stochastic
  model, its noise band (:func:`prediction_band`);
- :func:`train_model` / :func:`train_pretrained`: θ after N meta-steps of a config (the
  pretrained ERM baseline is the same config with ``algorithm = "pretrain"``), through
  :class:`MetaTrainer`;
- :func:`few_shot_comparison`: the article's sinusoid experiment (Finn et al. 2017 fig. 2):
  query MSE of the meta-learned and the pretrained model after 1, 5 and 10 fine-tuning
  steps on K points, averaged over many seeded test tasks, all tasks at once.

The support loss is the family's (softplus: ½·MSE, sinusoid: MSE), so the gradient steps are
exactly the engine's. Query errors are always the plain mean squared error
``mean (f(x) − y)²`` so that numbers from different families compare with the literature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from maml_gui.core.algorithms import make_algorithm, make_model
from maml_gui.core.algorithms.base import Algorithm, run_inner_loop
from maml_gui.core.config import Config, ConfigError
from maml_gui.core.tasks import SUPPORT, TaskBatch, TaskFamily, make_family
from maml_gui.core.trace import StepRecord
from maml_gui.core.training import MetaTrainer, seed_generators

GRID_POINTS = 200  # x values of a drawn curve: 1-D inputs, so this is cheap
BAND_SAMPLES = 32  # noise draws behind a prediction band (±2 std: ~1/6 relative error)
BAND_WIDTH = 2.0  # the band spans mean ± this many standard deviations
DEFAULT_STEPS = (1, 5, 10)  # the article's fine-tuning steps


def check_has_data(family: TaskFamily) -> None:
    """Raise :class:`ConfigError` for families without inputs and outputs (rbf, quadratic)."""
    if not family.has_data:
        raise ConfigError("task.family", family.name,
                          "has no data (x, y): the function view needs softplus or sinusoid")


def dense_grid(family: TaskFamily, count: int = GRID_POINTS) -> np.ndarray:
    """``count`` evenly spaced inputs over the family's input range."""
    low, high = family.input_range()
    return np.linspace(low, high, count)


def true_values(family: TaskFamily, tasks: TaskBatch, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Every task's noiseless true function at ``x`` (``(M,)`` shared or ``(n, M)``): ``(n, M)``."""
    dtype = _float_dtype(tasks)
    x_t = torch.as_tensor(np.array(x, dtype=np.float64), dtype=dtype)
    if x_t.dim() == 1:
        x_t = x_t.unsqueeze(0).expand(tasks.n, -1)
    with torch.no_grad():
        return family.true_function(tasks, x_t).cpu().numpy().astype(np.float64)


def points_batch(x_support: np.ndarray, y_support: np.ndarray, *,
                 x_query: np.ndarray | None = None, y_query: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64) -> TaskBatch:
    """A :class:`TaskBatch` of given points: rows are tasks, ``(K,)`` arrays make one task."""

    def rows(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.atleast_2d(np.array(values, dtype=np.float64)), dtype=dtype)

    tensors = {"x_support": rows(x_support), "y_support": rows(y_support)}
    if tensors["x_support"].shape != tensors["y_support"].shape:
        raise ValueError("x_support and y_support must have the same shape")
    if x_query is not None:
        tensors["x_query"], tensors["y_query"] = rows(x_query), rows(y_query)
    n = tensors["x_support"].shape[0]
    return TaskBatch(tensors, np.full(n, -1, dtype=np.int64))


def mse(family: TaskFamily, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``mean_m (f_θ(x_m) − y_m)²`` of every task: params ``(..., n, P)``,
    ``x``/``y`` ``(n, M)``; returns ``(..., n)``."""
    with torch.no_grad():
        return (family.predict(params, x) - y).square().mean(-1)


@dataclass(frozen=True)
class Learner:
    """An algorithm's own adaptation with a run's settings: what the function view fine-tunes
    with, so that B-SMALL adapts on data + λ·KL and MetaNAS with its DARTS steps, as they do
    in training (every other algorithm: plain gradient descent on the support loss)."""

    algorithm: Algorithm
    config: Config

    @property
    def family(self) -> TaskFamily:
        return self.algorithm.family

    def fine_tune(self, start: torch.Tensor, batch: TaskBatch, steps: int):
        return self.algorithm.fine_tune(start, batch, self.config, steps)

    def predict(self, phi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.algorithm.predict(phi, x, self.config)


def learner_for(config: Config) -> Learner:
    """The :class:`Learner` of ``config``'s algorithm on its model (a fresh algorithm state:
    MetaNAS with nothing pruned until :meth:`Algorithm.load_state_dict` says otherwise)."""
    model = make_model(config)
    return Learner(make_algorithm(config.algorithm, model, model.pool_size()), config)


@dataclass(frozen=True)
class PredictionBand:
    """A stochastic model's predictions after ``step`` fine-tuning steps: the mean over
    noise draws and mean ± :data:`BAND_WIDTH` standard deviations, each ``(G,)``."""

    step: int
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def prediction_band(learner: Learner, phi: torch.Tensor, x: torch.Tensor, step: int, *,
                    samples: int = BAND_SAMPLES, seed: int = 0) -> PredictionBand | None:
    """The noise band of one task's predictions at its adapted parameters.

    Parameters
    ----------
    phi : ``(P,)`` the task's parameters after ``step`` fine-tuning steps
    x : ``(G,)`` inputs
    samples, seed : noise draws, from a generator seeded by ``seed`` (a drawing never changes
        between refreshes)

    Returns None for a deterministic model (B-SMALL with ``bsmall_noise`` off, every other
    algorithm).
    """
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        draws = learner.algorithm.sample_predictions(phi.reshape(1, -1), x.reshape(1, -1),
                                                     learner.config, samples, generator)
    if draws is None:
        return None
    draws = draws[:, 0, :]  # (samples, G)
    mean, std = draws.mean(0), draws.std(0)
    return PredictionBand(step=int(step), mean=_frozen(mean),
                          low=_frozen(mean - BAND_WIDTH * std),
                          high=_frozen(mean + BAND_WIDTH * std))


@dataclass(frozen=True)
class FineTuneBatch:
    """Fine-tuning of ``n`` tasks for ``k`` steps (every array float64, read-only copies).

    ``paths[i, j]`` is task i's parameters after j steps (``paths[i, 0]`` = θ).
    """

    paths: np.ndarray  # (n, k+1, P)
    support_loss: np.ndarray  # (n, k+1): the family's support loss (NaN without points)
    query_mse: np.ndarray  # (n, k+1): MSE on the query points (NaN without them)
    predictions: np.ndarray | None  # (n, k+1, G) on x_eval, or None
    x_eval: np.ndarray | None  # (G,)

    @property
    def steps(self) -> int:
        return int(self.paths.shape[1]) - 1


@dataclass(frozen=True)
class FineTuneResult:
    """Fine-tuning of one model on one set of points, for drawing."""

    x: np.ndarray  # (G,) the dense grid
    predictions: np.ndarray  # (k+1, G): after 0 … k steps
    support_loss: np.ndarray  # (k+1,)
    query_mse: np.ndarray  # (k+1,)
    paths: np.ndarray  # (k+1, P)
    band: PredictionBand | None = None  # a stochastic model's noise band (B-SMALL)

    @property
    def steps(self) -> int:
        return int(self.predictions.shape[0]) - 1


def fine_tune_batch(family: TaskFamily, theta: np.ndarray | torch.Tensor,
                    x_support: np.ndarray, y_support: np.ndarray, inner_lr: float, steps: int, *,
                    x_query: np.ndarray | None = None, y_query: np.ndarray | None = None,
                    x_eval: np.ndarray | None = None,
                    dtype: torch.dtype = torch.float64,
                    learner: Learner | None = None) -> FineTuneBatch:
    """``steps`` gradient steps of size ``inner_lr`` on each task's support points, all at once.

    Parameters
    ----------
    theta : ``(P,)`` shared by every task, or ``(n, P)`` one start per task
    x_support, y_support : ``(n, K)`` (or ``(K,)`` for one task); ``K = 0`` means no
        adaptation (every step repeats θ)
    x_query, y_query : ``(n, Q)`` points the query MSE is measured on (optional)
    x_eval : ``(G,)`` inputs where predictions are returned (optional)
    learner : adapt and predict as this algorithm does (its own inner loop, settings and
        evaluation forward; its config's α then replaces ``inner_lr``); None: plain
        gradient descent with ``inner_lr``

    The steps are :func:`run_inner_loop`'s, on the family's support loss: the very path the
    engine's inner loop takes from θ on these points.
    """
    predict = family.predict if learner is None else learner.predict
    if steps < 0:
        raise ValueError("steps must be ≥ 0")
    batch = points_batch(x_support, y_support, x_query=x_query, y_query=y_query, dtype=dtype)
    n, k_points = batch["x_support"].shape
    start = torch.as_tensor(np.array(theta, dtype=np.float64), dtype=dtype)  # a writable copy
    start = torch.atleast_2d(start).expand(n, -1).clone()
    if k_points == 0 or steps == 0:
        path = start.unsqueeze(1).expand(n, steps + 1, -1).clone()
        with torch.no_grad():
            value = (family.loss(start, batch, SUPPORT) if k_points else
                     torch.full((n,), float("nan"), dtype=dtype))
        support = value.unsqueeze(1).expand(n, steps + 1)
    else:
        with torch.enable_grad():
            inner = (run_inner_loop(family, batch, start, float(inner_lr), int(steps),
                                    create_graph=False) if learner is None
                     else learner.fine_tune(start, batch, int(steps)))
        path, support = inner.points, inner.losses
    by_step = path.transpose(0, 1)  # (k+1, n, P): leading dimensions broadcast in predict
    if x_query is not None:
        with torch.no_grad():
            query = (predict(by_step, batch["x_query"]) - batch["y_query"]).square().mean(-1)
        query = query.transpose(0, 1)
    else:
        query = torch.full((n, steps + 1), float("nan"), dtype=dtype)
    predictions = None
    grid = None
    if x_eval is not None:
        grid = np.asarray(x_eval, dtype=np.float64)
        x_t = torch.as_tensor(grid.copy(), dtype=dtype).unsqueeze(0).expand(n, -1)
        with torch.no_grad():
            predictions = _frozen(predict(by_step, x_t).transpose(0, 1))
        grid = _frozen(grid)
    return FineTuneBatch(paths=_frozen(path), support_loss=_frozen(support),
                         query_mse=_frozen(query), predictions=predictions, x_eval=grid)


def fine_tune(family: TaskFamily, theta: np.ndarray | torch.Tensor, x_support: Sequence[float],
              y_support: Sequence[float], inner_lr: float, steps: int, *,
              x_eval: np.ndarray | None = None, x_query: np.ndarray | None = None,
              y_query: np.ndarray | None = None,
              dtype: torch.dtype = torch.float64,
              learner: Learner | None = None, band_step: int | None = None) -> FineTuneResult:
    """Fine-tune one model on one set of support points; predictions on a dense grid.

    ``x_eval`` defaults to :func:`dense_grid`. The query MSE is measured on
    ``x_query``/``y_query`` (NaN when they are not given); the function view passes the grid
    and the true function there, i.e. the error over the whole input range. With a
    ``learner`` the model adapts as its algorithm does (see :func:`fine_tune_batch`) and a
    stochastic one gets its noise band after ``band_step`` steps (default: all ``steps``).
    """
    grid = dense_grid(family) if x_eval is None else np.asarray(x_eval, dtype=np.float64)
    x_s = np.asarray(x_support, dtype=np.float64).reshape(1, -1)
    y_s = np.asarray(y_support, dtype=np.float64).reshape(1, -1)
    xq = None if x_query is None else np.asarray(x_query, dtype=np.float64).reshape(1, -1)
    yq = None if y_query is None else np.asarray(y_query, dtype=np.float64).reshape(1, -1)
    result = fine_tune_batch(family, theta, x_s, y_s, inner_lr, steps, x_query=xq, y_query=yq,
                             x_eval=grid, dtype=dtype, learner=learner)
    band_step = steps if band_step is None else min(max(int(band_step), 0), steps)
    band = None if learner is None else prediction_band(
        learner, torch.as_tensor(result.paths[0, band_step].copy(), dtype=dtype),
        torch.as_tensor(grid.copy(), dtype=dtype), band_step, seed=learner.config.seed)
    return FineTuneResult(x=result.x_eval, predictions=result.predictions[0],
                          support_loss=result.support_loss[0], query_mse=result.query_mse[0],
                          paths=result.paths[0], band=band)


# --- training the models compared ------------------------------------------------------------

def pretrain_config(config: Config) -> Config:
    """``config`` with the pretraining (ERM) algorithm: same tasks, seed, θ₀ and optimizer."""
    return config.with_changes({"algorithm": "pretrain"})


def train_model(config: Config, steps: int, *, algorithm: str | None = None,
                theta0: np.ndarray | None = None,
                progress: Callable[[int, int, StepRecord], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """θ (float64) after ``steps`` meta-steps of ``config`` (with ``algorithm`` if given).

    ``progress(done, steps, record)`` is called after every step; when ``should_stop()`` turns
    true the training ends between steps and None is returned. Raises :class:`RuntimeError`
    if the run diverges (with the engine's reason).
    """
    if algorithm is not None and algorithm != config.algorithm:
        config = config.with_changes({"algorithm": algorithm})
    trainer = MetaTrainer(config, theta0=theta0)
    for done in range(1, steps + 1):
        if should_stop is not None and should_stop():
            return None
        record = trainer.step()
        if record.diverged:
            raise RuntimeError(f"{config.algorithm} diverged at step {record.step}: {record.reason}")
        if progress is not None:
            progress(done, steps, record)
    return trainer.theta.detach().cpu().double().numpy().copy()


def train_pretrained(config: Config, steps: int, **kwargs) -> np.ndarray | None:
    """The pretrained (ERM) baseline: ``steps`` steps on the mean task loss at θ, no adaptation,
    from the same θ₀ and task stream as ``config``'s meta-training."""
    return train_model(config, steps, algorithm="pretrain", **kwargs)


# --- the article's few-shot comparison ---------------------------------------------------------

def few_shot_tasks(config: Config, n_tasks: int, k_shot: int, n_query: int, seed: int) -> TaskBatch:
    """``n_tasks`` test tasks with ``k_shot`` support and ``n_query`` query points each.

    Families with a task distribution (sinusoid) draw fresh tasks; families with a fixed pool
    (softplus) cycle through the pool. Inputs are uniform over the input range, outputs the
    noiseless true function; everything comes from generators seeded by ``seed``.
    """
    family = make_family(config)
    check_has_data(family)
    task_gen, point_gen = seed_generators(seed, 2)
    if family.pool_size() is None:
        tasks = family.sample_fresh(n_tasks, task_gen)
    else:
        pool_gen, _, _ = seed_generators(config.seed, 3)
        pool = family.make_pool(pool_gen)
        tasks = pool.select(np.arange(n_tasks) % pool.n)
    low, high = family.input_range()
    x_s = low + (high - low) * torch.rand((n_tasks, k_shot), generator=point_gen, dtype=torch.float64)
    x_q = low + (high - low) * torch.rand((n_tasks, n_query), generator=point_gen, dtype=torch.float64)
    tasks = tasks.to("cpu", torch.float64)
    with torch.no_grad():
        y_s = family.true_function(tasks, x_s)
        y_q = family.true_function(tasks, x_q)
    tensors = {**tasks.tensors, "x_support": x_s, "y_support": y_s, "x_query": x_q, "y_query": y_q}
    return TaskBatch(tensors, tasks.ids)


BLOWN_UP = 1e3  # a query MSE above this (or not finite) means fine-tuning diverged on the task


@dataclass(frozen=True)
class FewShotTable:
    """Query MSE after fine-tuning, per model and step count, over the test tasks.

    The mean is what the literature reports; the median and the count of tasks whose
    fine-tuning blew up (MSE above :data:`BLOWN_UP` or not finite) show when a few tasks
    dominate it.
    """

    steps: tuple[int, ...]
    mean: dict[str, np.ndarray]  # model name -> (len(steps),)
    sem: dict[str, np.ndarray]  # standard error of the mean over tasks
    median: dict[str, np.ndarray]
    blown_up: dict[str, np.ndarray]  # tasks per step count whose fine-tuning diverged
    n_tasks: int
    k_shot: int
    n_query: int
    inner_lr: float
    per_task: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # (n_tasks, len(steps))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.mean)

    def value(self, model: str, step: int, statistic: str = "mean") -> float:
        table = {"mean": self.mean, "median": self.median}[statistic]
        return float(table[model][self.steps.index(step)])

    def rows(self) -> list[tuple[str, list[float]]]:
        return [(name, [float(v) for v in values]) for name, values in self.mean.items()]

    def as_text(self) -> str:
        def row(label: str, cells) -> str:
            return f"{label:<28}" + "".join(f"{cell:>18}" for cell in cells)

        lines = [f"query MSE after fine-tuning on K = {self.k_shot} points (α = {self.inner_lr:g}), "
                 f"{self.n_tasks} test tasks, {self.n_query} query points each",
                 row("", [f"{s} step" + ("s" if s != 1 else "") for s in self.steps])]
        for name in self.mean:
            lines.append(row(f"{name}: mean ± s.e.",
                             [_short(m) + " ± " + _short(e)
                              for m, e in zip(self.mean[name], self.sem[name])]))
            lines.append(row(f"{name}: median", [f"{v:.3f}" for v in self.median[name]]))
            if np.any(self.blown_up[name]):
                lines.append(row(f"{name}: diverged tasks", [str(int(v)) for v in self.blown_up[name]]))
        return "\n".join(lines)


def _short(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.2g}"


def few_shot_comparison(meta_theta: np.ndarray, pretrained_theta: np.ndarray | None,
                        config: Config, k_shot: int = 5,
                        steps: Sequence[int] = DEFAULT_STEPS, n_tasks: int = 200, seed: int = 0,
                        *, n_query: int = 100, inner_lr: float | None = None,
                        names: tuple[str, str] = ("meta-learned", "pretrained (ERM)"),
                        dtype: torch.dtype = torch.float64) -> FewShotTable:
    """Query MSE of the meta-learned and the pretrained model after ``steps`` fine-tuning steps
    on ``k_shot`` points (step size ``inner_lr``, default the config's α), over ``n_tasks``
    seeded test tasks (see :func:`few_shot_tasks`). ``pretrained_theta`` may be None."""
    steps = tuple(int(s) for s in steps)
    if not steps or min(steps) < 0:
        raise ValueError("steps must be a non-empty list of step counts ≥ 0")
    family = make_family(config)
    tasks = few_shot_tasks(config, n_tasks, k_shot, n_query, seed)
    lr = config.inner_lr if inner_lr is None else float(inner_lr)
    models = {names[0]: meta_theta}
    if pretrained_theta is not None:
        models[names[1]] = pretrained_theta
    mean, sem, median, blown_up, per_task = {}, {}, {}, {}, {}
    for name, theta in models.items():
        result = fine_tune_batch(family, theta, tasks["x_support"].numpy(),
                                 tasks["y_support"].numpy(), lr, max(steps),
                                 x_query=tasks["x_query"].numpy(),
                                 y_query=tasks["y_query"].numpy(), dtype=dtype)
        values = result.query_mse[:, list(steps)]
        per_task[name] = values
        with np.errstate(over="ignore", invalid="ignore"):
            mean[name] = values.mean(axis=0)
            sem[name] = values.std(axis=0, ddof=1) / np.sqrt(n_tasks) if n_tasks > 1 else \
                np.zeros(len(steps))
        median[name] = np.median(values, axis=0)
        blown_up[name] = np.sum(~(values <= BLOWN_UP), axis=0)
    return FewShotTable(steps=steps, mean=mean, sem=sem, median=median, blown_up=blown_up,
                        n_tasks=n_tasks, k_shot=k_shot, n_query=n_query, inner_lr=lr,
                        per_task=per_task)


def _frozen(values: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    out = np.array(values, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


def _float_dtype(tasks: TaskBatch) -> torch.dtype:
    for value in tasks.tensors.values():
        if value.is_floating_point():
            return value.dtype
    return torch.float64


__all__ = [
    "BAND_SAMPLES", "BAND_WIDTH", "BLOWN_UP", "DEFAULT_STEPS", "FewShotTable", "FineTuneBatch",
    "FineTuneResult", "GRID_POINTS", "Learner", "PredictionBand", "learner_for", "prediction_band",
    "check_has_data", "dense_grid", "few_shot_comparison", "few_shot_tasks", "fine_tune",
    "fine_tune_batch", "mse", "points_batch", "pretrain_config", "train_model",
    "train_pretrained", "true_values",
]
