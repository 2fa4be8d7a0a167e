"""The function view's fine-tuning serve loop (no Qt): the newest request only, the same
numbers as fine-tuning in the caller's thread, and a failed request that leaves it serving."""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np

from maml_gui.core.config import config_json, make_config
from maml_gui.runtime.function_process import serve
from maml_gui.view import FunctionState
from maml_gui.view.function_data import FunctionModel

CONFIG = make_config({"inner_lr": 0.01, "inner_steps": 2, "task": {
    "family": "sinusoid", "hidden": [8], "n_tasks": 3, "k_shot": 5}})


def _requests(count: int):
    model = FunctionModel(CONFIG)
    state = FunctionState(steps=[1, 4])
    requests = []
    for i in range(count):
        model.theta = model.theta + 0.05 * (i + 1)
        requests.append(model.request(state, model.view_steps(state)))
    return model, requests


def _fit(generation, request):
    return ("fit", generation, config_json(request.config),
            dataclasses.replace(request, config=None))


def test_the_loop_fine_tunes_the_newest_request_as_the_model_would():
    model, requests = _requests(3)
    commands, results = queue.Queue(), queue.Queue()
    for generation, request in enumerate(requests, start=1):
        commands.put(_fit(generation, request))  # all waiting before the loop reads one
    body = threading.Thread(target=serve, args=(commands, results), name="test function serve")
    body.start()
    kind, generation, fits = results.get(timeout=30)
    # a request with points of two different lengths fails; the loop goes on serving
    broken = dataclasses.replace(requests[0], y_support=requests[0].y_support[:-1])
    commands.put(_fit(4, broken))
    failed = results.get(timeout=30)
    commands.put(_fit(5, requests[0]))
    again = results.get(timeout=30)
    commands.put(("stop",))
    body.join(10)
    assert not body.is_alive() and results.get(timeout=1) == ("done",) and results.empty()
    assert (kind, generation) == ("fitted", 3)  # requests 1 and 2 were superseded, never run
    expected = model.fits(requests[2])
    for ours, theirs in zip(fits.meta, expected.meta):
        np.testing.assert_array_equal(ours.predictions, theirs.predictions)
        np.testing.assert_array_equal(ours.query_mse, theirs.query_mse)
    np.testing.assert_array_equal(fits.meta[0].paths[0], requests[2].theta)
    assert fits.baseline is None
    assert failed[:2] == ("failed", 4) and "shape" in failed[2]
    assert again[:2] == ("fitted", 5)
    np.testing.assert_array_equal(again[2].meta[0].paths[0], requests[0].theta)
