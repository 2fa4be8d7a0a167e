"""NoRML's 2-D point robot (Yang et al. 2019, ``norml/envs/move_point_env.py``): meta-RL.

The robot starts at (0, 0) and is rewarded −‖s′ − g‖ for every step towards the goal
g = (1, 0); a task rotates its actions by φ ∈ [−π, π]: s′ = clip(s + R(φ)a, −2, 2). The
policy is Gaussian, a ~ N(μ_θ(s), σ²I), with μ linear (μ(s) = Ws + b: with log σ, 7
parameters, and W = −R(−φ), b = R(−φ)g reaches the goal in one step) or an MLP (tanh).

Rollouts are seeded: a task batch carries the standard-normal noise ε of every action
(a = μ(s) + σε), one set for the rollouts before adaptation (``SUPPORT``) and one for those
after (``QUERY``). :meth:`PointRobotFamily.loss` is then a deterministic function of θ, the
negative mean return, so landscapes and every loss curve read as "−return". The RL
algorithms themselves (``norml``, and ``pretrain``/``maml`` on this family) use the
score-function gradient on the same rollouts (:mod:`maml_gui.core.algorithms.norml`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from maml_gui.core.fields import ConfigError, Field
from maml_gui.core.tasks.base import QUERY, SUPPORT, TaskBatch, TaskFamily, n_tasks_field, uniform

GOAL = (1.0, 0.0)
BOUND = 2.0  # the plane is clipped to [−2, 2]²
STATE_DIM = 2
POLICIES = ("linear", "mlp")
NOISE = {SUPPORT: "noise_pre", QUERY: "noise_post"}
ADVANTAGE_INPUTS = 3 * STATE_DIM  # A_ψ reads [s′, s, a]


@dataclass(frozen=True)
class Rollouts:
    """Transitions of ``R`` rollouts of ``H`` steps for each of ``n`` tasks (leading dims ``...``)."""

    states: torch.Tensor  # (..., n, R, H, 2): sₜ
    actions: torch.Tensor  # (..., n, R, H, 2): aₜ
    next_states: torch.Tensor  # (..., n, R, H, 2): sₜ₊₁
    rewards: torch.Tensor  # (..., n, R, H): −‖sₜ₊₁ − g‖

    def returns(self) -> torch.Tensor:
        """Mean undiscounted return of every task ``(..., n)``."""
        return self.rewards.sum(-1).mean(-1)

    def without_rewards(self) -> "Rollouts":
        """The same transitions with the rewards zeroed (what NoRML's inner step may see)."""
        return replace(self, rewards=torch.zeros_like(self.rewards))

    def detach(self) -> "Rollouts":
        return Rollouts(self.states.detach(), self.actions.detach(), self.next_states.detach(),
                        self.rewards.detach())


def rotation(angle: torch.Tensor) -> torch.Tensor:
    """R(φ) ``(..., 2, 2)`` for angles ``(...)``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def mlp(blocks: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A tanh MLP whose weights ``(..., n, out, in)`` and biases ``(..., n, out)`` come in
    ``blocks`` order, on inputs ``(..., n, M, in)``: outputs ``(..., n, M, out)``."""
    layers = len(blocks) // 2
    for i in range(layers):
        x = x @ blocks[2 * i].transpose(-1, -2) + blocks[2 * i + 1].unsqueeze(-2)
        if i < layers - 1:
            x = torch.tanh(x)
    return x


def mlp_layout(prefix: str, widths: list[int]) -> list[tuple[str, tuple[int, ...]]]:
    """Blocks ``W1, b1, W2, …`` of a dense network with layer ``widths``."""
    out: list[tuple[str, tuple[int, ...]]] = []
    for i in range(len(widths) - 1):
        out += [(f"{prefix}W{i + 1}", (widths[i + 1], widths[i])), (f"{prefix}b{i + 1}", (widths[i + 1],))]
    return out


def mlp_init(generator: torch.Generator, layout: list[tuple[str, tuple[int, ...]]]) -> torch.Tensor:
    """PyTorch's ``nn.Linear`` initialisation U(±1/√fan_in) of every block of ``layout``."""
    pieces = []
    for index, (_name, shape) in enumerate(layout):
        fan_in = shape[1] if index % 2 == 0 else layout[index - 1][1][1]
        bound = 1.0 / math.sqrt(fan_in)
        pieces.append(uniform(generator, shape, -bound, bound).reshape(-1))
    return torch.cat(pieces)


def split_blocks(theta: torch.Tensor, layout: list[tuple[str, tuple[int, ...]]]) -> list[torch.Tensor]:
    """``theta`` ``(..., P)`` cut into the blocks of ``layout``, each ``(..., *shape)``."""
    sizes = [int(np.prod(shape)) for _name, shape in layout]
    return [piece.reshape(*theta.shape[:-1], *shape)
            for piece, (_name, shape) in zip(theta.split(sizes, dim=-1), layout)]


class PointRobotFamily(TaskFamily):
    name = "point_robot"
    label = "Point robot (meta-RL)"
    description = ("2-D point moving to the goal (1, 0) from (0, 0); tasks rotate the actions by "
                   "φ ∈ [−π, π]; reward −‖s′ − g‖; Gaussian policy (NoRML's toy)")
    default_dtype = torch.float64
    #: rollouts and policy gradients: only the RL algorithms run on it
    reinforcement: ClassVar[bool] = True
    suggested = {"algorithm": "norml", "inner_lr": 1.0, "outer_optimizer": "adam",
                 "outer_lr": 0.006, "outer_lr_decay": "linear"}
    fields = (
        n_tasks_field(10, 1000, "Tasks (action rotations φ ~ U[−π, π]) drawn per meta-step."),
        Field("rollouts", "int", 25, "Rollouts per task, before and again after adaptation.",
              label="rollouts", low=1, high=1000, group="task"),
        Field("horizon", "int", 10, "Steps per rollout H.", label="horizon H", low=1, high=200,
              group="task"),
        Field("gamma", "float", 0.9, "Discount γ of the returns behind the advantages.",
              label="discount γ", low=0.0, high=1.0, group="task"),
        Field("policy", "choice", "linear",
              "Gaussian policy mean: linear μ(s) = Ws + b (7 parameters with log σ) or a tanh "
              "MLP 2-h-h-2.", label="policy", choices=POLICIES, group="task"),
        Field("policy_hidden", "int", 16, "Hidden width h of the MLP policy.",
              label="policy width", low=1, high=256, group="task"),
        Field("log_sigma0", "float", -0.75, "Initial log σ of the policy (NoRML: −0.75).",
              label="log σ₀", low=-10.0, high=3.0, group="task"),
    )

    # --- shape of the problem -------------------------------------------------------------
    def pool_size(self) -> int | None:
        return None  # every meta-step draws new rotations and new action noise

    @property
    def rollouts(self) -> int:
        return int(self.params["rollouts"])

    @property
    def horizon(self) -> int:
        return int(self.params["horizon"])

    def policy_layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """The policy's blocks: μ's weights, then one log σ shared by both action axes."""
        if self.params["policy"] == "linear":
            mean = [("W", (STATE_DIM, STATE_DIM)), ("b", (STATE_DIM,))]
        else:
            h = int(self.params["policy_hidden"])
            mean = mlp_layout("", [STATE_DIM, h, h, STATE_DIM])
        return mean + [("log_sigma", (1,))]

    @property
    def policy_dim(self) -> int:
        return sum(int(np.prod(shape)) for _name, shape in self.policy_layout())

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        return self.policy_layout()

    @property
    def param_dim(self) -> int:
        return sum(int(np.prod(shape)) for _name, shape in self.layout())

    def work_per_task(self, batch: TaskBatch) -> int:
        return self.rollouts * self.horizon * (STATE_DIM + int(self.params["policy_hidden"]))

    def policy(self, theta: torch.Tensor) -> torch.Tensor:
        """The policy's part of ``theta`` ``(..., P)``."""
        return theta[..., :self.policy_dim]

    # --- sampling ---------------------------------------------------------------------------
    def sample_fresh(self, n: int, generator: torch.Generator) -> TaskBatch:
        """``n`` rotations φ ~ U[−π, π] and their action noise, before and after adaptation."""
        angle = uniform(generator, (n,), -math.pi, math.pi)
        shape = (n, self.rollouts, self.horizon, STATE_DIM)
        tensors = {"angle": angle}
        for key in NOISE.values():
            tensors[key] = torch.randn(shape, generator=generator, dtype=torch.float64)
        return TaskBatch(tensors, np.full(n, -1, dtype=np.int64))

    def tasks_at(self, angles: torch.Tensor | np.ndarray, generator: torch.Generator) -> TaskBatch:
        """Tasks with the given rotations (views and evaluations) and fresh noise."""
        batch = self.sample_fresh(len(angles), generator)
        return batch.with_tensor("angle", torch.as_tensor(np.asarray(angles), dtype=torch.float64))

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        """μ ≡ 0 for the linear policy, PyTorch's initialisation for the MLP; log σ = log σ₀."""
        layout = self.policy_layout()[:-1]
        if self.params["policy"] == "linear":
            mean = torch.zeros(sum(int(np.prod(s)) for _n, s in layout), dtype=torch.float64)
        else:
            mean = mlp_init(generator, layout)
        return torch.cat([mean, torch.tensor([float(self.params["log_sigma0"])], dtype=torch.float64)])

    # --- the policy and the environment ----------------------------------------------------
    def mean_function(self, policy: torch.Tensor):
        """μ as a function of states ``(..., n, M, 2)`` → ``(..., n, M, 2)`` for policy rows
        ``(..., n, p)``, its blocks cut once (a rollout calls it every step)."""
        blocks = split_blocks(policy, self.policy_layout())[:-1]
        if self.params["policy"] == "linear":
            weight_t, bias = blocks[0].transpose(-1, -2), blocks[1].unsqueeze(-2)
            return lambda states: torch.baddbmm(bias, states, weight_t) if states.dim() == 3 \
                else states @ weight_t + bias
        return lambda states: mlp(blocks, states)

    def mean_action(self, policy: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """μ(s) ``(..., n, M, 2)`` for policy rows ``(..., n, p)`` and states ``(..., n, M, 2)``."""
        return self.mean_function(policy)(states)

    def log_sigma(self, policy: torch.Tensor) -> torch.Tensor:
        return policy[..., -1]

    def log_prob(self, policy: torch.Tensor, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log π(a|s) ``(..., n, R, H)`` of transitions ``(..., n, R, H, 2)``."""
        lead = states.shape[:-3]
        flat_s = states.reshape(*lead, -1, STATE_DIM)
        mean = self.mean_action(policy, flat_s).reshape(actions.shape)
        log_sigma = self.log_sigma(policy)[..., None, None]
        z = (actions - mean) * torch.exp(-log_sigma).unsqueeze(-1)
        return -0.5 * z.square().sum(-1) - STATE_DIM * log_sigma - math.log(2 * math.pi)

    def rollout(self, policy: torch.Tensor, batch: TaskBatch, split: str = QUERY) -> Rollouts:
        """Roll the policy out on every task with the batch's noise for ``split``.

        Differentiable in ``policy`` (reparameterised: a = μ(s) + σε); run it under
        ``torch.no_grad()`` for score-function gradients.
        """
        noise = batch[NOISE[split]].to(policy.dtype)
        lead = policy.shape[:-2]
        n, runs, horizon, _ = noise.shape
        turn_t = rotation(batch["angle"]).to(policy.dtype).transpose(-1, -2)  # (n, 2, 2)
        goal = torch.tensor(GOAL, dtype=policy.dtype, device=policy.device)
        sigma = torch.exp(self.log_sigma(policy))[..., None, None, None]  # (..., n, 1, 1, 1)
        jitter = (sigma * noise).unbind(-2)  # σε of every step, drawn at once
        mean = self.mean_function(policy)
        state = torch.zeros(*lead, n, runs, STATE_DIM, dtype=policy.dtype, device=policy.device)
        states, actions = [], []
        for t in range(horizon):
            action = mean(state) + jitter[t]
            states.append(state)
            actions.append(action)
            state = torch.clamp(state + action @ turn_t, -BOUND, BOUND)
        states.append(state)
        path = torch.stack(states, -2)  # (..., n, R, H + 1, 2)
        next_states = path[..., 1:, :]
        rewards = -(next_states - goal).norm(dim=-1)
        return Rollouts(path[..., :-1, :], torch.stack(actions, -2), next_states, rewards)

    # --- losses -----------------------------------------------------------------------------
    def loss(self, theta: torch.Tensor, batch: TaskBatch, split: str = SUPPORT) -> torch.Tensor:
        """Negative mean return of the policy part of ``theta`` on the batch's seeded rollouts."""
        return -self.rollout(self.policy(theta), batch, split).returns()

    def optimal_policy(self, angle: float) -> np.ndarray:
        """The linear policy that reaches the goal in one step on rotation φ (σ left at e⁻³):
        μ(s) = R(−φ)(g − s)."""
        back = rotation(torch.tensor(-angle, dtype=torch.float64)).numpy()
        return np.concatenate([-back.reshape(-1), back @ np.array(GOAL), [-3.0]])

    def default_view(self, batch: TaskBatch) -> tuple[float, float, float, float]:
        return (-BOUND, BOUND, -BOUND, BOUND)

    def check_config(self, config: Any) -> None:
        super().check_config(config)
        if config.algorithm not in RL_ALGORITHMS:
            raise ConfigError("algorithm", config.algorithm,
                              f"the {self.name} family is reinforcement learning: algorithm must "
                              f"be one of {', '.join(RL_ALGORITHMS)} (pretrain = domain "
                              "randomisation, maml = MAML-RL)")
        if config.inner_steps != 1:
            raise ConfigError("inner_steps", config.inner_steps,
                              f"the {self.name} family adapts by one policy-gradient step: set 1")


class NoRMLModel(PointRobotFamily):
    """The point robot's policy followed by A_ψ (a tanh MLP 6-h-h-1) and the offset e."""

    def __init__(self, params, advantage_hidden: int):
        super().__init__(params)
        self.advantage_hidden = int(advantage_hidden)

    def advantage_layout(self) -> list[tuple[str, tuple[int, ...]]]:
        h = self.advantage_hidden
        return mlp_layout("psi_", [ADVANTAGE_INPUTS, h, h, 1])

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        offsets = [(f"e_{name}", shape) for name, shape in self.policy_layout()]
        return self.policy_layout() + self.advantage_layout() + offsets

    @property
    def advantage_dim(self) -> int:
        return sum(int(np.prod(shape)) for _name, shape in self.advantage_layout())

    def parts(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(policy, ψ, e) of ``theta`` ``(..., P)``."""
        p, a = self.policy_dim, self.advantage_dim
        return theta[..., :p], theta[..., p:p + a], theta[..., p + a:]

    def advantage(self, psi: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                  next_states: torch.Tensor) -> torch.Tensor:
        """A_ψ(s′, s, a) ``(n, ...)`` for ψ rows ``(n, a)`` and transitions ``(n, ..., 2)``."""
        inputs = torch.cat([next_states, states, actions], -1)
        flat = inputs.reshape(inputs.shape[0], -1, ADVANTAGE_INPUTS)
        out = mlp(split_blocks(psi, self.advantage_layout()), flat)
        return out.reshape(inputs.shape[:-1])

    def default_theta0(self, generator: torch.Generator) -> torch.Tensor:
        """The policy's θ₀, ψ as PyTorch initialises it, e = 0."""
        policy = super().default_theta0(generator)
        psi = mlp_init(generator, self.advantage_layout())
        return torch.cat([policy, psi, torch.zeros_like(policy)])


#: the algorithms that run on this family (the others need a differentiable task loss)
RL_ALGORITHMS = ("norml", "pretrain", "maml")
