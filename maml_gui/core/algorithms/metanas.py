"""MetaNAS (Elsken et al. 2020): Reptile over weights and a DARTS architecture together.

Rules as in boschresearch/metanas (``task_optimizer/darts.py``, ``meta_optimizer/reptile.py``):
the task optimiser runs k first-order DARTS steps on the task's own training batch, the
temperature falling linearly from t_max to t_min; each step first moves the architecture
logits a (Adam, β = (0, 0.999), weight decay 10⁻³; skipped during warm-up) and then the
weights w (Adam with the gradient norm clipped at 5). The meta update is Reptile with
separate rates: w ← w + λ_w·meanᵢ(wᵢ − w), a ← a + λ_a·meanᵢ(aᵢ − a). Operations whose
probability falls below a threshold are pruned at regular meta-steps.

Simplifications at toy scale: the operations share the layer's weights (no cells), the Adam
state is fresh for every task and meta-step (the authors keep it across tasks), and ``sgd``
replaces both Adams by plain gradient steps (then, with the architecture frozen, this is
exactly the batched Reptile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maml_gui.core.algorithms.base import Algorithm, InnerPath, MetaGradient, starts
from maml_gui.core.config import Config
from maml_gui.core.optimizers import Adam
from maml_gui.core.tasks import QUERY, SUPPORT, TaskBatch, TaskFamily
from maml_gui.core.tasks.mixed_op_sinusoid import MixedOpSinusoid, temperatures

ADAM_BETA2 = 0.999
ARCH_WEIGHT_DECAY = 1e-3
WEIGHT_GRAD_CLIP = 5.0


def inner_adam(lr: float) -> Adam:
    """The authors' task optimiser: Adam with β = (0, 0.999), on every row (task) at once."""
    return Adam(lr, betas=(0.0, ADAM_BETA2))


@dataclass
class TaskOptimisation:
    """The DARTS task optimiser's run: the path, softmax(a/T) along it and its counts."""

    path: InnerPath
    arch_path: torch.Tensor  # (..., n, layers, ops, k+1)
    temperatures: list[float]
    evals: int  # loss-and-gradient evaluations per task


def clip_rows(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Each row's gradient scaled down to norm ``max_norm`` if above (torch's clip_grad_norm_)."""
    norms = grad.norm(dim=-1, keepdim=True)
    return grad * torch.clamp(max_norm / (norms + 1e-6), max=1.0)


class MetaNAS(Algorithm):
    name = "metanas"
    label = "MetaNAS"
    summary = ("Reptile over weights and DARTS logits: k first-order DARTS steps per task as "
               "T anneals; w ← w + λ_w·mean(wᵢ − w), a ← a + λ_a·mean(aᵢ − a)")
    own_adaptation = True
    fine_tune_prefix_stable = False  # T anneals over the whole run
    chart_series = ("arch_weights", "active_params")
    uses = ("inner_lr", "inner_steps", "outer_lr", "metanas_ops", "metanas_temperature",
            "metanas_inner_optimizer", "metanas_arch_outer_lr", "metanas_warmup",
            "metanas_prune", "metanas_prune_every")

    def __init__(self, family: TaskFamily, pool_size: int | None):
        super().__init__(family, pool_size)
        model: MixedOpSinusoid = family  # type: ignore[assignment]
        self.pruned = np.zeros((model.n_hidden, len(model.ops)), dtype=bool)
        self.steps_done = 0

    def frozen(self, config: Config) -> bool:
        """Architecture frozen this meta-step (warm-up)."""
        return self.steps_done < config.metanas_warmup

    def prune(self, theta: torch.Tensor, config: Config) -> None:
        """Drop operations with softmax(a)ₒ < threshold for good (never a layer's last one)."""
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        pruned = torch.as_tensor(self.pruned)
        probs = model.probabilities(model.arch(theta.detach()), 1.0, pruned).cpu().numpy()
        for layer in range(probs.shape[0]):
            drop = probs[layer] < config.metanas_prune
            drop[np.argmax(probs[layer])] = False
            self.pruned[layer] |= drop

    def task_optimise(self, start: torch.Tensor, batch: TaskBatch, config: Config, steps: int,
                      *, frozen: bool) -> TaskOptimisation:
        """``steps`` first-order DARTS steps from ``start`` ``(..., n, P)`` on every task's
        support batch, the temperature falling from t_max to t_min over them; the
        architecture stays put when ``frozen`` (warm-up)."""
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        pruned = torch.as_tensor(self.pruned)
        base = model.base_dim
        temps = temperatures(*config.metanas_temperature, steps) if steps else \
            [float(config.metanas_temperature[0])]
        adam = config.metanas_inner_optimizer == "adam"
        opt_w, opt_a = inner_adam(config.inner_lr), inner_adam(config.inner_lr)
        w, a = start[..., :base].clone(), start[..., base:].clone()
        searched = ~pruned.reshape(-1).to(a.device)  # pruned logits stay where they are

        def loss_and_grads(w: torch.Tensor, a: torch.Tensor, temperature: float):
            with torch.enable_grad():
                w, a = w.detach().requires_grad_(True), a.detach().requires_grad_(True)
                loss = model.loss_at(torch.cat([w, a], -1), batch, SUPPORT, temperature, pruned)
                grad_w, grad_a = torch.autograd.grad(loss.sum(), (w, a))
            return loss.detach(), grad_w, grad_a

        points, losses, norms = [start.detach().clone()], [], []
        arch_path = [model.probabilities(model.arch(start), temps[0], pruned)]
        evals = 0
        for temperature in temps[:steps]:
            loss, grad_w, grad_a = loss_and_grads(w, a, temperature)
            evals += 1
            losses.append(loss)
            if not frozen:  # DARTS: the architecture first, on the task's own training batch
                if adam:
                    opt_a.step(a, (grad_a + ARCH_WEIGHT_DECAY * a) * searched)
                else:
                    a = a - config.inner_lr * grad_a
                _loss, grad_w, grad_a = loss_and_grads(w, a, temperature)
                evals += 1
            norms.append(torch.cat([grad_w, grad_a], -1).norm(dim=-1))
            if adam:
                opt_w.step(w, clip_rows(grad_w, WEIGHT_GRAD_CLIP))
            else:
                w = w - config.inner_lr * grad_w
            phi = torch.cat([w, a], -1)
            points.append(phi.detach().clone())
            arch_path.append(model.probabilities(model.arch(phi), temperature, pruned))
        with torch.no_grad():
            losses.append(model.loss_at(points[-1], batch, SUPPORT, temps[-1], pruned))
        empty = torch.zeros(start.shape[:-1] + (0,), dtype=start.dtype, device=start.device)
        path = InnerPath(final=points[-1], points=torch.stack(points, dim=-2),
                         losses=torch.stack(losses, dim=-1),
                         grad_norms=torch.stack(norms, dim=-1) if norms else empty)
        return TaskOptimisation(path, torch.stack(arch_path, dim=-1), temps, evals)

    def fine_tune(self, theta: torch.Tensor, batch: TaskBatch, config: Config,
                  steps: int) -> InnerPath:
        """MetaNAS's task optimiser on weights and architecture (the architecture adapts at
        test time whatever the warm-up), detached."""
        return self.task_optimise(starts(theta, batch.n), batch, config, steps,
                                  frozen=False).path

    def adapt(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> InnerPath:
        return self.task_optimise(starts(theta, batch.n), batch, config, config.inner_steps,
                                  frozen=self.frozen(config)).path

    def predict(self, phi: torch.Tensor, x: torch.Tensor, config: Config) -> torch.Tensor:
        """The adapted network at the last inner step's temperature, pruned operations out."""
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        return model.predict(phi, x, self.final_temperature(config), torch.as_tensor(self.pruned))

    def evaluation_loss(self, phi: torch.Tensor, batch: TaskBatch, split: str,
                        config: Config) -> torch.Tensor:
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        return model.loss_at(phi, batch, split, self.final_temperature(config),
                             torch.as_tensor(self.pruned))

    @staticmethod
    def final_temperature(config: Config) -> float:
        """T of the k-th (last) inner step, where the meta-step judges the adapted network:
        t_min, or t_max when k ≤ 1."""
        k = config.inner_steps
        return float(temperatures(*config.metanas_temperature, k)[-1] if k else
                     config.metanas_temperature[0])

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        every = config.metanas_prune_every
        if every and self.steps_done and self.steps_done % every == 0 and not self.frozen(config):
            self.prune(theta, config)
        pruned = torch.as_tensor(self.pruned)
        n, base = batch.n, model.base_dim
        frozen = self.frozen(config)
        start = theta.detach().unsqueeze(0).expand(n, -1)
        run = self.task_optimise(start, batch, config, config.inner_steps, frozen=frozen)
        adapted = run.path.final
        temps = run.temperatures
        with torch.no_grad():
            loss_before = model.loss_at(start, batch, QUERY, temps[0], pruned)
            loss_after = model.loss_at(adapted, batch, QUERY, temps[-1], pruned)
        task_grads = start - adapted
        # One outer rate β for θ: the logits' rows scaled so that they move by λ_a, not β.
        beta = config.outer_lr
        task_grads[:, base:] *= config.metanas_arch_outer_lr / beta if beta > 0 else 0.0
        probabilities = model.probabilities(model.arch(theta.detach()), 1.0, pruned)
        return MetaGradient.from_path(
            run.path, task_grads,
            loss_before=loss_before,
            loss_after=loss_after,
            grad_evals=n * run.evals,
            hvp_evals=0,
            diagnostics={
                "arch_weights": probabilities.cpu().numpy(),
                # (n, layers, ops, k+1): inner steps last, the axis traces pad when k changes
                "arch_path": run.arch_path.cpu().numpy(),
                "temperatures": np.array(temps),
                "pruned": self.pruned.astype(np.float64),
                "arch_frozen": np.array(float(frozen)),
                "active_params": np.array(float(model.active_parameters(self.pruned))),
            },
        )

    def follow(self, diagnostics: dict[str, np.ndarray]) -> None:
        if "pruned" in diagnostics:
            self.pruned = np.asarray(diagnostics["pruned"]).astype(bool).copy()

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        self.steps_done += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"pruned": self.pruned.copy(), "steps_done": np.array(self.steps_done)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.pruned = np.array(state["pruned"], dtype=bool)
        self.steps_done = int(state["steps_done"])
