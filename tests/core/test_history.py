"""RunHistory stays bounded and its trail stays right through growth and decimation."""

from __future__ import annotations

import numpy as np

from maml_gui.core.config import make_config
from maml_gui.core.history import RunHistory
from maml_gui.core.tasks import make_family
from maml_gui.core.training import train


def test_trail_and_losses_follow_the_records():
    records = list(train(make_config({"inner_steps": 2}), 300))
    history = RunHistory(2, keep=10, max_rows=100_000)
    for record in records:
        history.append(record)
    expected = np.vstack([[r.theta for r in records], records[-1].theta_next])
    np.testing.assert_array_equal(history.thetas, expected)
    np.testing.assert_array_equal(history.loss_after, [r.meta_loss_after for r in records])
    assert list(history.records) == records[-10:] and history.total_steps == 300


def test_decimation_keeps_memory_flat_and_the_trail_consistent():
    history = RunHistory(2, keep=4, max_rows=1000)
    records = list(train(make_config({}), 5000))
    sizes = []
    for record in records:
        history.append(record)
        sizes.append(history.nbytes())
    assert len(history.steps) <= 1000 and history.decimations > 0
    assert max(sizes) == sizes[-1] or max(sizes) <= 2 * sizes[-1]  # no growth past the cap
    kept = history.steps
    assert np.all(np.diff(kept) > 0) and kept[0] == 0
    by_step = {r.step: r for r in records}
    np.testing.assert_array_equal(history.thetas[:-1], [by_step[s].theta for s in kept])
    np.testing.assert_array_equal(history.thetas[-1], records[-1].theta_next)
    np.testing.assert_array_equal(history.loss_before, [by_step[s].meta_loss_before for s in kept])


def test_charted_series_stay_bounded_and_span_the_run():
    config = make_config({"algorithm": "metanas", "task": {"family": "sinusoid", "hidden": [6, 6], "n_tasks": 4}, "inner_steps": 1,
                          "metanas_warmup": 0})
    history = RunHistory(make_family(config).param_dim, keep=4, series_rows=16)
    records = []
    for record in train(config, 70):
        history.append(record)
        records.append(record)
        steps, values = history.series("arch_weights")
        assert len(steps) <= 16 and values.shape[1:] == (2, 4)
    steps, values = history.series("arch_weights")
    assert steps[0] == 0 and np.all(np.diff(steps) > 0) and steps[-1] >= 70 - 4
    for step, value in zip(steps, values):  # thinned, never changed
        np.testing.assert_array_equal(value, records[step].diagnostics["arch_weights"])
    assert history.series("sparsity") is None  # not charted by this algorithm
