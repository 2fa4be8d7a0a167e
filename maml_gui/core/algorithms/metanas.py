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

import numpy as np
import torch

from maml_gui.core.algorithms.base import Algorithm, MetaGradient, mean_aggregate
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


def clip_rows(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Each row's gradient scaled down to norm ``max_norm`` if above (torch's clip_grad_norm_)."""
    norms = grad.norm(dim=-1, keepdim=True)
    return grad * torch.clamp(max_norm / (norms + 1e-6), max=1.0)


class MetaNAS(Algorithm):
    name = "metanas"
    label = "MetaNAS"
    summary = ("Reptile over weights and DARTS logits: k first-order DARTS steps per task as "
               "T anneals; w ← w + λ_w·mean(wᵢ − w), a ← a + λ_a·mean(aᵢ − a)")
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

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        model: MixedOpSinusoid = self.family  # type: ignore[assignment]
        every = config.metanas_prune_every
        if every and self.steps_done and self.steps_done % every == 0 and not self.frozen(config):
            self.prune(theta, config)
        pruned = torch.as_tensor(self.pruned)
        n, k, base = batch.n, config.inner_steps, model.base_dim
        temps = temperatures(*config.metanas_temperature, k)
        frozen = self.frozen(config)
        adam = config.metanas_inner_optimizer == "adam"
        opt_w, opt_a = inner_adam(config.inner_lr), inner_adam(config.inner_lr)
        start = theta.detach().unsqueeze(0).expand(n, -1)
        w, a = start[:, :base].clone(), start[:, base:].clone()
        searched = ~pruned.reshape(-1).to(a.device)  # pruned logits stay where they are

        def loss_and_grads(w: torch.Tensor, a: torch.Tensor, temperature: float):
            w, a = w.detach().requires_grad_(True), a.detach().requires_grad_(True)
            loss = model.loss_at(torch.cat([w, a], -1), batch, SUPPORT, temperature, pruned)
            grad_w, grad_a = torch.autograd.grad(loss.sum(), (w, a))
            return loss.detach(), grad_w, grad_a

        points, losses, norms, arch_path = [start.detach().clone()], [], [], []
        arch_path.append(model.probabilities(model.arch(start), temps[0], pruned))
        evals = 0
        for temperature in temps:
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
        adapted = points[-1]
        with torch.no_grad():
            losses.append(model.loss_at(adapted, batch, SUPPORT, temps[-1], pruned))
            loss_before = model.loss_at(start, batch, QUERY, temps[0], pruned)
            loss_after = model.loss_at(adapted, batch, QUERY, temps[-1], pruned)
        task_grads = start - adapted
        # One outer rate β for θ: the logits' rows scaled so that they move by λ_a, not β.
        beta = config.outer_lr
        task_grads[:, base:] *= config.metanas_arch_outer_lr / beta if beta > 0 else 0.0
        probabilities = model.probabilities(model.arch(theta.detach()), 1.0, pruned)
        return MetaGradient(
            task_grads=task_grads,
            aggregate=mean_aggregate(task_grads),
            paths=torch.stack(points, dim=1),
            inner_losses=torch.stack(losses, dim=1),
            inner_grad_norms=torch.stack(norms, dim=1),
            loss_before=loss_before,
            loss_after=loss_after,
            grad_evals=n * evals,
            hvp_evals=0,
            diagnostics={
                "arch_weights": probabilities.cpu().numpy(),
                # (n, layers, ops, k+1): inner steps last, the axis traces pad when k changes
                "arch_path": torch.stack(arch_path, dim=-1).cpu().numpy(),
                "temperatures": np.array(temps),
                "pruned": self.pruned.astype(np.float64),
                "arch_frozen": np.array(float(frozen)),
                "active_params": np.array(float(model.active_parameters(self.pruned))),
            },
        )

    def post_step(self, result: MetaGradient, batch: TaskBatch, config: Config) -> None:
        self.steps_done += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"pruned": self.pruned.copy(), "steps_done": np.array(self.steps_done)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.pruned = np.array(state["pruned"], dtype=bool)
        self.steps_done = int(state["steps_done"])
