"""glibc keeps the megabyte buffers a meta-step frees, so the next step does not fault them in."""

from __future__ import annotations

import resource

import pytest
import torch

from maml_gui.core.memory import keep_freed_memory


def _page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def test_freed_path_sized_buffers_are_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("the C library has no mallopt")
    shape = (25, 6, 1761)  # an MLP inner path: 1 MiB, 258 pages
    for _ in range(20):  # the heap grows to hold it once
        torch.empty(shape).fill_(1.0)
    before = _page_faults()
    for _ in range(20):
        torch.empty(shape).fill_(2.0)
    assert _page_faults() - before < 20  # without the thresholds: ~258 per buffer
    assert keep_freed_memory()  # once per process, the same answer
