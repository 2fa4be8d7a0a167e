"""TreeMAML's inner steps on the landscape: one arrow per cluster per inner step, the members'
own gradient steps faint behind it.

Members of a cluster at step j were in one cluster at every earlier step (the tree is
nested), so they share φʲ and take the same pooled step −α·(Mⱼ∇Lˢ)ᵢ: one arrow from their
common point. Behind it, each member's own step −α·∇Lₘˢ(φʲ) shows what pooling averaged away.
As clusters split from step to step, the arrows fan out. Everything comes from the record
(``paths``, ``diagnostics["cluster_labels"]``, ``diagnostics["inner_grads"]`` and α), so a
figure exported from a trace draws the same arrows as the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from maml_gui.core.trace import StepRecord
from maml_gui.palette import Theme
from maml_gui.plots.items import ArrowSet, pen
from maml_gui.view.projection import Projection

OWN_ALPHA = 0.45  # the members' own steps: visible, but behind their cluster's arrow
LEGEND_TEXT = "cluster step −α·Mⱼ∇Lˢ (faint: own)"


@dataclass(frozen=True)
class ClusterSteps:
    """The arrows of one record in parameter space (rows: arrows)."""

    step: np.ndarray  # (C,) inner step j (0-based) of each cluster arrow
    cluster: np.ndarray  # (C,) its cluster's first member (whose colour it takes)
    members: tuple[np.ndarray, ...]  # (C,) the task indices of each cluster
    tails: np.ndarray  # (C, P): φʲ shared by the cluster
    tips: np.ndarray  # (C, P): φʲ⁺¹ = φʲ − α·(pooled gradient)
    own_task: np.ndarray  # (O,) the task of each own-gradient arrow
    own_step: np.ndarray  # (O,)
    own_tails: np.ndarray  # (O, P)
    own_tips: np.ndarray  # (O, P): φₘʲ − α·∇Lₘˢ(φₘʲ)


def cluster_steps(record: StepRecord) -> ClusterSteps | None:
    """The cluster arrows of a TreeMAML ``record`` (None: not TreeMAML, or its paths were
    thinned). Own-gradient arrows need ``inner_grads``, kept for small models only."""
    labels = record.diagnostics.get("cluster_labels")
    paths = record.paths
    if labels is None or paths is None:
        return None
    labels = np.asarray(labels)
    n, k = labels.shape[0], min(labels.shape[1], record.inner_steps)
    if paths.shape[1] != record.inner_steps + 1 or n != paths.shape[0]:
        return None
    step, cluster, members, tails, tips = [], [], [], [], []
    for j in range(k):
        for label in np.unique(labels[:, j]):
            who = np.flatnonzero(labels[:, j] == label)
            first = int(who[0])
            step.append(j)
            cluster.append(first)
            members.append(who)
            tails.append(paths[first, j])
            tips.append(paths[first, j + 1])
    own = record.diagnostics.get("inner_grads")  # (n, P, k)
    alpha = float(record.hyper.get("inner_lr", np.nan))
    own_task, own_step, own_tails, own_tips = [], [], [], []
    if own is not None and np.isfinite(alpha):
        own = np.asarray(own)
        for j in range(min(k, own.shape[-1])):
            for m in range(n):
                own_task.append(m)
                own_step.append(j)
                own_tails.append(paths[m, j])
                own_tips.append(paths[m, j] - alpha * own[m, :, j])
    dim = paths.shape[-1]

    def rows(values: list) -> np.ndarray:
        return np.array(values, dtype=np.float64).reshape(-1, dim)

    return ClusterSteps(step=np.array(step, dtype=int), cluster=np.array(cluster, dtype=int),
                        members=tuple(members), tails=rows(tails), tips=rows(tips),
                        own_task=np.array(own_task, dtype=int),
                        own_step=np.array(own_step, dtype=int),
                        own_tails=rows(own_tails), own_tips=rows(own_tips))


class ClusterArrows:
    """The cluster arrows on a plot: one :class:`ArrowSet` per colour (a cluster takes its
    first member's task colour; own steps their task's, faint)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme):
        self.plot = plot
        self.theme = theme
        self.pooled: list[ArrowSet] = []
        self.own: list[ArrowSet] = []
        self.steps: ClusterSteps | None = None
        self.n_tasks = 0
        self._visible = True
        self.antialias = True  # the plot's screen setting (see LandscapePlot.set_smooth)

    def set_tasks(self, n: int) -> None:
        """``n`` tasks: their arrow sets are made when a TreeMAML record first comes (other
        algorithms never pay for 2n empty items)."""
        for arrows in [*self.pooled, *self.own]:
            self.plot.removeItem(arrows.curve)
        self.pooled, self.own = [], []
        self.n_tasks = n

    def _make_sets(self) -> None:
        """One pooled and one own arrow set per task colour."""
        for i in range(self.n_tasks):
            colour = self.theme.task(i)
            # thicker than the task meta-gradient arrows (2 px) that also start at θ
            pooled = ArrowSet(self.plot, colour, width=4.0, z=27)
            own = ArrowSet(self.plot, colour, width=1.5, z=26, outline=None)
            own.curve.setPen(pen(colour, 1.5, OWN_ALPHA))
            self.pooled.append(pooled)
            self.own.append(own)
        self.set_visible(self._visible)
        if not self.antialias:
            for arrows in self.arrow_sets():
                arrows.curve.opts["antialias"] = self.antialias

    def arrow_sets(self) -> list[ArrowSet]:
        return [*self.pooled, *self.own]

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        for arrows in [*self.pooled, *self.own]:
            arrows.curve.setVisible(visible)

    def clear(self) -> None:
        self.steps = None
        for arrows in [*self.pooled, *self.own]:
            arrows.clear()

    def show(self, record: StepRecord, path_points: np.ndarray, projection: Projection) -> bool:
        """Draw ``record``'s arrows of the inner steps each task has reached
        (``path_points``: points of its path drawn, as the animation says). Returns whether
        the record has cluster arrows at all."""
        steps = cluster_steps(record)
        self.steps = steps
        if steps is None:
            for arrows in [*self.pooled, *self.own]:
                arrows.clear()
            return False
        if not self.pooled:
            self._make_sets()
        reached = np.asarray(path_points) - 1  # inner steps drawn per task
        shown = np.array([bool(np.any(reached[who] > j)) for who, j in
                          zip(steps.members, steps.step)], dtype=bool)
        own_shown = reached[steps.own_task] > steps.own_step if len(steps.own_task) else \
            np.zeros(0, dtype=bool)
        tails, tips = _on_plane(projection, steps.tails, steps.tips)
        own_tails, own_tips = _on_plane(projection, steps.own_tails, steps.own_tips)
        for i, arrows in enumerate(self.pooled):
            chosen = shown & (steps.cluster == i)
            arrows.set_arrows(tails[chosen], tips[chosen])
        for i, arrows in enumerate(self.own):
            chosen = own_shown & (steps.own_task == i)
            arrows.set_arrows(own_tails[chosen], own_tips[chosen])
        return True

    def redraw(self) -> None:
        for arrows in [*self.pooled, *self.own]:
            arrows.redraw()


def _on_plane(projection: Projection, tails: np.ndarray, tips: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    if not len(tails):
        return np.zeros((0, 2)), np.zeros((0, 2))
    uv = projection.to_plane(np.vstack([tails, tips]))
    return uv[: len(tails)], uv[len(tails):]


__all__ = ["ClusterArrows", "ClusterSteps", "LEGEND_TEXT", "cluster_steps"]
