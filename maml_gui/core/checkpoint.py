"""Checkpoints of a headless run: an NPZ of the trainer's state, written atomically.

A checkpoint holds :meth:`MetaTrainer.state_dict <maml_gui.core.training.MetaTrainer.state_dict>`
(θ, the step index, the outer optimizer's moments, TR-MAML's task weights, the task stream's
random state) as exact arrays, the config (JSON) and a few facts about the run (``run``,
JSON: the trace it wrote, its recording schedule). Resuming rebuilds the trainer from the
config and loads the state, so the run continues bit-identically on the same device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from maml_gui.core.config import Config, ConfigError, config_json, make_config
from maml_gui.core.io import AtomicPath

CHECKPOINT_FORMAT = "maml-gui-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a usable maml-gui checkpoint; the message says why."""


@dataclass
class Checkpoint:
    config: Config
    state: dict[str, np.ndarray]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        """The index of the next meta-step (the steps before it are done)."""
        return int(self.state["step_index"])


def save_checkpoint(path: str | Path, trainer, run: Mapping[str, Any] | None = None) -> Path:
    """Write ``trainer``'s state to ``path`` atomically (a reader never sees half a file)."""
    arrays = {f"state/{k}": v for k, v in trainer.state_dict().items()}
    arrays.update(format=np.array(CHECKPOINT_FORMAT), version=np.array(CHECKPOINT_VERSION),
                  config=np.array(json.dumps(config_json(trainer.config))),
                  run=np.array(json.dumps(dict(run or {}))))
    with AtomicPath(path) as temp:
        with open(temp, "wb") as handle:
            np.savez(handle, **arrays)
    return Path(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if str(arrays.get("format", "")) != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a maml-gui checkpoint")
    if int(arrays["version"]) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} was written by a newer maml-gui")
    try:
        data = json.loads(str(arrays["config"]))
        config = make_config({k: v for k, v in data.items() if k != "schema_version"})
        run = json.loads(str(arrays.get("run", "{}")))
    except (ValueError, ConfigError, AttributeError) as exc:
        raise CheckpointError(f"{path}: damaged config ({exc})") from None
    state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
    if "theta" not in state or "step_index" not in state:
        raise CheckpointError(f"{path}: no trainer state in it")
    return Checkpoint(config, state, run)


def resume_trainer(checkpoint: Checkpoint, config: Config | None = None):
    """A :class:`~maml_gui.core.training.MetaTrainer` that continues ``checkpoint``."""
    from maml_gui.core.training import MetaTrainer

    trainer = MetaTrainer(config or checkpoint.config)
    trainer.load_state_dict(checkpoint.state)
    return trainer
