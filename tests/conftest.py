"""Test setup shared by every tier: headless Qt, one torch thread, no leaked threads or timers."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import torch

torch.set_num_threads(1)
