"""Diagnostics of ``run``: the inner_lr_too_high preset keeps its promise (it diverges,
blaming α), a diverging TR-MAML run ends like any other, CG's negative curvature is said."""

from __future__ import annotations

from maml_gui.cli import main
from maml_gui.core.trace import load_trace


def test_inner_lr_too_high_diverges_at_once_and_blames_the_inner_loop(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["run", "--preset", "inner_lr_too_high", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "diverged at step 0: inner loop diverged" in err
    assert "inner learning rate α = 2 is too high" in err
    records = load_trace(out).records
    assert len(records) == 1 and records[0].diverged


def test_inner_lr_too_high_trains_once_alpha_is_below_two_over_lambda_max(tmp_path, capsys):
    out = tmp_path / "t.json"
    code = main(["run", "--preset", "inner_lr_too_high", "--set", "inner_lr=0.9",
                 "--steps", "20", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = load_trace(out).records
    assert len(records) == 20 and not any(r.diverged for r in records)
    assert records[-1].meta_loss_after < records[0].meta_loss_before


def test_diverging_tr_maml_run_writes_its_trace_and_exits_1(tmp_path, capsys):
    out = tmp_path / "t.npz"
    code = main(["run", "--set", "algorithm=\"tr_maml\"", "--set", "task.family=\"quadratic\"",
                 "--set", "inner_lr=90", "--set", "inner_steps=20", "--steps", "50",
                 "--out", str(out)])
    assert code == 1
    assert "diverged at step" in capsys.readouterr().err
    trace = load_trace(out)
    assert trace.records[-1].diverged and "task_weights_next" in trace.records[-1].diagnostics


def test_run_warns_once_when_cg_meets_negative_curvature(tmp_path, capsys):
    out = tmp_path / "t.json"
    code = main(["run", "--set", "algorithm=\"imaml\"", "--set", "task.family=\"rbf\"",
                 "--set", "imaml_lambda=0.5", "--set", "theta0=[0.62, 0.18]", "--steps", "3",
                 "--quiet", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("maml-gui: warning: from step 0, iMAML's system") == 1
    assert "raise λ or the CG damping δ" in err
    assert (load_trace(out).records[0].diagnostics["cg_min_curvature"] <= 0).all()
