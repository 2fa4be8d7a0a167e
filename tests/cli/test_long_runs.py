"""Long headless runs: small traces, the size guard, checkpoints, resume, SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from maml_gui.cli import main
from maml_gui.core.checkpoint import load_checkpoint
from maml_gui.core.trace import load_trace
from maml_gui.core.training import MetaTrainer

ROOT = Path(__file__).resolve().parents[2]

# the three runs whose state goes beyond θ: Adam's moments and the task stream (sinusoid),
# iMAML (CG), TR-MAML's task weights and meta-batch draws from the pool
RESUMABLE = {
    "maml_adam": ["--set", 'task={"family": "sinusoid", "hidden": [6], "n_tasks": 4}',
                  "--set", "outer_optimizer=\"adam\"", "--set", "outer_lr=0.01",
                  "--set", "inner_lr=0.01", "--set", "inner_steps=2"],
    "imaml": ["--set", "algorithm=\"imaml\"", "--set", 'task={"family": "rbf"}',
              "--set", "inner_steps=3", "--set", "outer_optimizer=\"adam\""],
    "tr_maml": ["--set", "algorithm=\"tr_maml\"", "--set", 'task={"family": "quadratic", '
                '"n_tasks": 4}', "--set", "meta_batch=2", "--set", "tr_lr=0.5"],
}
COMPARED = ("theta", "theta_next", "meta_grad", "task_meta_grads", "paths", "loss_before",
            "loss_after", "inner_losses", "task_ids")


def assert_same_steps(got, want):
    assert [r.step for r in got] == [r.step for r in want]
    for a, b in zip(got, want):
        for key in COMPARED:
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key),
                                          err_msg=f"step {a.step}: {key}")
        for key in b.diagnostics:
            np.testing.assert_array_equal(a.diagnostics[key], b.diagnostics[key])


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path, monkeypatch,
                                                                  capsys, name):
    args, steps, m = RESUMABLE[name], 8, 3
    whole = tmp_path / "whole.npz"
    assert main(["run", *args, "--steps", str(steps), "--quiet", "--out", str(whole)]) == 0

    real_step = MetaTrainer.step

    def step_then_ctrl_c(self):
        record = real_step(self)
        if record.step == m - 1:
            signal.raise_signal(signal.SIGINT)  # as a user pressing Ctrl-C during step m - 1
        return record

    monkeypatch.setattr(MetaTrainer, "step", step_then_ctrl_c)
    first = tmp_path / "first.npz"
    assert main(["run", *args, "--steps", str(steps), "--quiet", "--out", str(first)]) == 130
    monkeypatch.undo()
    err = capsys.readouterr().err
    ckpt = Path(f"{first}.ckpt")
    assert f"--resume {ckpt}" in err and f"after step {m} of {steps}" in err
    assert load_checkpoint(ckpt).step == m

    rest = tmp_path / "rest.npz"
    assert main(["run", "--resume", str(ckpt), "--quiet", "--out", str(rest)]) == 0
    resumed = load_trace(first).records + load_trace(rest).records
    assert_same_steps(resumed, load_trace(whole).records)
    assert load_trace(rest).meta["resumed_from"]["step"] == m


def test_checkpoints_every_n_steps_and_extending_a_finished_run(tmp_path, capsys):
    args = RESUMABLE["maml_adam"]
    whole = tmp_path / "whole.json"
    assert main(["run", *args, "--steps", "6", "--quiet", "--out", str(whole)]) == 0
    short = tmp_path / "short.json"
    ckpt = tmp_path / "c.ckpt"
    assert main(["run", *args, "--steps", "4", "--quiet", "--out", str(short),
                 "--checkpoint-every", "3", "--checkpoint", str(ckpt)]) == 0
    assert load_checkpoint(ckpt).step == 4  # the final checkpoint replaced the one at 3
    assert capsys.readouterr().err == ""  # --quiet: no estimate, no progress
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    more = tmp_path / "more.json"
    assert main(["run", "--resume", str(ckpt), "--steps", "6", "--quiet", "--out", str(more)]) == 0
    want = load_trace(whole).records
    assert_same_steps(load_trace(more).records, want[4:])


def test_resume_refuses_a_new_config_and_bad_checkpoints(tmp_path, capsys):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a zip")
    assert main(["run", "--resume", str(bad), "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("maml-gui: --resume: cannot read checkpoint") and "\n" not in err
    assert main(["run", "--resume", str(bad), "--set", "inner_lr=0.2",
                 "--out", str(tmp_path / "t.npz")]) == 2
    assert "drop --config" in capsys.readouterr().err
    assert not (tmp_path / "t.npz").exists()


def test_a_huge_trace_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "t.json"
    args = ["run", "--preset", "sinusoid_few_shot", "--steps", "70000", "--set", "record_every=1",
            "--set", "record_task_grads=\"on\"", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    size = re.search(r"estimated trace size: ([\d.]+) GB", err)
    assert size and float(size.group(1)) > 100  # 25 task gradients of 1,761 numbers, every step
    for option in ("--every 10", "--paths none", "record_task_grads=off", ".npz", "--yes"):
        assert option in err, option
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_the_sinusoid_default_trace_costs_under_8_kb_per_step(tmp_path, capsys, suffix):
    """Finn et al.'s workload (MLP 1-40-40-1, k = 1, meta-batch 25), no record settings."""
    sizes, estimates = {}, {}
    for steps in (100, 400):
        out = tmp_path / f"t{steps}{suffix}"
        assert main(["run", "--set", 'task={"family": "sinusoid"}', "--set", "inner_lr=0.01",
                     "--set", "outer_optimizer=\"adam\"", "--set", "outer_lr=0.001",
                     "--steps", str(steps), "--out", str(out)]) == 0
        err = capsys.readouterr().err
        sizes[steps] = out.stat().st_size
        estimates[steps] = float(re.search(r"estimated trace size: ([\d.]+) ", err).group(1)) * \
            {"KB": 1e3, "MB": 1e6}[re.search(r"estimated trace size: [\d.]+ (\w+)", err).group(1)]
        assert "ETA" in err and "steps/s" in err
    per_step = (sizes[400] - sizes[100]) / 300
    assert per_step < 8000, per_step
    for steps in sizes:
        assert abs(estimates[steps] - sizes[steps]) <= 0.2 * sizes[steps]
    trace = load_trace(tmp_path / f"t400{suffix}")
    assert [r.step for r in trace.full_records] == [0, 100, 200, 300, 399]
    assert trace.records[250].theta is None and trace.records[250].loss_after.shape == (25,)
    assert trace.full_records[-1].theta.dtype == np.float32


@pytest.mark.slow
def test_sigterm_closes_a_valid_trace_and_the_run_resumes(tmp_path):
    out = tmp_path / "t.npz"
    args = ["--set", 'task={"family": "quadratic", "n_tasks": 4}', "--set", "meta_batch=2",
            "--set", "outer_optimizer=\"adam\"", "--set", "outer_lr=0.01"]
    process = subprocess.Popen(
        [sys.executable, "-m", "maml_gui", "run", *args, "--steps", "10000000", "--yes",
         "--quiet", "--out", str(out)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 90
    while not any(p.name.endswith(".d") for p in tmp_path.iterdir()):  # the spool: running
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "maml-gui run --resume" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz", "t.npz.ckpt"]  # no temp files
    trace = load_trace(out)
    steps = [r.step for r in trace.records]
    assert steps == list(range(len(steps))) and len(steps) > 10
    assert trace.records[-1].theta is not None
    ckpt = load_checkpoint(f"{out}.ckpt")
    assert ckpt.step == len(steps)
    with np.load(out) as data:
        assert json.loads(str(data["summary"]))["interrupted"] == "SIGTERM"

    rest = tmp_path / "rest.npz"
    total = len(steps) + 3
    assert main(["run", "--resume", str(f"{out}.ckpt"), "--steps", str(total), "--quiet",
                 "--out", str(rest)]) == 0
    whole = tmp_path / "whole.npz"
    assert main(["run", *args, "--steps", str(total), "--quiet", "--out", str(whole)]) == 0
    assert_same_steps(load_trace(rest).records, load_trace(whole).records[len(steps):])
    assert_same_steps(trace.records[-3:], load_trace(whole).records[len(steps) - 3:len(steps)])


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_readers_take_thinned_traces(tmp_path, monkeypatch, suffix):
    """--config, landscape --trace and the window's session open read a thinned trace."""
    from maml_gui.core.config import load_config_file
    from maml_gui.runtime.session_file import read_session

    out = tmp_path / f"t{suffix}"
    assert main(["run", *RESUMABLE["maml_adam"], "--steps", "12", "--every", "5", "--paths",
                 "endpoints", "--quiet", "--out", str(out)]) == 0
    trace = load_trace(out)
    assert [r.step for r in trace.full_records] == [0, 5, 10, 11]
    assert read_session(out).config.record_every == 5
    again = tmp_path / f"again{suffix}"
    assert main(["run", "--config", str(out), "--quiet", "--out", str(again)]) == 0
    assert_same_steps(load_trace(again).full_records, trace.full_records)
    if suffix == ".json":
        assert load_config_file(out) == read_session(out).config
    grid = tmp_path / "grid.npz"
    assert main(["landscape", "--config", str(out), "--trace", str(out), "--plane", "pca",
                 "--grid", "8", "--out", str(grid)]) == 0
    with np.load(grid) as data:
        assert data["path_uv"].shape == (5, 2)  # the 4 recorded θ and the final θ_next


def test_signal_helpers_stop_or_raise_and_restore_the_handlers():
    from maml_gui.signals import Interrupted, StopRequest, interrupt_on_signals

    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.signal == signal.SIGTERM  # first signal: a request, no exception
        with pytest.raises(Interrupted):
            signal.raise_signal(signal.SIGINT)  # second: stop now
    assert signal.getsignal(signal.SIGTERM) is before
    cleaned = []
    with pytest.raises(Interrupted) as info:
        with interrupt_on_signals():
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                cleaned.append(True)
    assert info.value.signum == signal.SIGTERM and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before
