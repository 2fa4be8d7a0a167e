"""How parameters map to the two plotted coordinates: the identity for 2-parameter models,
a plane (PCA of θ's path, seeded random directions, or two parameter axes) otherwise.

Qt-free, shared by the window's canvas and every landscape export, so both draw the same
plane for the same state and path.
"""

from __future__ import annotations

import numpy as np

from maml_gui.core.landscape import Plane, axes_plane, pca_plane, random_plane

PCA_POINTS = 160  # points the PCA plane is fitted to (evenly spaced along the path)
# the PCA plane's shortest refit interval while a run plays at full speed (canvas and
# comparison): each refit means a new plane, a new view and a new surface
REFIT_SECONDS = 4.0


class Projection:
    """Parameters → plane coordinates for one model.

    Parameters
    ----------
    family : the task family (its ``param_dim`` decides whether a plane is needed).
    method : ``pca``, ``random`` or ``axes``.
    seed : the random plane's seed.
    """

    def __init__(self, family, method: str = "pca", seed: int = 0):
        self.family = family
        self.method = method
        self.seed = seed
        self.plane: Plane | None = None
        self._trail_cache = TrailCache()

    @property
    def needs_plane(self) -> bool:
        return self.family.param_dim > 2

    def fit(self, points: np.ndarray, centre: np.ndarray | None = None) -> None:
        """Choose the plane through ``centre`` (default: the last point) for ``points``."""
        self.plane = self.fitted(points, centre)

    def fitted(self, points: np.ndarray, centre: np.ndarray | None = None) -> Plane | None:
        """The plane :meth:`fit` would choose, without choosing it (safe in another thread:
        it reads only the method, the seed and the family)."""
        if not self.needs_plane:
            return None
        points = np.atleast_2d(points)
        centre = points[-1] if centre is None else centre
        if self.method == "axes":
            return axes_plane(centre)
        if self.method == "pca" and len(points) >= 3 and np.ptp(points, axis=0).max() > 0:
            return pca_plane(points, centre, max_points=PCA_POINTS)
        # PCA needs a path: until there is one, a seeded random plane
        return random_plane(self.family, centre, seed=self.seed)

    def use_plane(self, plane: Plane, snapshot, trail_uv: np.ndarray) -> None:
        """Switch to ``plane``, whose projection of ``snapshot``'s trail (its first
        ``len(trail_uv)`` rows) was computed elsewhere: only later rows are projected here."""
        self.plane = plane
        self._trail_cache.seed(snapshot.history, (snapshot.run_id, id(plane)), trail_uv)

    def fit_snapshot(self, snapshot) -> None:
        """Fit the plane to ``snapshot``'s trail and latest inner paths, through the current θ."""
        self.fit(*path_points(snapshot))

    def to_plane(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` plane coordinates of ``(N, D)`` parameter vectors (NaN rows stay NaN)."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if self.plane is None:
            return points[:, :2]
        return plane_coordinates(self.plane, points)

    def trail(self, snapshot) -> np.ndarray:
        """θ's trail in plane coordinates, projecting only the rows added since last time."""
        thetas = snapshot.history.thetas
        if self.plane is None:
            return thetas[:, :2]
        return self._trail_cache.project(snapshot.history, self.to_plane,
                                         (snapshot.run_id, id(self.plane)))


def plane_coordinates(plane: Plane, points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` coordinates on ``plane`` of ``(N, D)`` parameter vectors; NaN rows for
    non-finite ones (a diverged step breaks the drawn line)."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    if len(points) == 0:
        return np.zeros((0, 2))
    # called several times a frame on 1,761-wide rows: a non-finite row is rare, so find
    # the rows once and project only the finite ones (no cleaned copy of every row)
    finite = np.isfinite(points).all(axis=1)
    if finite.all():
        return plane.coordinates(points)
    uv = np.full((len(points), 2), np.nan)
    if finite.any():
        uv[finite] = plane.coordinates(points[finite])
    return uv


class TrailCache:
    """A growing trail's plane coordinates: each call projects only the rows added since the
    previous one (the MLP's whole trail is ~2,000 × 1,761 numbers: projecting it all on
    every frame cost more than drawing the frame)."""

    def __init__(self):
        self._key: tuple | None = None
        self._uv = np.zeros((0, 2))

    def seed(self, history, key: tuple, uv: np.ndarray) -> None:
        """``uv``: the projection of ``history``'s first ``len(uv)`` rows under ``key``."""
        self._key, self._uv = (key, id(history), history.decimations), uv

    def project(self, history, to_plane, key: tuple) -> np.ndarray:
        """``history.thetas`` through ``to_plane``; ``key`` names the run and the plane (a new
        key starts over; so do a new history and a decimation of its rows)."""
        thetas = history.thetas
        key = (key, id(history), history.decimations)
        cached = self._uv
        # the last row is θ after the newest step: it is rewritten by the next step, so redo it
        start = max(len(cached) - 1, 0) if key == self._key and len(cached) <= len(thetas) else 0
        uv = np.concatenate([cached[:start], to_plane(thetas[start:])]) if start else \
            to_plane(thetas)
        self._key, self._uv = key, uv
        return uv


def path_points(snapshot) -> tuple[np.ndarray, np.ndarray]:
    """θ's trail with the latest inner-loop points (what PCA fits), and the current θ."""
    record = snapshot.record
    thetas = snapshot.history.thetas
    # an evenly spaced subset first: the MLP's whole trail is ~30 MB to copy
    points = np.concatenate([evenly_spaced(thetas),
                             record.paths.reshape(-1, record.paths.shape[-1])])
    return points[np.all(np.isfinite(points), axis=1)], thetas[-1]


def evenly_spaced(rows: np.ndarray, count: int = PCA_POINTS) -> np.ndarray:
    """At most ``count`` evenly spaced rows of ``rows``, the first and the last included."""
    return rows[np.unique(np.linspace(0, len(rows) - 1, min(len(rows), count)).astype(int))]


def display_values(z: np.ndarray, log_scale: bool) -> tuple[np.ndarray, str]:
    """Values to colour a surface by, and the colour bar's label."""
    if not log_scale:
        return z, "loss"
    finite = z[np.isfinite(z)]
    low = float(finite.min()) if finite.size else 0.0
    if low > 0:
        return np.log10(z), "log₁₀ loss"
    span = float(finite.max() - low) if finite.size else 1.0
    shift = 1e-3 * span if span > 0 else 1e-12
    return np.log10(z - low + shift), "log₁₀(loss − min + δ)"


def colour_levels(values: np.ndarray) -> tuple[float, float] | None:
    """The colour map's range for ``values``: losses far from the tasks can be orders of
    magnitude larger than near them, so the top 3 % saturate rather than flatten everything
    else into one colour. None when nothing is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, [0.5, 97.0])
    if not high > low:
        high = low + 1e-12
    return float(low), float(high)


__all__ = ["PCA_POINTS", "Projection", "TrailCache", "colour_levels", "display_values",
           "evenly_spaced", "fit_range", "path_points"]


def fit_range(projection: Projection, tasks, theta0: np.ndarray, snapshot=None
              ) -> tuple[float, float, float, float]:
    """The rectangle to show: the tasks' region (2 parameters) or θ₀, θ's projected trail
    and the latest inner paths with a margin (planes)."""
    if projection.plane is None:
        return tuple(float(v) for v in projection.family.default_view(tasks))
    points = [projection.to_plane(np.atleast_2d(theta0))]
    if snapshot is not None and len(snapshot.history.thetas):
        points.append(projection.trail(snapshot))
        if snapshot.record is not None:
            p = snapshot.record.paths
            points.append(projection.to_plane(p.reshape(-1, p.shape[-1])))
    uv = np.concatenate(points)
    uv = uv[np.all(np.isfinite(uv), axis=1)]
    if not len(uv):
        uv = np.zeros((1, 2))
    low, high = uv.min(axis=0), uv.max(axis=0)
    span = np.maximum(high - low, 1.0)
    xmin, ymin = low - 0.35 * span
    xmax, ymax = high + 0.35 * span
    return float(xmin), float(xmax), float(ymin), float(ymax)
