"""The hand-written outer optimizers take exactly torch.optim's steps."""

from __future__ import annotations

import pytest
import torch

from maml_gui.core.optimizers import Adam, SGD


@pytest.mark.parametrize("ours, theirs", [
    (lambda: SGD(0.3), lambda p: torch.optim.SGD([p], lr=0.3)),
    (lambda: Adam(0.01), lambda p: torch.optim.Adam([p], lr=0.01)),
])
def test_same_trajectory_as_torch_optim(ours, theirs):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(7, generator=generator, dtype=torch.float64)
    mine, reference = start.clone(), start.clone().requires_grad_(True)
    optimizer, torch_optimizer = ours(), theirs(reference)
    for _ in range(50):
        grad = torch.randn(7, generator=generator, dtype=torch.float64) + mine
        optimizer.step(mine, grad)
        reference.grad = grad.clone()
        torch_optimizer.step()
        torch.testing.assert_close(mine, reference.detach(), rtol=1e-12, atol=1e-14)
