"""Animation speed that keeps a meta-step short, whatever the work in it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from maml_gui.core.animation import build_frames
from maml_gui.core.config import Config
from maml_gui.core.tasks import make_family
from maml_gui.runtime.run_controller import SPEEDS

#: A meta-step should take about this long at the chosen speed: slower than this, and
#: exploring (change α, watch θ move) turns into waiting.
TARGET_SECONDS_PER_META_STEP = 1.0


def frames_per_meta_step(config: Config, order: str) -> int:
    """How many animation frames one meta-step of ``config`` has (CG iterations at most)."""
    family = make_family(config.task)
    pool = family.pool_size()
    n_tasks = config.meta_batch or (pool if pool is not None else family.tasks_per_step())
    diagnostics: dict[str, np.ndarray] = {}
    if config.algorithm == "imaml":
        diagnostics["cg_residuals"] = np.zeros((n_tasks, config.cg_steps + 1))
    if config.algorithm == "tr_maml":
        diagnostics["task_weights_next"] = np.zeros(n_tasks)
    # the frames a real record of this config gets: the same function builds both
    shape = SimpleNamespace(n_tasks=n_tasks, inner_steps=config.inner_steps,
                            diagnostics=diagnostics)
    return len(build_frames(shape, order))  # type: ignore[arg-type]


def speed_for(frames: int, seconds: float = TARGET_SECONDS_PER_META_STEP) -> float:
    """The slowest animation speed (frames/s) that shows ``frames`` frames within ``seconds``
    (the fastest finite one if none does)."""
    finite = [s for s in SPEEDS if not math.isinf(s)]
    return next((s for s in finite if frames / s <= seconds), finite[-1])


def preset_speed(requested: float, frames: int) -> float:
    """A session's or preset's speed, raised where it would make a meta-step of ``frames``
    frames take longer than :data:`TARGET_SECONDS_PER_META_STEP` (full speed stays)."""
    if math.isinf(requested) or frames / requested <= TARGET_SECONDS_PER_META_STEP:
        return requested
    return max(requested, speed_for(frames))
