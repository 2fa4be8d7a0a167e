"""iTAML (Rajasegaran et al., CVPR 2020): meta-learning over a stream of tasks that must not
be forgotten.

Tasks arrive one per session (``itaml_session_steps`` meta-steps each); a session trains on
the new task's data ∪ a bounded exemplar memory (:mod:`itaml_stream`). Every meta-step is one
minibatch B drawn from that data; with Φ_base = θ and μₛ = exp(−β·s/T):

* ``paper``: every task i present in B adapts r = k plain SGD steps from Φ_base on BCE of its
  own samples, and Φ ← μₛ·meanᵢ Φᵢ + (1 − μₛ)·Φ_base;
* ``code``: the released code's rule (its ``copy.deepcopy`` never resets the model): the tasks
  adapt one after another, each from where the previous stopped, Φ ← μₛ·Φ_seq + (1 − μₛ)·Φ_base;
* ``replay`` / ``naive``: baselines on the same stream, r SGD steps on all of B's samples
  together (new data ∪ memory / the new task only), Φ ← Φ_r.

The outer optimizer receives gᵢ's aggregate θ − Φ: with SGD at outer lr β = 1 (the presets)
θ becomes Φ exactly; other β scale the move as Reptile's ε does. Rows of the records are all
T tasks of the stream; a task absent from B keeps φᵢ = θ (``diagnostics["present"]`` says
which rows adapted).
"""

from __future__ import annotations

import numpy as np
import torch

from maml_gui.core.algorithms.base import Algorithm, MetaGradient, query_loss
from maml_gui.core.algorithms.itaml_stream import (
    class_ranks, classes_per_task, draw_minibatch, infer, interpolation_weight, memory_counts,
    memory_mask, sample_classes, session_mask, session_of, task_scores, task_subset,
)
from maml_gui.core.config import Config
from maml_gui.core.tasks import SUPPORT, TaskBatch, TaskFamily

#: the meta-learning rules; the other variants are baselines (μ = 1, one joint path)
ITAML_RULES = ("paper", "code")
#: the paper's inference (an adaptation per task) runs every this many steps; records between
#: repeat its latest result, so that it does not double the cost of a step
INFERENCE_EVERY = 10
STREAM_SALT = 15  # the minibatch stream's seed is (config.seed, this): apart from the trainer's


def sgd_path(family: TaskFamily, start: torch.Tensor, subsets: list[TaskBatch], lr: float,
             steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``steps`` plain SGD steps from ``start`` ``(P,)`` on the mean loss over the exemplars
    of ``subsets`` (one task each); returns the points ``(steps+1, P)``, the losses
    ``(steps+1,)`` and the gradient norms ``(steps,)``."""
    sizes = torch.tensor([_exemplars(s) for s in subsets], dtype=start.dtype)
    weights = (sizes / sizes.sum()).to(start.device)

    def objective(phi: torch.Tensor) -> torch.Tensor:
        row = phi.unsqueeze(0)
        return sum(w * family.loss(row, s, SUPPORT)[0] for w, s in zip(weights, subsets))

    phi = start.detach()
    points, losses, norms = [phi], [], []
    for _ in range(steps):
        phi = phi.detach().requires_grad_(True)
        loss = objective(phi)
        (grad,) = torch.autograd.grad(loss, phi)
        losses.append(loss.detach())
        norms.append(grad.norm())
        phi = (phi - lr * grad).detach()
        points.append(phi)
    with torch.no_grad():
        losses.append(objective(phi))
    return torch.stack(points), torch.stack(losses), torch.stack(norms) if norms else \
        torch.zeros(0, dtype=start.dtype, device=start.device)


def _exemplars(subset: TaskBatch) -> int:
    return int(subset["x_support"].shape[1]) if "x_support" in subset.tensors else 1


class ITAML(Algorithm):
    name = "itaml"
    label = "iTAML"
    summary = ("tasks arrive one per session, a bounded memory replays the old ones; per "
               "minibatch every present task adapts r steps from Φ_base and "
               "Φ ← μₛ·meanᵢ Φᵢ + (1 − μₛ)·Φ_base, μₛ = exp(−β·s/T)")
    uses = ("inner_lr", "inner_steps", "outer_lr", "itaml_variant", "itaml_memory",
            "itaml_decay", "itaml_session_steps", "itaml_batch")

    def __init__(self, family: TaskFamily, pool_size: int | None):
        super().__init__(family, pool_size)
        self.steps_done = 0
        self.generator: torch.Generator | None = None  # seeded at the first step (needs config)
        self.score_matrix = np.full((pool_size or 0, pool_size or 0), np.nan)
        self._ranks: np.ndarray | None = None
        self._classes: np.ndarray | None = None
        self._inference: dict[str, np.ndarray] | None = None

    # --- the stream ---------------------------------------------------------------------
    def _stream(self, pool: TaskBatch) -> tuple[np.ndarray, np.ndarray]:
        if self._ranks is None:
            self._classes = sample_classes(self.family, pool)
            self._ranks = class_ranks(self._classes)
        return self._classes, self._ranks

    def _generator(self, config: Config) -> torch.Generator:
        if self.generator is None:
            state = np.random.SeedSequence([config.seed, STREAM_SALT]).generate_state(1, np.uint64)
            self.generator = torch.Generator().manual_seed(int(state[0]) & (2**63 - 1))
        return self.generator

    def session(self, config: Config, n_tasks: int) -> int:
        return session_of(self.steps_done, config.itaml_session_steps, n_tasks)

    # --- one minibatch ------------------------------------------------------------------
    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        n, steps, lr = batch.n, config.inner_steps, config.inner_lr
        variant = config.itaml_variant
        classes, ranks = self._stream(batch)
        per_task = classes_per_task(self.family)
        session = self.session(config, n)
        mu = interpolation_weight(session, config.itaml_decay, n) if variant in ITAML_RULES else 1.0
        data = session_mask(ranks, config.itaml_memory, session, per_task,
                            use_memory=variant != "naive")
        picked = draw_minibatch(data, config.itaml_batch, self._generator(config))
        present = [int(t) for t in np.flatnonzero(picked.any(1))]
        subsets = {t: task_subset(batch, t, picked[t]) for t in present}

        theta = theta.detach()
        with torch.no_grad():
            base_losses = self.family.loss(theta.expand(n, -1), batch, SUPPORT)
        paths = theta.expand(n, steps + 1, -1).clone()
        inner_losses = base_losses.unsqueeze(1).expand(n, steps + 1).clone()
        norms = torch.zeros(n, steps, dtype=theta.dtype, device=theta.device)

        def record(task: int, path: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
            paths[task], inner_losses[task], norms[task] = path

        if variant == "paper":
            for t in present:
                record(t, sgd_path(self.family, theta, [subsets[t]], lr, steps))
            target = paths[present, -1].mean(0)
        elif variant == "code":
            current = theta
            for t in present:
                record(t, sgd_path(self.family, current, [subsets[t]], lr, steps))
                current = paths[t, -1]
            target = current
        else:
            joint = sgd_path(self.family, theta, [subsets[t] for t in present], lr, steps)
            for t in present:
                record(t, joint)
            target = joint[0][-1]
        interpolated = mu * target + (1.0 - mu) * theta
        adapted = paths[:, -1]

        diagnostics = self._diagnostics(theta, batch, config, session, mu, picked, classes)
        diagnostics["theta_interpolated"] = interpolated.cpu().numpy()
        return MetaGradient(
            task_grads=theta - adapted,
            aggregate=theta - interpolated,
            paths=paths,
            inner_losses=inner_losses,
            inner_grad_norms=norms,
            loss_before=query_loss(self.family, batch, theta.expand(n, -1)),
            loss_after=query_loss(self.family, batch, adapted),
            grad_evals=steps * (len(present) if variant in ITAML_RULES else 1),
            hvp_evals=0,
            diagnostics=diagnostics,
        )

    def _diagnostics(self, theta: torch.Tensor, pool: TaskBatch, config: Config, session: int,
                     mu: float, picked: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
        """What the Method views draw: the session, μ, the batch, the memory, the scores."""
        n = pool.n
        per_task = classes_per_task(self.family)
        memory = config.itaml_memory if config.itaml_variant != "naive" else 0
        kept = memory_mask(self._ranks, memory, session, per_task)
        scores, kind = task_scores(self.family, theta, pool)
        if self.steps_done > 0 and session_of(self.steps_done - 1, config.itaml_session_steps,
                                              n) < session:
            self.score_matrix[session - 1] = scores  # θ after the previous session's last step
        self.score_matrix[session] = scores  # provisional until this session ends
        out = {
            "session": np.array(session, dtype=np.int64),
            "mu": np.array(mu),
            "present": picked.any(1).astype(np.float64),
            "batch_counts": picked.sum(1).astype(np.float64),
            "batch_mask": picked.astype(np.float64),  # (T, N): which exemplars B holds
            "memory_counts": memory_counts(classes, kept, n * per_task).astype(np.float64),
            "task_scores": scores,
            "score_matrix": self.score_matrix.copy(),
            "score_is_accuracy": np.array(kind == "accuracy"),
        }
        if hasattr(self.family, "logits"):  # classifiers: the paper's task-agnostic inference
            if self._inference is None or self.steps_done % INFERENCE_EVERY == 0:
                # its own generator: the views' inference leaves the minibatch stream alone
                order = torch.Generator().manual_seed(self.steps_done)
                self._inference = infer(self.family, theta, pool, kept, session, order)
            out.update(self._inference)
        return out

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        self.steps_done += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"steps_done": np.array(self.steps_done, dtype=np.int64),
                 "score_matrix": self.score_matrix.copy()}
        if self.generator is not None:
            state["generator"] = self.generator.get_state().numpy().copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps_done = int(state["steps_done"])
        self.score_matrix = np.array(state["score_matrix"], dtype=np.float64, copy=True)
        if "generator" in state:
            self.generator = torch.Generator()
            self.generator.set_state(torch.from_numpy(np.array(state["generator"], np.uint8)))
