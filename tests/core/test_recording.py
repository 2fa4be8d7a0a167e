"""Thinned, streamed traces: what is kept on which step, exact round trips, size estimates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maml_gui.core.config import config_json, make_config
from maml_gui.core.recording import Recording, default_every, estimate_trace_bytes
from maml_gui.core.trace import TraceWriter, load_trace, read_trace_header
from maml_gui.core.training import train

SMALL_MLP = {"family": "sinusoid", "hidden": [4], "n_tasks": 3, "k_shot": 4, "k_query": 4}


def mlp_run(steps=8, change_k_at=None):
    config = make_config({"task": SMALL_MLP, "inner_lr": 0.01, "outer_optimizer": "adam",
                          "outer_lr": 0.01, "inner_steps": 2})
    gen = train(config, steps)
    records = [next(gen)]
    while len(records) < steps:
        change = {"inner_steps": 4} if len(records) == change_k_at else None
        records.append(gen.send(change))
    return config, records


def test_defaults_by_model_size():
    two = make_config({"task": {"family": "softplus"}})
    mlp = make_config({"task": {"family": "sinusoid"}})
    small = Recording.from_config(two, 2)
    big = Recording.from_config(mlp, 1761)
    assert (small.every, small.task_grads, small.paths) == (1, True, "full")
    assert (big.every, big.task_grads, big.paths) == (100, False, "none")
    assert default_every(65) == 10 and default_every(20_000) == 1000
    chosen = Recording.from_config(mlp.with_changes(
        {"record_every": 7, "record_task_grads": "on", "record_paths": "endpoints"}), 1761)
    assert (chosen.every, chosen.task_grads, chosen.paths) == (7, True, "endpoints")


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_thinned_traces_round_trip_exactly(tmp_path, suffix):
    config, records = mlp_run(steps=8, change_k_at=5)  # k changes from 2 to 4 at step 5
    recording = Recording(every=3, task_grads=False, paths="endpoints")
    out = tmp_path / f"t{suffix}"
    with TraceWriter(out, config_json(config), recording=recording) as writer:
        for record in records:
            writer.append(record)
    trace = load_trace(out)
    assert trace.meta["recording"]["every"] == 3 and trace.meta["dtype"] == "float32"
    assert "task_meta_grads" not in trace.meta["recording"]["recorded_steps"]
    assert [r.step for r in trace.records] == list(range(8))
    assert [r.step for r in trace.full_records] == [0, 3, 6, 7]  # multiples of 3 and the last
    for got, want in zip(trace.records, records):
        for key in ("loss_before", "loss_after", "inner_losses", "inner_grad_norms", "task_ids"):
            np.testing.assert_array_equal(getattr(got, key), getattr(want, key), err_msg=key)
            assert getattr(got, key).dtype == getattr(want, key).dtype, key  # float32 stays
        assert got.inner_steps == want.inner_steps
        assert got.hyper == json.loads(json.dumps(dict(want.hyper)))  # tuples come back as lists
        assert got.task_meta_grads is None
        if got.step in (0, 3, 6, 7):
            for key in ("theta", "theta_next", "meta_grad"):
                np.testing.assert_array_equal(getattr(got, key), getattr(want, key))
            np.testing.assert_array_equal(got.paths, want.paths[:, [0, -1]])
        else:
            assert got.theta is None and got.meta_grad is None and got.paths is None


def test_streamed_npz_is_a_plain_numpy_archive(tmp_path):
    config, records = mlp_run(steps=8, change_k_at=5)
    out = tmp_path / "t.npz"
    with TraceWriter(out, config_json(config), recording=Recording(every=4)) as writer:
        for record in records:
            writer.append(record)
    with np.load(out) as data:
        assert data["loss_before"].shape == (8, 3) and data["loss_before"].dtype == np.float32
        assert data["theta"].shape == (3, 13) and data["theta_steps"].tolist() == [0, 4, 7]
        # k = 2 before step 5, 4 after: earlier rows are NaN-padded to 5 points
        assert data["inner_losses"].shape == (8, 3, 5)
        assert np.isnan(data["inner_losses"][:5, :, 3:]).all()
        assert not np.isnan(data["inner_losses"][5:]).any()
        assert data["paths"].shape == (3, 3, 5, 13) and data["path_points"].tolist() == [3, 3, 5]
        assert json.loads(str(data["summary"]))["steps"] == 8
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]  # the spool is gone


def test_a_failed_run_leaves_no_file_and_no_spool(tmp_path):
    config, records = mlp_run(steps=3)
    with pytest.raises(RuntimeError):
        with TraceWriter(tmp_path / "t.npz", config_json(config)) as writer:
            writer.append(records[0])
            writer.append(records[1])
            raise RuntimeError("the run broke")
    assert not list(tmp_path.iterdir())


def test_json_header_is_read_without_the_steps(tmp_path):
    config, records = mlp_run(steps=3)
    out = tmp_path / "t.json"
    with TraceWriter(out, config_json(config)) as writer:
        for record in records:
            writer.append(record)
    header = read_trace_header(out)
    assert header["config"] == config_json(config) and "steps" not in header
    # a damaged tail does not matter to the header
    out.write_text(out.read_text()[:-200])
    assert read_trace_header(out)["config"] == config_json(config)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("every, paths, task_grads", [(1, "full", True), (3, "none", False),
                                                      (2, "endpoints", True)])
def test_the_size_estimate_is_within_20_percent(tmp_path, suffix, every, paths, task_grads):
    config, records = mlp_run(steps=30)
    recording = Recording(every=every, task_grads=task_grads, paths=paths)
    meta = {"param_dim": 13}
    out = tmp_path / f"t{suffix}"
    with TraceWriter(out, config_json(config), recording=recording, meta=meta) as writer:
        for record in records:
            writer.append(record)
    header = {"config": config_json(config), "meta": {**meta, "recording": recording.to_meta()}}
    estimate = estimate_trace_bytes(records[0], 0, 30, recording, suffix, header)
    real = out.stat().st_size
    assert abs(estimate - real) <= 0.2 * real, (estimate, real)
