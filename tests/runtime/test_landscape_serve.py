"""The landscape serve loop (no Qt): coarse then full grid, and a newer request that cuts the
one in flight short at the next chunk of its grid."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import torch

from maml_gui.core import landscape_mlp
from maml_gui.core.config import config_json, make_config
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks, random_plane
from maml_gui.core.training import MetaTrainer
from maml_gui.runtime.landscape_process import serve

CONFIG = make_config({"task": {"family": "sinusoid", "hidden": [8], "n_tasks": 4, "k_shot": 5}})


def _request(generation: int, xrange: tuple[float, float]) -> dict:
    trainer = MetaTrainer(CONFIG)
    return {"generation": generation, "config": config_json(CONFIG),
            "tasks": landscape_tasks(CONFIG), "surface": "meta", "xrange": xrange,
            "yrange": (-1.0, 1.0), "resolutions": (8, 32),
            "plane": random_plane(trainer.family, trainer.theta.double().numpy(), seed=0),
            "anchor": None, "weights": None, "dtype": torch.float64}


class Commands:
    """A command queue whose second request turns up after ``chunks`` chunks of the first
    request's full grid (counted by the chunks the MLP loop computes once a surface is out)."""

    def __init__(self, first: dict, second: dict, results: list, chunks: int):
        self.waiting = [("request", first)]
        self.second, self.results, self.chunks = second, results, chunks
        self.full_chunks = 0  # chunks computed since the first surface was sent

    def count_chunk(self, points: torch.Tensor) -> None:
        if any(r[0] == "surface" for r in self.results):  # past the coarse grid
            self.full_chunks += 1
            if self.full_chunks == self.chunks and self.second is not None:
                self.waiting.append(("request", self.second))
                self.second = None

    def get(self):
        return self.waiting.pop(0) if self.waiting else ("stop",)

    def get_nowait(self):
        if not self.waiting:
            raise queue.Empty
        return self.waiting.pop(0)


class Results(list):
    def put(self, item) -> None:
        self.append(item)


def test_a_newer_request_cuts_the_full_grid_short_at_the_next_chunk(monkeypatch):
    first, second = _request(1, (-1.0, 1.0)), _request(2, (-0.5, 0.5))
    results = Results()
    commands = Commands(first, second, results, chunks=2)
    losses = landscape_mlp._mlp_losses

    def counting(family, points, *args):
        commands.count_chunk(points)
        return losses(family, points, *args)

    monkeypatch.setattr(landscape_mlp, "_mlp_losses", counting)
    monkeypatch.setattr(landscape_mlp, "chunk_size", lambda tasks, family: 64)  # 32² = 16 chunks
    serve(commands, results)
    kinds = [(r[0], r[1], len(r[2].x)) if r[0] == "surface" else r[:2] for r in results]
    assert kinds == [("surface", 1, 8), ("finished", 1), ("surface", 2, 8), ("surface", 2, 32),
                     ("finished", 2), ("done",)]
    # two chunks of the first full grid, then the second request's coarse grid (one chunk)
    # and its full grid (16): the first stopped at the chunk boundary after the newer came
    assert commands.full_chunks == 2 + 1 + 16
    expected = LandscapeEvaluator(CONFIG, landscape_tasks(CONFIG)).grid(
        "meta", (-0.5, 0.5), (-1.0, 1.0), 32, plane=second["plane"])
    np.testing.assert_allclose(results[3][2].z, expected.z, rtol=1e-12)


@pytest.mark.parametrize("stop_first", [True, False])
def test_stop_during_a_grid_ends_the_loop(monkeypatch, stop_first):
    results = Results()
    commands = Commands(_request(1, (-1.0, 1.0)), None, results, chunks=0)
    losses = landscape_mlp._mlp_losses

    def stopping(family, points, *args):
        commands.waiting.append(("stop",) if stop_first else ("request", _request(3, (0, 1))))
        if not stop_first:
            commands.waiting.append(("stop",))
        return losses(family, points, *args)

    monkeypatch.setattr(landscape_mlp, "_mlp_losses", stopping)
    serve(commands, results)
    assert results[-2:] == [("finished", 1), ("done",)]
    assert not any(r[0] == "surface" for r in results)
