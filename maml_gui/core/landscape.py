"""Loss surfaces over a rectangle of a 2-D plane of parameter space, vectorised and chunked.

Surfaces (``name``):

- ``task:i``  task i's query loss Lᵢ(θ)
- ``mean``    meanᵢ Lᵢ(θ): what pretraining minimises
- ``meta``    the post-adaptation meta-objective F(θ) = meanᵢ Lᵢq(U(θ)) of the configured
              algorithm: k gradient steps (MAML, FOMAML, Reptile, TR-MAML with its task weights),
              iMAML's proximal inner solve, or TreeMAML's steps pooled within task clusters
- ``imaml:i`` task i's regularised inner objective Lᵢˢ(φ) + λ/2‖φ − θ‖² around an anchor θ

Every grid point and every task is evaluated at once (grid points × tasks × data in one
tensor), chunk by chunk so memory stays bounded; a ``cancelled`` callback is asked between
chunks, so a live request that a newer one superseded stops early. The MLP's meta, mean and
task surfaces go through :mod:`maml_gui.core.landscape_mlp` (low-rank inner steps, no
parameter copies). For 2-parameter families the plane is the parameter space itself;
larger models are seen through a :class:`Plane`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from maml_gui.core.algorithms import ALGORITHMS, algorithm_label, make_algorithm
from maml_gui.core.algorithms.tree_maml import pooling_matrix, step_labels
from maml_gui.core.config import Config
from maml_gui.core import landscape_mlp
from maml_gui.core.landscape_mlp import LandscapeCancelled
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily, make_family

MIN_GRID, MAX_GRID = 2, 2048
# Grids of a plane through a model: the live canvas shows the coarse one within ~0.1 s of a
# change, then the full one; exports and written data always use the full one.
PLANE_GRID_COARSE, PLANE_GRID = 16, 64
# Elements of the largest per-chunk temporary (grid points × tasks × data per task): small
# enough to stay in cache, large enough that per-operation overhead is amortised.
CHUNK_ELEMENTS = 1 << 16
# Grid points per block: a multiple of every SIMD width (AVX-512: 16 float32), see values().
QUANTUM = 64
# The fused family paths reuse three buffers of this many elements across the whole grid.
FUSED_CHUNK_ELEMENTS = 1 << 16


#: algorithms without a deterministic meta surface here, and why
NO_META_SURFACE = {
    "pretrain": "pretraining has no adaptation step, so it has no meta surface: "
                "its objective is --surface mean",
    "b_small": "B-SMALL's adaptation is stochastic (LRT noise) and adds a KL term: "
               "its meta surface is not drawn; use mean or task:I",
}
NO_META_SURFACE["norml"] = NO_META_SURFACE_RL = (
    "meta-RL adapts by a policy-gradient step on sampled rollouts: its meta surface is not "
    "drawn; mean and task:I show −return of the policy θ (seeded rollouts)")


class LandscapeError(ValueError):
    """A surface cannot be computed as asked (bad name, range, grid size, task index)."""


# --- planes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plane:
    """θ(u, v) = centre + u·d₁ + v·d₂, and how it was chosen (so a figure can be reproduced)."""

    centre: np.ndarray  # (P,)
    directions: np.ndarray  # (2, P)
    method: str  # "axes", "pca" or "random"
    explained_variance: tuple[float, float] | None = None  # PCA: fraction per direction
    seed: int | None = None  # random: the seed of the directions

    def __post_init__(self) -> None:
        # Projection is a (P, 2) matrix product with the pseudo-inverse, computed once: the
        # canvas projects the whole trail of a 1,761-parameter model every frame.
        object.__setattr__(self, "_pinv", np.linalg.pinv(self.directions))

    def points(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Parameter vectors at plane coordinates (broadcast shapes of u and v)."""
        u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
        return self.centre + u[..., None] * self.directions[0] + v[..., None] * self.directions[1]

    def coordinates(self, points: np.ndarray) -> np.ndarray:
        """Plane coordinates ``(M, 2)`` of ``points`` ``(M, P)`` (least squares)."""
        return (np.atleast_2d(points) - self.centre) @ self._pinv

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates ``(M, 2)`` of ``points`` ``(M, P)`` and their distance off the plane."""
        offsets = np.atleast_2d(points) - self.centre
        coords = offsets @ self._pinv  # least squares: the directions need not be orthogonal
        residual = offsets - coords @ self.directions
        return coords, np.linalg.norm(residual, axis=-1)

    @property
    def title(self) -> str:
        if self.method == "pca" and self.explained_variance is not None:
            a, b = self.explained_variance
            return f"PCA plane: {100 * a:.1f}% + {100 * b:.1f}% of the path's variance"
        if self.method == "random":
            return f"random filter-normalised plane (seed {self.seed})"
        return "parameter axes"

    def to_dict(self) -> dict[str, Any]:
        return {"centre": self.centre.tolist(), "directions": self.directions.tolist(),
                "method": self.method, "explained_variance": self.explained_variance,
                "seed": self.seed}


def axes_plane(centre: np.ndarray, first: int = 0, second: int = 1) -> Plane:
    centre = np.asarray(centre, dtype=np.float64)
    directions = np.zeros((2, centre.size))
    directions[0, first] = directions[1, second] = 1.0
    return Plane(centre, directions, "axes")


def pca_plane(points: np.ndarray, centre: np.ndarray | None = None, *,
              max_points: int | None = None) -> Plane:
    """The plane of the top two principal directions of ``points`` ``(M, P)``.

    ``centre`` defaults to the last point (the current θ when given a trajectory).
    Explained variance is each direction's share of the total variance of the points.
    ``max_points`` keeps an evenly spaced subset (always with the last points), which the
    live canvas uses so that a refit costs milliseconds, not seconds.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 2:
        raise LandscapeError("a PCA plane needs at least two points of the trajectory")
    if max_points is not None and len(points) > max_points:
        keep = np.unique(np.linspace(0, len(points) - 1, max_points).round().astype(int))
        points = points[keep]
    centred = points - points.mean(axis=0)
    # Only two directions are needed: eigen-decompose the smaller Gram/covariance matrix
    # (M×M or P×P) instead of a full SVD of the M×P data.
    total = float(np.sum(centred**2))
    if total == 0.0:
        raise LandscapeError("the trajectory has not moved yet: no PCA plane exists")
    if centred.shape[0] <= centred.shape[1]:
        values, vectors = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(values)[::-1][:2]
        directions = (centred.T @ vectors[:, order]).T
    else:
        values, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(values)[::-1][:2]
        directions = vectors[:, order].T
    top = np.maximum(values[order], 0.0)
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    directions = np.where(norms > 0, directions / np.where(norms > 0, norms, 1.0), 0.0)
    if directions.shape[0] < 2:
        directions = np.vstack([directions[0], np.zeros_like(directions[0])])
    share = [float(v / total) for v in top] + [0.0]
    # A deterministic sign: the largest entry of each direction is positive.
    for row in directions:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    return Plane(np.asarray(points[-1] if centre is None else centre, dtype=np.float64),
                 directions, "pca", (share[0], share[1]))


def random_plane(family: TaskFamily, centre: np.ndarray, seed: int) -> Plane:
    """Two seeded Gaussian directions, filter-normalised (Li et al., 2018).

    Each filter (row of a weight matrix; a whole bias vector) of a direction is rescaled
    to the norm of the same filter of ``centre``, so the plane's scale matches the model's.
    """
    centre = np.asarray(centre, dtype=np.float64)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((2, centre.size))
    offset = 0
    for _name, shape in family.layout():
        size = int(np.prod(shape))
        block_c = centre[offset:offset + size].reshape(shape if len(shape) > 1 else (1, size))
        for d in directions:
            block_d = d[offset:offset + size].reshape(block_c.shape)
            norms_c = np.linalg.norm(block_c, axis=-1, keepdims=True)
            norms_d = np.linalg.norm(block_d, axis=-1, keepdims=True)
            block_d *= np.where(norms_d > 0, norms_c / np.maximum(norms_d, 1e-300), 0.0)
            d[offset:offset + size] = block_d.reshape(-1)
        offset += size
    return Plane(centre, directions, "random", seed=seed)


# --- surfaces -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Surface:
    """``z[r, c]`` is the value at plane coordinates ``(x[c], y[r])``."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    name: str
    label: str
    plane: Plane | None = None
    info: dict[str, Any] = field(default_factory=dict)


def parse_surface(name: str, n_tasks: int) -> tuple[str, int | None]:
    """Split ``task:3`` into ``("task", 3)``; raise :class:`LandscapeError` for bad names."""
    kind, _, index = name.partition(":")
    if kind in ("meta", "mean") and not index:
        return kind, None
    if kind in ("task", "imaml") and index:
        try:
            i = int(index)
        except ValueError:
            raise LandscapeError(f"surface {name!r}: the task index must be an integer") from None
        if not 0 <= i < n_tasks:
            raise LandscapeError(f"surface {name!r}: task index out of range "
                                 f"(there are {n_tasks} tasks: 0 … {n_tasks - 1})")
        return kind, i
    raise LandscapeError(f"unknown surface {name!r}: use meta, mean, task:I or imaml:I")


def check_grid(resolution: int, xrange: Sequence[float], yrange: Sequence[float]) -> None:
    if not MIN_GRID <= resolution <= MAX_GRID:
        raise LandscapeError(f"grid {resolution} is out of range: use {MIN_GRID} … {MAX_GRID}")
    for axis, (low, high) in (("x", xrange), ("y", yrange)):
        if not (math.isfinite(low) and math.isfinite(high)):
            raise LandscapeError(f"{axis} range must be finite numbers")
        if not low < high:
            raise LandscapeError(f"{axis} range {low:g} … {high:g} is empty: "
                                 f"the minimum must be below the maximum")


class LandscapeEvaluator:
    """Evaluates surfaces of one config's tasks at many parameter vectors at once.

    Parameters
    ----------
    config : the settings (algorithm, α, k, λ, ...) that define the ``meta`` surface
    tasks : the tasks to draw (a pool, or a fixed batch for families with fresh tasks)
    weights : TR-MAML's task weights for ``meta`` (defaults to uniform)
    dtype : float64 for exact checks; float32 is faster for live pictures
    """

    def __init__(self, config: Config, tasks: TaskBatch, *, weights: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"):
        self.config = config
        self.family = make_family(config)
        self.tasks = tasks.to(device, dtype)
        self.dtype = dtype
        self.device = torch.device(device)
        self.weights = None if weights is None else torch.tensor(np.asarray(weights), dtype=dtype)
        # B-SMALL and MetaNAS adapt (and are judged) their own way: their meta surface is
        # F(θ) = meanᵢ Lᵢ(their fine-tuning of θ), as the function view shows it
        self.algorithm = (make_algorithm(config.algorithm, self.family, self.family.pool_size())
                          if ALGORITHMS[config.algorithm].own_adaptation else None)
        self._analytic = self.family.loss_and_grad(
            torch.zeros(1, self.tasks.n, self.family.param_dim, dtype=dtype, device=device),
            self.tasks) is not None

    # --- what a surface is ------------------------------------------------------------
    def check(self, name: str) -> tuple[str, int | None]:
        kind, index = parse_surface(name, self.tasks.n)
        if kind == "meta" and self.config.algorithm in NO_META_SURFACE:
            raise LandscapeError(NO_META_SURFACE[self.config.algorithm])
        if kind == "meta" and getattr(self.family, "reinforcement", False):
            raise LandscapeError(NO_META_SURFACE_RL)
        return kind, index

    def label(self, name: str) -> str:
        kind, index = self.check(name)
        c = self.config
        if kind == "task":
            return f"task {index}: L{_sub(index)}(θ)"
        if kind == "mean" and getattr(self.family, "reinforcement", False):
            return "−return of the policy θ before adaptation, meanᵢ over seeded rollouts (DR's objective)"
        if kind == "mean":
            return "mean task loss meanᵢ Lᵢ(θ) (pretraining's objective)"
        if kind == "imaml":
            return f"task {index}'s regularised inner objective L{_sub(index)}ˢ(φ) + λ/2‖φ − θ‖², λ = {c.imaml_lambda:g}"
        algorithm = algorithm_label(c.algorithm)
        if c.algorithm == "imaml":
            inner = f"proximal solve, λ = {c.imaml_lambda:g}, α = {c.inner_lr:g}, k = {c.inner_steps}"
        elif c.algorithm == "tree_maml":
            # short: a plot title wider than the canvas pushed its colour bar off a 1366 screen
            inner = f"pooled, α = {c.inner_lr:g}, k = {c.inner_steps}"
        elif c.algorithm == "metanas":
            t_max = c.metanas_temperature[0]
            judged = ALGORITHMS["metanas"].final_temperature(c)
            inner = f"DARTS, T {t_max:g} → {judged:g}, α = {c.inner_lr:g}, k = {c.inner_steps}"
        else:
            inner = f"α = {c.inner_lr:g}, k = {c.inner_steps}"
        mean = "Σᵢ pᵢ" if c.algorithm == "tr_maml" else "meanᵢ"
        return f"meta-objective F(θ) = {mean} Lᵢ(U(θ)) after adaptation ({algorithm}: {inner})"

    # --- values -----------------------------------------------------------------------
    def chunk_size(self, count: int) -> int:
        per_point = self.tasks.n * max(self.family.work_per_task(self.tasks), 1)
        return int(max(1, min(count, CHUNK_ELEMENTS // per_point)))

    def values(self, name: str, points: torch.Tensor | np.ndarray, *,
               anchor: torch.Tensor | np.ndarray | None = None,
               chunk: int | None = None, cancelled: Callable[[], bool] | None = None,
               fast: bool = True) -> np.ndarray:
        """Surface ``name`` at each row of ``points`` ``(G, P)``; returns ``(G,)`` float64.

        Points are processed in blocks of whole multiples of :data:`QUANTUM` (the last one
        padded with copies of the last point), so every vectorised loop runs on full SIMD
        registers with no scalar tail: each value is then bit-identical whatever the chunking.
        ``cancelled`` is asked between blocks of the slow paths (the MLP's); when it says
        True, :class:`LandscapeCancelled` is raised. ``fast=False`` skips the families' own
        inner loops: the generic path, kept as the reference and the benchmarks' baseline.
        """
        kind, index = self.check(name)
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        if kind == "imaml":
            if anchor is None:
                raise LandscapeError("the imaml:I surface needs the current θ as its anchor")
            anchor = torch.tensor(np.asarray(anchor), dtype=self.dtype, device=self.device)
        if kind in ("mean", "task") and fast and landscape_mlp.supports(self.family):
            return self._mlp_plain(kind, index, points, chunk, cancelled)
        if kind == "meta" and fast:
            fused = self._fused_meta(_pad(points), chunk, cancelled)
            if fused is not None:
                fused = fused[:points.shape[0]]
                redo = np.flatnonzero(~np.isfinite(fused))  # exp overflowed: the clamped path
                # (the MLP's loop is the generic arithmetic: a diverged point diverges there too)
                if redo.size and not landscape_mlp.supports(self.family):
                    fused[redo] = self._generic(kind, index, points[torch.as_tensor(redo)],
                                                anchor, chunk, cancelled)
                return fused
        return self._generic(kind, index, points, anchor, chunk, cancelled)

    def _generic(self, kind: str, index: int | None, points: torch.Tensor,
                 anchor: torch.Tensor | None, chunk: int | None,
                 cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        count = points.shape[0]
        points = _pad(points)
        chunk = _round_up(chunk or self.chunk_size(points.shape[0]), QUANTUM)
        out = np.empty(points.shape[0], dtype=np.float64)
        for start in range(0, points.shape[0], chunk):
            if cancelled is not None and cancelled():
                raise LandscapeCancelled()
            block = points[start:start + chunk]
            out[start:start + block.shape[0]] = self._evaluate(kind, index, block, anchor)
        return out[:count]

    def _evaluate(self, kind: str, index: int | None, block: torch.Tensor,
                  anchor: torch.Tensor | None) -> np.ndarray:
        theta = block.unsqueeze(-2)  # (C, 1, P): broadcast against the task dimension
        if kind in ("task", "imaml"):
            task = self.tasks.select([index])
            if kind == "task":
                values = self.family.loss(theta, task, QUERY)[:, 0]
            else:
                values = (self.family.loss(theta, task, SUPPORT)[:, 0]
                          + 0.5 * self.config.imaml_lambda * (block - anchor).square().sum(-1))
            return values.detach().cpu().numpy()
        if kind == "mean":
            with torch.no_grad():
                return self.family.loss(theta, self.tasks, QUERY).mean(-1).cpu().numpy()
        adapted = self.adapt(theta.expand(-1, self.tasks.n, -1))
        with torch.no_grad():
            if self.algorithm is not None:
                return self._aggregate(self.algorithm.evaluation_loss(adapted, self.tasks, QUERY,
                                                                      self.config))
            return self._aggregate(self.family.loss(adapted, self.tasks, QUERY))

    def _aggregate(self, losses: torch.Tensor) -> np.ndarray:
        """Per-task losses ``(G, n)`` to the meta-objective: the mean, or TR-MAML's Σ pᵢLᵢ."""
        if self.config.algorithm == "tr_maml" and self.weights is not None:
            return (losses * self.weights.to(losses.device)).sum(-1).cpu().numpy()
        return losses.mean(-1).cpu().numpy()

    def _fused_meta(self, points: torch.Tensor, chunk: int | None,
                    cancelled: Callable[[], bool] | None) -> np.ndarray | None:
        """The meta surface through the family's own fused inner loop, where it has one
        (the 2-D families' own, or the MLP's low-rank one in :mod:`landscape_mlp`)."""
        c = self.config
        # the families' fused loops neither pool across tasks nor adapt as B-SMALL and MetaNAS
        if c.algorithm == "tree_maml" or self.algorithm is not None:
            return None
        proximal = c.imaml_lambda if c.algorithm == "imaml" else None
        if landscape_mlp.supports(self.family):
            losses = landscape_mlp.adapted_query_losses(
                self.family, points, self.tasks, c.inner_lr, c.inner_steps, proximal,
                chunk or landscape_mlp.chunk_size(self.tasks, self.family), cancelled)
            return self._aggregate(losses)
        with torch.no_grad():
            losses = self.family.adapted_query_losses(
                points, self.tasks, c.inner_lr, c.inner_steps, proximal,
                _round_up(chunk or self.fused_chunk(points.shape[0]), QUANTUM))
        return None if losses is None else self._aggregate(losses)

    def _mlp_plain(self, kind: str, index: int | None, points: torch.Tensor, chunk: int | None,
                   cancelled: Callable[[], bool] | None) -> np.ndarray:
        """The MLP's ``mean`` or ``task:i`` surface: its query losses with no inner step,
        through the same batched forward as the meta surface (the generic path copied θ once
        per task)."""
        tasks = self.tasks if kind == "mean" else self.tasks.select([index])
        losses = landscape_mlp.adapted_query_losses(
            self.family, _pad(points), tasks, 0.0, 0, None,
            chunk or landscape_mlp.chunk_size(tasks, self.family), cancelled)
        return losses[:points.shape[0]].mean(-1).cpu().numpy().astype(np.float64)

    def fused_chunk(self, count: int) -> int:
        per_point = self.tasks.n * max(self.family.work_per_task(self.tasks), 1)
        return int(max(1, min(count, FUSED_CHUNK_ELEMENTS // per_point)))

    def adapt(self, theta: torch.Tensor) -> torch.Tensor:
        """The inner loop of the configured algorithm from every row of ``theta`` ``(C, n, P)``."""
        c = self.config
        if self.algorithm is not None:
            return self.algorithm.fine_tune(theta, self.tasks, c, c.inner_steps).final
        proximal = c.algorithm == "imaml"
        anchor = theta
        phi = theta
        parent = np.zeros(theta.shape[:-1], dtype=np.int64)
        for step in range(c.inner_steps):
            grad = self._support_grad(phi)
            if proximal:
                grad = grad + c.imaml_lambda * (phi - anchor)
            if c.algorithm == "tree_maml":
                parent = step_labels(c, self.tasks.ids, step, parent, grad)
                grad = torch.as_tensor(pooling_matrix(parent), dtype=grad.dtype,
                                       device=grad.device) @ grad
            phi = phi - c.inner_lr * grad
        return phi

    def _support_grad(self, phi: torch.Tensor) -> torch.Tensor:
        if self._analytic:
            with torch.no_grad():
                return self.family.loss_and_grad(phi, self.tasks, SUPPORT)[1]
        with torch.enable_grad():
            leaf = phi.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.family.loss(leaf, self.tasks, SUPPORT).sum(), leaf)
        return grad

    # --- grids ------------------------------------------------------------------------
    def grid(self, name: str, xrange: Sequence[float], yrange: Sequence[float], resolution: int,
             *, plane: Plane | None = None, anchor: np.ndarray | None = None,
             chunk: int | None = None, cancelled: Callable[[], bool] | None = None,
             fast: bool = True) -> Surface:
        """The surface on a ``resolution × resolution`` grid of the plane (or the 2 parameters).

        ``cancelled`` and ``fast``: as in :meth:`values`."""
        check_grid(resolution, xrange, yrange)
        self.check(name)
        x = np.linspace(xrange[0], xrange[1], resolution)
        y = np.linspace(yrange[0], yrange[1], resolution)
        u, v = np.meshgrid(x, y)  # u[r, c] = x[c], v[r, c] = y[r]
        if plane is None:
            if self.family.param_dim != 2:
                raise LandscapeError(f"the {self.family.name} family has {self.family.param_dim} "
                                     "parameters: choose a plane (pca, random or axes)")
            points = np.stack([u.ravel(), v.ravel()], axis=-1)
        else:  # θ(u, v) = centre + u·d₁ + v·d₂ in torch: in numpy float64 it cost a
            # sixth of the MLP's 64² surface, and as one addmm (two-term products) a twentieth
            centre, directions = (torch.as_tensor(a, dtype=self.dtype)
                                  for a in (plane.centre, plane.directions))
            u_column, v_column = (torch.as_tensor(a.reshape(-1, 1), dtype=self.dtype)
                                  for a in (u, v))
            points = torch.addcmul(centre, u_column, directions[0]).addcmul_(v_column,
                                                                             directions[1])
        z = self.values(name, points, anchor=anchor, chunk=chunk, cancelled=cancelled,
                        fast=fast).reshape(resolution, resolution)
        return Surface(x, y, z, name, self.label(name), plane)


LANDSCAPE_TASKS = 10  # tasks drawn for the picture when a family draws fresh tasks every step


def landscape_tasks(config: Config) -> TaskBatch:
    """The tasks a landscape shows: the fixed pool, or a seeded batch of fresh tasks."""
    from maml_gui.core.training import seed_generators

    family = make_family(config)
    pool_gen, _, _, picture_gen = seed_generators(config.seed, 4)
    if family.pool_size() is not None:
        return family.make_pool(pool_gen)
    batch = family.sample_fresh(min(LANDSCAPE_TASKS, family.tasks_per_step()), picture_gen)
    return TaskBatch(batch.tensors, np.arange(batch.n))


def _pad(points: torch.Tensor) -> torch.Tensor:
    """``points`` with copies of the last row up to a whole number of :data:`QUANTUM` rows."""
    extra = _round_up(points.shape[0], QUANTUM) - points.shape[0]
    return torch.cat([points, points[-1:].expand(extra, -1)]) if extra else points


def _round_up(count: int, quantum: int) -> int:
    return max(quantum, -(-count // quantum) * quantum)


def _sub(index: int | None) -> str:
    digits = "₀₁₂₃₄₅₆₇₈₉"
    return "".join(digits[int(ch)] for ch in str(index))


def surface_names(n_tasks: int, algorithm: str) -> list[str]:
    """Every surface the canvas can offer for ``n_tasks`` tasks and ``algorithm``."""
    names = ([] if algorithm in NO_META_SURFACE else ["meta"]) + ["mean"]
    names += [f"task:{i}" for i in range(n_tasks)]
    names += [f"imaml:{i}" for i in range(n_tasks)]
    return names
