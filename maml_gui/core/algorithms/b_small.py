"""B-SMALL (Madan & Prasad 2021): MAML on a sparse variational-dropout network.

Each task's objective, in the inner and the outer loop, is its data loss under the local
reparameterisation noise plus λ times the KL term of its own (fast) weights:
ℒᵢ(φ) = MSE(φ; noise) + λ·KL(φ). Every parameter (μ, b, log σ) takes the k second-order
inner steps; the outer step follows the mean over tasks of the last step's query ℒ.
Weights with log ρ > 3 are dropped at evaluation: the sparsity is their fraction.
"""

from __future__ import annotations

import numpy as np
import torch

from maml_gui.core.algorithms.base import Algorithm, MetaGradient, run_inner_loop, task_rows
from maml_gui.core.config import Config
from maml_gui.core.tasks import QUERY, TaskBatch, TaskFamily
from maml_gui.core.tasks.svdo_sinusoid import SVDOSinusoid


class BSMALL(Algorithm):
    name = "b_small"
    label = "B-SMALL"
    summary = ("MAML on a sparse variational-dropout MLP: ℒᵢ = MSE + λ·KL in both loops; "
               "weights with log ρ > 3 drop out")
    second_order = True
    uses = ("inner_lr", "inner_steps", "outer_lr", "bsmall_lambda", "bsmall_log_sigma0",
            "bsmall_noise")

    def __init__(self, family: TaskFamily, pool_size: int | None):
        super().__init__(family, pool_size)
        self._noise: torch.Generator | None = None

    def noise_generator(self, config: Config) -> torch.Generator | None:
        """The seeded stream of LRT noise (None when the noise is off)."""
        if not config.bsmall_noise:
            return None
        if self._noise is None:
            seed = np.random.SeedSequence([config.seed, 0xB5A11]).generate_state(1)[0]
            self._noise = torch.Generator().manual_seed(int(seed))
        return self._noise

    def adapt(self, rows: torch.Tensor, batch: TaskBatch, config: Config,
              noise: torch.Generator | None, *, create_graph: bool = True):
        """The k inner steps on ℒˢ from ``rows`` and the query objective at φᵏ, per task."""
        model: SVDOSinusoid = self.family  # type: ignore[assignment]
        lam = config.bsmall_lambda

        def objective(phi: torch.Tensor, split: str) -> torch.Tensor:
            data = model.data_loss(phi, batch, split, noise=noise)
            return data if lam == 0 else data + lam * model.kl(phi)

        path = run_inner_loop(model, batch, rows, config.inner_lr, config.inner_steps,
                              create_graph=create_graph, objective_fn=objective)
        return path, objective(path.final, QUERY)

    def meta_gradient(self, theta: torch.Tensor, batch: TaskBatch, config: Config) -> MetaGradient:
        model: SVDOSinusoid = self.family  # type: ignore[assignment]
        rows = task_rows(theta, batch.n)
        path, query_objective = self.adapt(rows, batch, config, self.noise_generator(config))
        (task_grads,) = torch.autograd.grad(query_objective.sum(), rows)
        adapted = path.final.detach()
        with torch.no_grad():
            loss_before = model.loss(rows.detach(), batch, QUERY)
            loss_after = model.loss(adapted, batch, QUERY)
            masked_after = model.data_loss(adapted, batch, QUERY, masked=True)
            kl_theta = model.kl(theta.detach())
            kl_after = model.kl(adapted)
        sparsity, per_layer = model.sparsity(theta.detach())
        n, k = batch.n, config.inner_steps
        return MetaGradient.from_path(
            path, task_grads,
            loss_before=loss_before,
            loss_after=loss_after,
            grad_evals=n * (k + 1),
            hvp_evals=n * k,
            diagnostics={
                "sparsity": np.array(sparsity),
                "sparsity_per_layer": np.array(per_layer),
                "kl": kl_theta.cpu().numpy(),
                "kl_after": kl_after.cpu().numpy(),
                "masked_loss_after": masked_after.cpu().numpy(),
                "query_objective_after": query_objective.detach().cpu().numpy(),
            },
        )

    def state_dict(self) -> dict[str, np.ndarray]:
        if self._noise is None:
            return {}
        return {"noise_state": self._noise.get_state().numpy().copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "noise_state" in state:  # a checkpoint: continue the same noise stream
            self._noise = torch.Generator()
            self._noise.set_state(torch.from_numpy(np.array(state["noise_state"], dtype=np.uint8)))
