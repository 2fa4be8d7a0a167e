"""What the function view draws, computed without Qt: a task's data, the model's fits.

A :class:`FunctionModel` holds the function view's data for one config (the task list, the
chosen task's support and query points, θ and the pretrained baseline's θ) and turns it,
with a :class:`~maml_gui.view.FunctionState`, into a :class:`FunctionPicture`: the curves and
numbers :class:`~maml_gui.plots.function.FunctionPlot` draws. The window's function view
and every function-view export use it, so a figure shows what the window would.

The fine-tuning reads a :class:`FitRequest`: copies of everything it depends on (θ, the
points, the config, the learner's followed state). :meth:`FunctionModel.fits` computes one
in the caller's thread; a :class:`FunctionFitter` with learners of its own computes the same
numbers in a worker while the window goes on changing the model, and
:func:`picture_of` turns either into the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maml_gui.core.config import Config
from maml_gui.core.function_space import (
    FineTuneResult, Learner, PredictionBand, dense_grid, fine_tune, learner_for, pretrain_config,
    true_values,
)
from maml_gui.core.landscape import landscape_tasks
from maml_gui.core.tasks import TaskBatch
from maml_gui.core.training import initial_theta
from maml_gui.view.state import FunctionState


@dataclass
class FunctionPicture:
    """The curves and numbers of one function-view picture.

    ``predictions`` is the meta-learned model's ``(steps + 1, G)`` predictions on ``grid``
    after 0 … steps fine-tuning steps, ``drawn`` how many of them the frame has reached,
    ``baseline`` the pretrained model's (or None), ``mse`` the query MSE table
    ``{model: {steps: value}}``. ``band`` is a stochastic model's noise band (B-SMALL's)
    once the frame has reached the steps it belongs to, else None.
    """

    grid: np.ndarray
    truth: np.ndarray
    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray
    predictions: np.ndarray
    query_mse: np.ndarray
    drawn: int
    view_steps: int
    baseline: np.ndarray | None
    mse: dict[str, dict[int, float]]
    task: int
    formula: str
    algorithm: str
    inner_lr: float
    input_range: tuple[float, float]
    band: PredictionBand | None = None


META_LABEL, BASELINE_LABEL = "meta-learned", "pretrained (ERM)"

Runs = tuple[FineTuneResult, FineTuneResult]  # (drawn, table): see FunctionModel.result


@dataclass(frozen=True)
class FitRequest:
    """Everything one picture's fine-tuning reads, copied out of a :class:`FunctionModel`.

    A worker computes from it while the window goes on changing the model (θ follows the
    run, MetaNAS's learner follows its pruning), so nothing here is shared with the model:
    the arrays and the learners' followed states (``followed``, ``baseline_followed``:
    their algorithms' ``state_dict()``) are copies. ``config`` is None only while the request
    crosses to a worker process (it travels as JSON beside it). ``steps`` is the run the MSE
    table reads, ``view_steps`` the steps drawn, ``table_steps`` the table's columns.
    """

    config: Config | None
    theta: np.ndarray
    baseline_theta: np.ndarray | None
    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray
    grid: np.ndarray
    truth: np.ndarray
    steps: int
    view_steps: int
    table_steps: tuple[int, ...]
    task: int
    n_tasks: int
    formula: str
    input_range: tuple[float, float]
    followed: dict[str, np.ndarray]
    baseline_followed: dict[str, np.ndarray]

    def key(self, which: str) -> tuple:
        """What the ``which`` model's runs depend on (equal keys: equal runs)."""
        theta, followed = ((self.theta, self.followed) if which == "meta"
                           else (self.baseline_theta, self.baseline_followed))
        # the whole config: B-SMALL's λ and noise, MetaNAS's temperatures change the adaptation
        state = tuple((name, np.asarray(value).tobytes())
                      for name, value in sorted(followed.items()))
        return (theta.tobytes(), self.x_support.tobytes(), self.y_support.tobytes(), self.task,
                self.n_tasks, self.steps, self.view_steps, self.config, state)


@dataclass(frozen=True)
class FunctionFits:
    """The fine-tuning runs of a :class:`FitRequest`: the meta-learned model's and the
    baseline's ``(drawn, table)`` pairs (``baseline`` None when the request has no baseline
    θ)."""

    meta: Runs
    baseline: Runs | None


def fine_tune_runs(learner: Learner, theta: np.ndarray, request: FitRequest) -> Runs:
    """``(drawn, table)``: the run drawn and the run the MSE table reads (one run unless the
    algorithm's steps depend on their count: MetaNAS's temperature falls over the whole run,
    so its ``view_steps`` drawn steps are not the first of ``steps``)."""
    steps, view_steps = request.steps, request.view_steps
    stable = learner.algorithm.fine_tune_prefix_stable

    def run(count: int) -> FineTuneResult:
        return fine_tune(learner.family, theta, request.x_support, request.y_support,
                         request.config.inner_lr, count, x_eval=request.grid,
                         x_query=request.grid, y_query=request.truth, learner=learner,
                         band_step=view_steps)

    drawn = run(steps if stable else view_steps)
    return drawn, drawn if stable or view_steps == steps else run(steps)


class FunctionFitter:
    """Computes each :class:`FitRequest` with learners of its own (a worker's).

    The window's learner follows the run (MetaNAS's pruning) while a worker computes, so a
    worker never reads it: its learners are made here for the request's config and given
    the request's copy of the followed state."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._learners: tuple[Learner, Learner] | None = None

    def fits(self, request: FitRequest) -> FunctionFits:
        if self._learners is None or request.config != self._config:
            self._config = request.config
            self._learners = (learner_for(request.config),
                              learner_for(pretrain_config(request.config)))
        meta, baseline = self._learners
        meta.algorithm.load_state_dict(request.followed)
        baseline.algorithm.load_state_dict(request.baseline_followed)
        return FunctionFits(
            meta=fine_tune_runs(meta, request.theta, request),
            baseline=None if request.baseline_theta is None else
            fine_tune_runs(baseline, request.baseline_theta, request))


def picture_of(request: FitRequest, fits: FunctionFits, fraction: float = 1.0
               ) -> FunctionPicture:
    """The picture of ``request``'s runs ``fits``, the share ``fraction`` of its drawn steps
    reached (the animation frame's)."""
    meta, meta_table = fits.meta
    baseline, baseline_table = fits.baseline if fits.baseline is not None else (None, None)
    view_steps = request.view_steps
    mse = {META_LABEL: {s: float(meta_table.query_mse[s]) for s in request.table_steps}}
    if baseline_table is not None:
        mse[BASELINE_LABEL] = {s: float(baseline_table.query_mse[s])
                               for s in request.table_steps}
    drawn = int(round(fraction * view_steps))
    band = meta.band
    return FunctionPicture(
        grid=request.grid, truth=request.truth, x_support=request.x_support,
        y_support=request.y_support, x_query=request.x_query, y_query=request.y_query,
        predictions=meta.predictions, query_mse=meta.query_mse, drawn=drawn,
        view_steps=view_steps,
        baseline=None if baseline is None else baseline.predictions[: view_steps + 1],
        mse=mse, task=request.task, formula=request.formula,
        algorithm=request.config.algorithm, inner_lr=request.config.inner_lr,
        input_range=request.input_range,
        # the band belongs to the adapted model: shown once the drawn steps reach it
        band=band if band is not None and band.step == drawn else None)


class FunctionModel:
    """A config's tasks with data, the chosen task's points, θ and the fine-tuning results.

    Each model adapts as its algorithm does (:func:`~maml_gui.core.function_space.learner_for`:
    B-SMALL on data + λ·KL, MetaNAS with its DARTS steps; the pretrained baseline by plain
    gradient descent on the plain family). Results are cached by their inputs: asking for the
    same picture twice fine-tunes once.
    """

    def __init__(self, config: Config):
        self.config = config
        self.tasks: TaskBatch | None = None
        self.task_index = 0
        self.grid = np.zeros(0)
        self.truth = np.zeros(0)
        self.x_support = self.y_support = np.zeros(0)
        self.x_query = self.y_query = np.zeros(0)
        self.theta = np.zeros(0)
        self.baseline_theta: np.ndarray | None = None
        self.learner = self.baseline_learner = None
        self._results: dict[str, tuple[tuple, tuple[FineTuneResult, FineTuneResult]]] = {}
        self.set_config(config, restarted=True)

    # --- data ---------------------------------------------------------------------------
    @property
    def has_data(self) -> bool:
        return self.family.has_data

    def set_config(self, config: Config, *, restarted: bool = False) -> bool:
        """Use ``config``; True when its tasks differ from the previous ones (reloaded then,
        with the chosen task kept when it still exists)."""
        old, self.config = self.config, config
        if self.learner is None or old != config:
            self.learner = learner_for(config)
            self.baseline_learner = learner_for(pretrain_config(config))
        self.family = self.learner.family  # the model the config trains: make_family(config)
        if not self.family.has_data:
            self.tasks = None
            return True
        changed = self.tasks is None or old.task != config.task or old.seed != config.seed
        if changed:
            self.tasks = landscape_tasks(config).to("cpu", torch.float64)
            self.grid = dense_grid(self.family)
            self.task_index = min(self.task_index, self.tasks.n - 1)
            self.load_task_points()
        if restarted or self.theta.size != self.family.param_dim:
            self.theta = initial_theta(config)
        return changed

    def select(self, index: int) -> bool:
        """Show task ``index`` with its own points; False when out of range."""
        if self.tasks is None or not 0 <= index < self.tasks.n:
            return False
        self.task_index = index
        self.load_task_points()
        return True

    def load_task_points(self) -> None:
        """The chosen task's own support set (with the family's noise, if any)."""
        task = self.tasks.select([self.task_index])
        self.x_support = task["x_support"][0].numpy().astype(np.float64).copy()
        self.y_support = task["y_support"][0].numpy().astype(np.float64).copy()
        if "x_query" in task.tensors:
            self.x_query = task["x_query"][0].numpy().astype(np.float64).copy()
            self.y_query = task["y_query"][0].numpy().astype(np.float64).copy()
        else:
            self.x_query = self.y_query = np.zeros(0)
        self.truth = self.truth_at(self.grid)

    def truth_at(self, x: np.ndarray) -> np.ndarray:
        """The chosen task's noiseless function at ``x``."""
        if self.tasks is None:
            return np.full(np.shape(x), np.nan)
        task = self.tasks.select([self.task_index])
        return true_values(self.family, task, np.asarray(x, dtype=np.float64))[0]

    def random_x(self, k: int, draw: int) -> np.ndarray:
        """``k`` sorted inputs uniform over the input range: draw number ``draw`` of the
        chosen task (the same numbers for the same seed, task, k and draw)."""
        rng = np.random.default_rng([self.config.seed, self.task_index, draw, k])
        low, high = self.family.input_range()
        return np.sort(rng.uniform(low, high, size=k))

    def apply_points(self, state: FunctionState) -> None:
        """The support points ``state`` asks for: the task's own, or K random ones on the
        true function."""
        if state.support_points is None:
            self.load_task_points()
        else:
            self.x_support = self.random_x(state.support_points, state.draw)
            self.y_support = self.truth_at(self.x_support)

    def set_support(self, x: np.ndarray, y: np.ndarray | None = None) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = self.truth_at(x) if y is None else np.asarray(y, dtype=np.float64).reshape(-1)
        self.x_support, self.y_support = x.copy(), y.copy()

    def formula(self, index: int | None = None) -> str:
        """Task ``index``'s function in words (``y = 0.93·sin(x − 1.20)``)."""
        t = self.tasks
        index = self.task_index if index is None else index
        if "optima" in t.tensors:
            a, b = (float(v) for v in t["optima"][index])
            return f"y = softplus({a:.2f}·x {'+' if b >= 0 else '−'} {abs(b):.2f})"
        if "amplitude" in t.tensors:
            amplitude, phase = float(t["amplitude"][index]), float(t["phase"][index])
            return f"y = {amplitude:.2f}·sin(x {'−' if phase >= 0 else '+'} {abs(phase):.2f})"
        return ""

    def y_range(self) -> tuple[float, float]:
        """One y range for every task of the list, with room below for the legend."""
        truth = true_values(self.family, self.tasks, self.grid)
        values = np.concatenate([truth.ravel(), self.tasks["y_support"].numpy().ravel()])
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
        span = max(high - low, 1.0)
        return low - 0.45 * span, high + 0.1 * span

    # --- fine-tuning --------------------------------------------------------------------
    def follow(self, diagnostics: dict[str, np.ndarray]) -> None:
        """Adapt as the run does now (MetaNAS without the operations it has pruned)."""
        self.learner.algorithm.follow(diagnostics)

    def result(self, which: str, steps: int, view_steps: int | None = None
               ) -> FineTuneResult | None:
        """The meta-learned (``"meta"``) or baseline (``"baseline"``) model fine-tuned on the
        support points: the run drawn with ``view_steps`` steps (default ``steps``), holding at
        least ``steps`` steps where the first ones do not depend on the count (cached; None
        without that model)."""
        if self.tasks is None or (which == "baseline" and self.baseline_theta is None):
            return None
        request = self._request(steps, steps if view_steps is None else view_steps, (),
                                baseline=which == "baseline")
        return self._runs(which, request)[0]

    def request(self, state: FunctionState, view_steps: int) -> FitRequest:
        """What the picture of ``state`` with ``view_steps`` drawn steps is computed from
        (copies: see :class:`FitRequest`)."""
        return self._request(max([view_steps, *state.steps]), view_steps, tuple(state.steps),
                             baseline=state.baseline)

    def _request(self, steps: int, view_steps: int, table_steps: tuple[int, ...], *,
                 baseline: bool) -> FitRequest:
        baseline_theta = self.baseline_theta if baseline else None

        def copied(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {name: np.array(value, copy=True) for name, value in state.items()}

        return FitRequest(
            config=self.config, theta=self.theta.copy(),
            baseline_theta=None if baseline_theta is None else baseline_theta.copy(),
            x_support=self.x_support.copy(), y_support=self.y_support.copy(),
            x_query=self.x_query.copy(), y_query=self.y_query.copy(), grid=self.grid.copy(),
            truth=self.truth.copy(), steps=steps, view_steps=view_steps,
            table_steps=table_steps, task=self.task_index, n_tasks=self.tasks.n,
            formula=self.formula(), input_range=self.family.input_range(),
            followed=copied(self.learner.algorithm.state_dict()),
            baseline_followed=copied(self.baseline_learner.algorithm.state_dict()))

    def fits(self, request: FitRequest) -> FunctionFits:
        """``request``'s runs, computed here with this model's learners (cached by their
        inputs: asking twice fine-tunes once)."""
        return FunctionFits(
            meta=self._runs("meta", request),
            baseline=None if request.baseline_theta is None else
            self._runs("baseline", request))

    def cached_fits(self, request: FitRequest) -> FunctionFits | None:
        """``request``'s runs if they are in the cache (nothing is computed), else None."""
        whiches = ("meta",) if request.baseline_theta is None else ("meta", "baseline")
        if any(self._results.get(which, (None,))[0] != request.key(which) for which in whiches):
            return None
        return self.fits(request)

    def store(self, request: FitRequest, fits: FunctionFits) -> None:
        """Keep runs computed elsewhere (a worker's) for ``request`` in the cache."""
        self._results["meta"] = (request.key("meta"), fits.meta)
        if fits.baseline is not None:
            self._results["baseline"] = (request.key("baseline"), fits.baseline)

    def _runs(self, which: str, request: FitRequest) -> Runs:
        key = request.key(which)
        cached = self._results.get(which)
        if cached is None or cached[0] != key:
            learner, theta = ((self.learner, request.theta) if which == "meta"
                              else (self.baseline_learner, request.baseline_theta))
            self._results[which] = (key, fine_tune_runs(learner, theta, request))
        return self._results[which][1]

    def picture(self, state: FunctionState, view_steps: int, fraction: float = 1.0
                ) -> FunctionPicture:
        """What to draw for ``state`` with ``view_steps`` fine-tuning steps, of which the
        share ``fraction`` is reached (the animation frame's)."""
        state = state if self.baseline_theta is not None else state.replace(baseline=False)
        request = self.request(state, view_steps)
        return picture_of(request, self.fits(request), fraction)

    def view_steps(self, state: FunctionState) -> int:
        """Fine-tuning steps drawn: the state's, else the run's k (at least 1)."""
        if state.view_steps is not None:
            return state.view_steps
        return min(max(self.config.inner_steps, 1), MAX_VIEW_STEPS)


MAX_VIEW_STEPS = 100

__all__ = ["BASELINE_LABEL", "FitRequest", "FunctionFits", "FunctionFitter", "FunctionModel",
           "FunctionPicture", "MAX_VIEW_STEPS", "META_LABEL", "fine_tune_runs", "picture_of"]
