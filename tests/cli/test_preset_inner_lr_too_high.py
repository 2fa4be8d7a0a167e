"""The ``inner_lr_too_high`` preset keeps its promise, headless: it diverges, blaming α."""

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
