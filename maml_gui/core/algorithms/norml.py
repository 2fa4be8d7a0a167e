"""NoRML (Yang, Caluwaerts, Iscen, Tan, Finn 2019) and the meta-RL baselines on ``point_robot``.

Rules as in google-research ``norml/maml_rl.py`` (see REFERENCE-EXTENSIONS §4):

- pre-update rollouts of π_θ, their rewards removed;
- one inner step on L_in = −meanₜ[log π_θ(aₜ|sₜ)·A_ψ(sₜ₊₁, sₜ, aₜ)], then θ′ = θ − α∇L_in + e
  with a learned offset e (one number per policy parameter, log σ included);
- post-update rollouts of π_θ′; Â = discounted return − a per-task linear-feature baseline,
  normalised per task (the authors' code normalises only the last task, an indentation slip);
- the outer loss is PPO's clipped objective with the ratio π/stopgrad(π) ≡ 1, so its gradient
  is the vanilla policy gradient −mean Â∇log π_θ′, taken here directly, through the inner
  step (second order) into θ, ψ and e.

On the same family ``pretrain`` is domain randomisation (DR: no adaptation, the policy
gradient at θ) and ``maml`` is MAML-RL (the inner step uses the true advantages of the
pre-update rollouts, no offset). ``norml_learned_advantage`` and ``norml_offset`` switch
NoRML's two parts off one at a time (the paper's MAML_OFFSET and MAML_LAF ablations).
Simplification: MAML-RL's α is the fixed inner learning rate (the authors learn one per tensor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from maml_gui.core.algorithms.base import Algorithm, InnerPath, MetaGradient, task_rows
from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily
from maml_gui.core.tasks.point_robot import STATE_DIM, NoRMLModel, PointRobotFamily, Rollouts

BASELINE_RIDGE = 1e-5  # rllab's LinearFeatureBaseline
NORMALISE_EPS = 1e-8
#: rotations whose trajectories the traces keep (and the Method view draws)
DEMO_ANGLES = (-2.4, -0.8, 0.8, 2.4)
DEMO_ROLLOUTS = 25
DEMO_SEED = 12345
#: meta-steps between two demonstrations (each costs about half a meta-step)
DEMO_EVERY = 10
#: the A_ψ heatmap: actions on a grid over [−2, 2]², for one observed displacement from s = 0
ADVANTAGE_GRID = 21
ADVANTAGE_DISPLACEMENT = (0.0, 1.0)


# --- advantages --------------------------------------------------------------------------------
def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Rewards-to-go Gₜ = Σ_{t′≥t} γ^{t′−t} r_{t′} along the last axis."""
    horizon = rewards.shape[-1]
    index = torch.arange(horizon, device=rewards.device)
    power = (index[None, :] - index[:, None]).to(rewards.dtype)  # [t, t′] = t′ − t
    weights = torch.where(power >= 0, gamma ** power.clamp(min=0), torch.zeros_like(power))
    return rewards @ weights.T


def baseline_features(rollouts: Rollouts) -> torch.Tensor:
    """[s, s², s³, t/H, (t/H)², (t/H)³, 1] of every transition ``(n, R, H, 10)``."""
    s = rollouts.states
    horizon = s.shape[-2]
    time = (torch.arange(horizon, dtype=s.dtype, device=s.device) / horizon).expand(s.shape[:-1])
    time = time.unsqueeze(-1)
    return torch.cat([s, s**2, s**3, time, time**2, time**3, torch.ones_like(time)], -1)


def advantages(rollouts: Rollouts, gamma: float) -> torch.Tensor:
    """Â = Gₜ − b(sₜ, t) with a ridge-regression baseline fitted per task, then normalised per
    task to mean 0 and standard deviation 1; ``(n, R, H)``, no graph."""
    with torch.no_grad():
        returns = discounted_returns(rollouts.rewards, gamma)
        features = baseline_features(rollouts)
        n = returns.shape[0]
        x = features.reshape(n, -1, features.shape[-1]).double()
        y = returns.reshape(n, -1, 1).double()
        gram = x.transpose(1, 2) @ x + BASELINE_RIDGE * torch.eye(x.shape[-1], dtype=x.dtype,
                                                                   device=x.device)
        weights = torch.linalg.solve(gram, x.transpose(1, 2) @ y)
        advantage = (y - x @ weights).reshape(returns.shape).to(returns.dtype)
        flat = advantage.reshape(n, -1)
        mean, std = flat.mean(-1), flat.std(-1, unbiased=False)
        return (advantage - mean[:, None, None]) / (std[:, None, None] + NORMALISE_EPS)


def policy_gradient_loss(family: PointRobotFamily, policy: torch.Tensor, rollouts: Rollouts,
                         advantage: torch.Tensor) -> torch.Tensor:
    """−mean[log π(a|s)·A] of every task ``(n,)``: its gradient is the policy gradient."""
    log_prob = family.log_prob(policy, rollouts.states, rollouts.actions)
    return -(log_prob * advantage).flatten(1).mean(-1)


# --- one inner step ----------------------------------------------------------------------------
@dataclass
class InnerStep:
    """θ′ of every task (attached to the graph of θ, ψ and e) and what the step saw."""

    policy: torch.Tensor  # (n, p): θ′
    loss: torch.Tensor  # (n,): L_in at θ, detached
    grad_norm: torch.Tensor  # (n,)
    advantage: torch.Tensor  # (n, R, H): the advantages the step used (A_ψ or Â), detached


class PolicyGradientMeta(Algorithm):
    """Meta-RL on the point robot: one inner policy-gradient step, an outer policy gradient."""

    second_order = True
    uses = ("inner_lr", "inner_steps", "outer_lr")
    #: adapt at all (DR does not)
    adapts: ClassVar[bool] = True

    def __init__(self, family: TaskFamily, pool_size: int | None):
        super().__init__(family, pool_size)
        self.steps_done = 0

    def parts(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(policy, ψ, e) of task rows; the plain family has no ψ and no e (on NoRML's model,
        as the Compare tab's MAML reference, DR and MAML-RL leave them alone)."""
        if isinstance(self.family, NoRMLModel):
            return self.family.parts(rows)
        return rows, None, None

    def learned_advantage(self, config: Config) -> bool:
        return False

    def offset(self, config: Config) -> bool:
        return False

    @property
    def robot(self) -> PointRobotFamily:
        return self.family  # type: ignore[return-value]

    def pre_rollouts(self, rows: torch.Tensor, batch: TaskBatch) -> Rollouts:
        """Rollouts of π_θ on the batch's pre-update noise, no graph."""
        with torch.no_grad():
            return self.robot.rollout(self.parts(rows)[0].detach(), batch, SUPPORT)

    def inner_step(self, rows: torch.Tensor, pre: Rollouts, config: Config, *,
                   create_graph: bool = True) -> InnerStep:
        """θ′ = θ − α∇L_in(θ) (+ e): with A_ψ on ``pre`` stripped of its rewards, or with
        the true advantages of ``pre`` (MAML-RL)."""
        policy, psi, offset = self.parts(rows)
        if self.learned_advantage(config):
            seen = pre.without_rewards()  # NoRML never sees a reward before adapting
            advantage = self.family.advantage(psi, seen.states, seen.actions, seen.next_states)
        else:
            advantage = advantages(pre, float(self.robot.params["gamma"]))
        loss = policy_gradient_loss(self.robot, policy, pre, advantage)
        (grad,) = torch.autograd.grad(loss.sum(), policy, create_graph=create_graph)
        adapted = policy - config.inner_lr * grad
        if self.offset(config):
            adapted = adapted + offset
        return InnerStep(adapted, loss.detach(), grad.detach().norm(dim=-1), advantage.detach())

    def full_rows(self, rows: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
        """Task rows with the policy part replaced (ψ and e do not adapt)."""
        return torch.cat([policy, rows[:, policy.shape[-1]:]], -1)

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        gamma = float(self.robot.params["gamma"])
        rows = task_rows(theta, batch.n)
        start = rows.detach()
        if self.adapts:
            pre = self.pre_rollouts(rows, batch)
            step = self.inner_step(rows, pre, config)
            adapted = step.policy
        else:
            adapted = self.parts(rows)[0]
        with torch.no_grad():
            post = self.robot.rollout(adapted.detach(), batch, QUERY)
        outer = policy_gradient_loss(self.robot, adapted, post, advantages(post, gamma))
        (task_grads,) = torch.autograd.grad(outer.sum(), rows)
        loss_after = -post.returns()
        n = batch.n
        diagnostics = self.diagnostics(theta, batch, config)
        self.steps_done += 1  # here, not in post_step: the Compare tab's reference counts too
        if not self.adapts:
            return MetaGradient.from_path(
                InnerPath(start, start.unsqueeze(1), loss_after.unsqueeze(1),
                          torch.zeros(n, 0, dtype=start.dtype, device=start.device)),
                task_grads, loss_before=loss_after, loss_after=loss_after,
                grad_evals=n, hvp_evals=0, diagnostics=diagnostics)
        after = self.full_rows(start, adapted.detach())
        with torch.no_grad():  # the inner objective where the step arrived, same advantages
            arrived = policy_gradient_loss(self.robot, adapted.detach(), pre, step.advantage)
        path = InnerPath(after, torch.stack([start, after], 1),
                         torch.stack([step.loss, arrived], 1), step.grad_norm.unsqueeze(1))
        diagnostics["inner_loss"] = step.loss.mean().cpu().numpy()
        return MetaGradient.from_path(path, task_grads, loss_before=-pre.returns(),
                                      loss_after=loss_after, grad_evals=2 * n, hvp_evals=n,
                                      diagnostics=diagnostics)

    def adapt(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> InnerPath:
        """Every task's policy before and after its (detached) inner step."""
        rows = task_rows(theta, batch.n)
        start = rows.detach()
        if not self.adapts:
            loss = self.robot.loss(start, batch, QUERY)
            return InnerPath(start, start.unsqueeze(1), loss.unsqueeze(1),
                             torch.zeros(batch.n, 0, dtype=start.dtype, device=start.device))
        step = self.inner_step(rows, self.pre_rollouts(rows, batch), config, create_graph=False)
        after = self.full_rows(start, step.policy.detach())
        with torch.no_grad():
            losses = torch.stack([self.robot.loss(start, batch, SUPPORT),
                                  self.robot.loss(after, batch, SUPPORT)], 1)
        return InnerPath(after, torch.stack([start, after], 1), losses, step.grad_norm.unsqueeze(1))

    def demo_due(self) -> bool:
        """This meta-step's record carries the demonstration (every :data:`DEMO_EVERY` steps)."""
        return self.steps_done % DEMO_EVERY == 0

    def diagnostics(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> dict[str, np.ndarray]:
        """σ, and every :data:`DEMO_EVERY` steps the mean-action trajectories before and after
        adaptation on :data:`DEMO_ANGLES` (``demo_pre``/``demo_post``: rotations × (H + 1) × 2)."""
        out = demo_trajectories(self, theta, config) if self.demo_due() else {}
        out["log_sigma"] = self.parts(theta.detach())[0][-1:].cpu().numpy().copy()
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"steps_done": np.array(self.steps_done, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps_done = int(state["steps_done"])


def demo_trajectories(algorithm: PolicyGradientMeta, theta: torch.Tensor,
                      config: Config) -> dict[str, np.ndarray]:
    """The noise-free paths of π_θ and of each rotation's π_θ′ (adapted on seeded rollouts)."""
    robot = algorithm.robot
    generator = torch.Generator().manual_seed(DEMO_SEED)
    angles = torch.tensor(DEMO_ANGLES, dtype=torch.float64)
    shape = (len(DEMO_ANGLES), DEMO_ROLLOUTS, robot.horizon, STATE_DIM)
    batch = TaskBatch({"angle": angles,
                       "noise_pre": torch.randn(shape, generator=generator, dtype=torch.float64),
                       "noise_post": torch.zeros(shape[0], 1, *shape[2:], dtype=torch.float64)},
                      np.arange(len(DEMO_ANGLES))).to(theta.device, theta.dtype)
    rows = task_rows(theta.detach(), len(DEMO_ANGLES))
    before = algorithm.parts(rows)[0].detach()
    after = before
    if algorithm.adapts:
        after = algorithm.inner_step(rows, algorithm.pre_rollouts(rows, batch), config,
                                     create_graph=False).policy.detach()
    out = {"demo_angles": angles.numpy().copy()}
    with torch.no_grad():
        for key, policy in (("demo_pre", before), ("demo_post", after)):
            roll = robot.rollout(policy, batch, QUERY)
            path = torch.cat([roll.states[:, 0, :1], roll.next_states[:, 0]], 1)
            out[key] = path.cpu().numpy().copy()
    return out


def advantage_map(model: NoRMLModel, theta: torch.Tensor,
                  displacement: tuple[float, float] = ADVANTAGE_DISPLACEMENT,
                  grid: int = ADVANTAGE_GRID) -> np.ndarray:
    """A_ψ(s′ = d, s = 0, a) over actions a on a ``grid × grid`` lattice of [−2, 2]² (rows: a_y)."""
    _policy, psi, _e = model.parts(theta.detach())
    axis = torch.linspace(-2.0, 2.0, grid, dtype=theta.dtype, device=theta.device)
    ay, ax = torch.meshgrid(axis, axis, indexing="ij")
    actions = torch.stack([ax, ay], -1).reshape(1, -1, STATE_DIM)
    states = torch.zeros_like(actions)
    nexts = torch.tensor(displacement, dtype=theta.dtype, device=theta.device).expand_as(actions)
    with torch.no_grad():
        values = model.advantage(psi.unsqueeze(0), states, actions, nexts)
    return values.reshape(grid, grid).cpu().numpy().copy()


class NoRML(PolicyGradientMeta):
    name = "norml"
    label = "NoRML"
    summary = ("θ′ = θ − α∇(−mean log π·A_ψ(s′,s,a)) + e on reward-free rollouts; outer policy "
               "gradient on (θ, ψ, e) through the step")
    uses = ("inner_lr", "inner_steps", "outer_lr", "norml_offset", "norml_learned_advantage")

    def learned_advantage(self, config: Config) -> bool:
        return bool(config.norml_learned_advantage)

    def offset(self, config: Config) -> bool:
        return bool(config.norml_offset)

    def diagnostics(self, theta, batch, config):
        out = super().diagnostics(theta, batch, config)
        _policy, _psi, offset = self.parts(theta.detach())
        out["offset"] = offset.cpu().numpy().copy()
        if self.demo_due():
            out["advantage_map"] = advantage_map(self.family, theta)  # type: ignore[arg-type]
        return out


class DomainRandomisation(PolicyGradientMeta):
    """``pretrain`` on the point robot: one policy for every rotation, no adaptation."""

    name = "pretrain"
    label = "Domain randomisation (DR)"
    short_label = "DR"
    summary = "gᵢ = −mean Â∇log π_θ on task i's rollouts: one policy for all rotations"
    uses = ("outer_lr",)
    second_order = False
    adapts = False


class MAMLRL(PolicyGradientMeta):
    """``maml`` on the point robot: the inner step uses the true advantages of the pre-update
    rollouts (their rewards), no offset."""

    name = "maml"
    label = "MAML-RL"
    summary = ("θ′ = θ − α∇(−mean log π·Â) with the pre-update rewards; outer policy gradient "
               "through the step")


#: what ``pretrain``, ``maml`` and ``norml`` run as on a reinforcement-learning family
RL_VARIANTS: dict[str, type[PolicyGradientMeta]] = {
    "pretrain": DomainRandomisation, "maml": MAMLRL, "norml": NoRML,
}


def evaluate_returns(algorithm: PolicyGradientMeta, theta: torch.Tensor, config: Config,
                     n_tasks: int, seed: int) -> tuple[float, float]:
    """Mean return before and after adaptation on ``n_tasks`` fresh rotations (seeded)."""
    batch = algorithm.robot.sample_fresh(n_tasks, torch.Generator().manual_seed(seed))
    batch = batch.to(theta.device, theta.dtype)
    path = algorithm.adapt(theta, batch, config)
    with torch.no_grad():
        before = -algorithm.robot.loss(path.points[:, 0], batch, QUERY).mean()
        after = -algorithm.robot.loss(path.final, batch, QUERY).mean()
    return float(before), float(after)


__all__ = ["DomainRandomisation", "MAMLRL", "NoRML", "NoRMLModel", "RL_VARIANTS", "advantage_map",
           "advantages", "evaluate_returns"]
