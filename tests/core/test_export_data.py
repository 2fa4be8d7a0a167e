"""Trajectory and grid exports (no Qt): exact round trips, embedded configs, no partial files."""

from __future__ import annotations

import builtins
import errno
import json
import subprocess
import sys

import numpy as np
import pytest

from maml_gui.core.config import config_json, make_config
from maml_gui.core.landscape import LandscapeEvaluator, landscape_tasks
from maml_gui.core.trace import load_trace, records_to_arrays
from maml_gui.core.training import train
from maml_gui.export import ExportError
from maml_gui.export.data import (
    read_embedded_config, read_grid_csv, read_trajectory_csv, write_grid, write_trajectory,
)

CSV_KEYS = ("step", "task_ids", "theta", "theta_next", "meta_grad", "task_meta_grads",
            "loss_before", "loss_after", "inner_steps", "inner_losses", "inner_grad_norms",
            "paths", "diverged", "algorithm")


def tiny_config(**overrides):
    return make_config({"task": {"family": "softplus", "optima": [[0.3, 0.05], [0.83, 0.75]],
                                 "n_points": 8},
                        "theta0": [0.1, 0.9], "inner_lr": 0.4, "inner_steps": 2, "steps": 3,
                        **overrides})


@pytest.fixture(scope="module")
def run():
    config = tiny_config()
    return config, list(train(config, config.steps))


def assert_same_trajectory(arrays, records):
    expected = records_to_arrays(records)
    for key in CSV_KEYS:
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)


def test_csv_round_trips_the_trajectory_exactly(tmp_path, run):
    config, records = run
    out = write_trajectory(tmp_path / "t.csv", config, records)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# config: ")
    assert json.loads(lines[0][len("# config: "):]) == config_json(config)
    assert lines[2].startswith("step,algorithm,task,task_id,inner_step,inner_loss")
    # one row per (meta-step, task, inner point)
    assert len(lines) - 3 == sum(r.n_tasks * (r.inner_steps + 1) for r in records)
    embedded, arrays = read_trajectory_csv(out)
    assert embedded == config_json(config)
    assert_same_trajectory(arrays, records)


def test_csv_keeps_a_hot_change_of_the_inner_steps(tmp_path):
    config = tiny_config(inner_steps=1)
    generator = train(config, 3)
    records = [next(generator), generator.send({"inner_steps": 3}), next(generator)]
    assert [r.inner_steps for r in records] == [1, 3, 3]
    out = write_trajectory(tmp_path / "t.csv", config, records)
    _, arrays = read_trajectory_csv(out)
    assert_same_trajectory(arrays, records)  # ragged k: NaN-padded like the NPZ trace
    assert np.isnan(arrays["paths"][0, :, 2:]).all()


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_json_and_npz_are_traces_that_round_trip(tmp_path, run, suffix):
    config, records = run
    out = write_trajectory(tmp_path / f"t{suffix}", config, records, meta={"param_dim": 2})
    trace = load_trace(out)
    assert trace.config == config_json(config) and trace.meta["param_dim"] == 2
    assert trace.meta["recording"]["every"] == 1  # an export keeps every array every step
    expected, got = records_to_arrays(records), records_to_arrays(trace.records)
    assert expected.keys() == got.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_the_embedded_config_reproduces_the_trajectory(tmp_path, run, suffix):
    config, records = run
    out = write_trajectory(tmp_path / f"t{suffix}", config, records)
    again = make_config(read_embedded_config(out))
    assert again == config
    rerun = list(train(again, again.steps))
    expected, got = records_to_arrays(records), records_to_arrays(rerun)
    for key in CSV_KEYS:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_grid_npz_and_csv_round_trip(tmp_path, run):
    config, _ = run
    surface = LandscapeEvaluator(config, landscape_tasks(config)).grid(
        "meta", (0.0, 1.0), (-0.5, 0.5), 7)
    npz = write_grid(tmp_path / "g.npz", config, surface)
    with np.load(npz) as data:
        np.testing.assert_array_equal(data["z"], surface.z)
        np.testing.assert_array_equal(data["x"], surface.x)
        assert str(data["surface"]) == "meta"
        assert json.loads(str(data["config"])) == config_json(config)
    csv = write_grid(tmp_path / "g.csv", config, surface)
    embedded, x, y, z = read_grid_csv(csv)
    assert embedded == config_json(config)
    np.testing.assert_array_equal(x, surface.x)
    np.testing.assert_array_equal(y, surface.y)
    np.testing.assert_array_equal(z, surface.z)
    assert read_embedded_config(npz) == read_embedded_config(csv) == config_json(config)


def test_unknown_extension_names_the_allowed_ones(tmp_path, run):
    config, records = run
    with pytest.raises(ExportError, match=r"unknown export format \.xlsx.*\.csv, \.json, \.npz"):
        write_trajectory(tmp_path / "t.xlsx", config, records)
    with pytest.raises(ExportError, match=r"\.json"):
        write_grid(tmp_path / "g.json", config, None)
    assert not list(tmp_path.iterdir())


class FullDisk:
    """Files opened for writing raise ENOSPC once ``room`` bytes have been written."""

    def __init__(self, room: int):
        self.room = room
        self.real_open = builtins.open

    def __call__(self, file, mode="r", *args, **kwargs):
        handle = self.real_open(file, mode, *args, **kwargs)
        return _Limited(handle, self) if any(c in mode for c in "wax") else handle


class _Limited:
    def __init__(self, handle, disk):
        self._handle, self._disk = handle, disk

    def write(self, data):
        if len(data) > self._disk.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._disk.room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_a_full_disk_leaves_no_partial_file(tmp_path, run, monkeypatch, suffix):
    config, records = run
    full = write_trajectory(tmp_path / f"full{suffix}", config, records).stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(builtins, "open", FullDisk(room=full // 2))  # fails midway
    with pytest.raises(OSError) as info:
        write_trajectory(out / f"t{suffix}", config, records)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert not list(out.iterdir())


def test_files_without_a_config_are_refused(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("x,y\n1,2\n")
    with pytest.raises(ExportError, match="not a maml-gui CSV export"):
        read_embedded_config(plain)
    empty = tmp_path / "x.npz"
    np.savez(empty, a=np.zeros(2))
    with pytest.raises(ExportError, match="no maml-gui config"):
        read_embedded_config(empty)


def test_data_exports_never_import_qt():
    script = ("import sys, maml_gui.export, maml_gui.export.data; "
              "loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]; "
              "assert not loaded, loaded; print('ok')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_writers_stream_from_a_generator_and_keep_thinned_steps_empty(tmp_path, run):
    from maml_gui.core.recording import Recording

    config, records = run
    thinned = Recording(every=2, task_grads=False, paths="none")
    handed_out = []

    def generate():  # the writer must take one record at a time, never a list
        for i, record in enumerate(records):
            handed_out.append(i)
            yield thinned.thin(record, last=i == len(records) - 1)

    out = write_trajectory(tmp_path / "t.csv", config, generate())
    assert handed_out == [0, 1, 2]
    _, arrays = read_trajectory_csv(out)
    expected = records_to_arrays(records)
    np.testing.assert_array_equal(arrays["theta"][[0, 2]], expected["theta"][[0, 2]])
    assert np.isnan(arrays["theta"][1]).all() and np.isnan(arrays["meta_grad"][1]).all()
    assert np.isnan(arrays["task_meta_grads"]).all() and np.isnan(arrays["paths"]).all()
    np.testing.assert_array_equal(arrays["loss_after"], expected["loss_after"])
    np.testing.assert_array_equal(arrays["inner_losses"], expected["inner_losses"])
    for suffix in (".json", ".npz"):
        trace = load_trace(write_trajectory(tmp_path / f"t{suffix}", config, iter(records)))
        assert len(trace.records) == 3
    with pytest.raises(ExportError, match="no meta-steps"):
        write_trajectory(tmp_path / "e.csv", config, iter(()))
