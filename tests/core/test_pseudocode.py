"""Pseudo-code files: one per registered algorithm, every animation phase mapped to a line,
the maths as the engine computes it, and clear errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from maml_gui.core.algorithms import ALGORITHMS
from maml_gui.core.animation import PHASES, build_frames
from maml_gui.core.pseudocode import (
    PseudoCodeError, load_pseudocode, parse_pseudocode, pseudocode_dir, required_phases,
)
from maml_gui.core.training import train
from tests.core.helpers import algorithm_config


def one_record(algorithm: str, inner_steps: int = 2):
    config = algorithm_config(algorithm, inner_steps=inner_steps, device="cpu")
    return next(train(config, 1))


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_registered_algorithm_has_pseudocode(algorithm):
    # Iterates over the registry: registering an algorithm without a file fails here.
    code = load_pseudocode(algorithm)
    assert code.algorithm == algorithm
    assert code.title and code.description
    assert len(code.lines) >= 4
    assert not any("⟦" in line or "⟧" in line for line in code.lines), "tags are for the loader"


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_phase_of_the_real_frames_has_a_line(algorithm):
    record = one_record(algorithm)
    code = load_pseudocode(algorithm)
    used = set()
    for order in ("one_by_one", "together"):
        for frame in build_frames(record, order):
            used.add(frame.phase)
            line = code.line_for(frame.phase)
            assert 0 <= line < len(code.lines) and code.lines[line].strip()
    # the loader's notion of the phases an algorithm uses is exactly what its frames use
    assert used == set(required_phases(algorithm))


def test_every_file_belongs_to_a_registered_algorithm():
    files = {path.stem for path in pseudocode_dir().glob("*.md")}
    assert files == set(ALGORITHMS)


def test_phase_lines_follow_the_algorithm_in_order():
    for algorithm in ALGORITHMS:
        code = load_pseudocode(algorithm)
        lines = [code.line_for(p) for p in PHASES if p in code.phase_lines]
        assert lines == sorted(lines), algorithm


def test_the_maths_is_what_the_engine_computes():
    line = {a: (lambda phase, c=load_pseudocode(a): c.lines[c.line_for(phase)]) for a in ALGORITHMS}
    # every aggregate is a mean over tasks (TR-MAML: the weighted sum, scaled by N/b)
    for algorithm in ("maml", "fomaml", "reptile", "imaml", "pretrain"):
        assert "meanᵢ" in line[algorithm]("aggregate")
    assert "(N/b) Σᵢ pᵢ gᵢ" in line["tr_maml"]("aggregate")
    assert "θ + ε·meanᵢ(φᵢᵏ − θ)" in line["reptile"]("update")
    assert "λ(φᵢʲ − θ)" in line["imaml"]("inner")  # the gradient of λ/2‖φ − θ‖²
    imaml = load_pseudocode("imaml").text
    assert "λ/2 ‖φ − θ‖²" in imaml and "(∇²Lᵢˢ(φᵢᵏ) + δI)/λ" in imaml
    assert "Proj_Δ(p + η_p" in line["tr_maml"]("weights")
    assert "∇Lᵢq(φᵢᵏ)" in line["fomaml"]("task_grad")
    assert "∇Lᵢq(θ)" in line["pretrain"]("task_grad")
    for algorithm in ("tree_maml", "b_small", "metanas"):
        assert "meanᵢ" in line[algorithm]("aggregate")
    assert "Mⱼ · ∇Lˢ(φʲ⁻¹)" in line["tree_maml"]("inner")
    assert "reconstruction" in load_pseudocode("tree_maml").description
    assert "λ·KL" in load_pseudocode("b_small").text and "log ρ < 3" in load_pseudocode("b_small").text
    assert "λ_a·meanᵢ(aᵢ − a)" in line["metanas"]("update")
    # iTAML (issue 15)
    assert "μₛ·meanᵢ Φᵢ + (1 − μₛ)·Φ_base" in line["itaml"]("update")
    assert "⌊M/((s+1)·C)⌋" in load_pseudocode("itaml").text


# --- the format and its errors ---------------------------------------------------------

GOOD = """# Test algorithm

Some prose
on two lines.

Second paragraph.

```text
given θ
  sample tasks     ⟦sample⟧
  gᵢ ← ∇Lᵢ(θ)  ⟦task_grad⟧
  g ← meanᵢ gᵢ ⟦aggregate⟧
  θ ← θ − β g  ⟦update⟧
```

Text after the block is ignored ⟦inner⟧.
"""


def test_parse_strips_tags_and_maps_phases(tmp_path):
    code = parse_pseudocode(GOOD, "test", tmp_path / "test.md")
    assert code.title == "Test algorithm"
    assert code.description == "Some prose on two lines.\n\nSecond paragraph."
    assert code.lines == ("given θ", "  sample tasks", "  gᵢ ← ∇Lᵢ(θ)", "  g ← meanᵢ gᵢ",
                          "  θ ← θ − β g")
    assert dict(code.phase_lines) == {"sample": 1, "task_grad": 2, "aggregate": 3, "update": 4}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PseudoCodeError, match="no pseudo-code for algorithm 'maml'"):
        load_pseudocode("maml", tmp_path)


def test_a_phase_the_animation_uses_must_have_a_line(tmp_path):
    # MAML's frames have inner steps; this file has no ⟦inner⟧ line
    write(tmp_path, "maml", GOOD)
    with pytest.raises(PseudoCodeError, match="⟦inner⟧"):
        load_pseudocode("maml", tmp_path)
    write(tmp_path, "pretrain", GOOD)  # pretraining has no inner loop: the same file is complete
    assert load_pseudocode("pretrain", tmp_path).line_for("update") == 4


def test_line_for_an_untagged_phase_names_it(tmp_path):
    write(tmp_path, "pretrain", GOOD)
    with pytest.raises(PseudoCodeError, match="⟦cg⟧"):
        load_pseudocode("pretrain", tmp_path).line_for("cg")


@pytest.mark.parametrize("text, message", [
    ("# T\n\n```\nθ ← θ  ⟦updat⟧\n```\n", "unknown phase ⟦updat⟧"),
    ("# T\n\n```\na  ⟦update⟧\nb  ⟦update⟧\n```\n", "both code lines 1 and 2"),
    ("# T\n\nno code here\n", "no fenced code block"),
    ("# T\n\n```\na  ⟦update⟧\n", "not closed"),
])
def test_malformed_files_are_clear_errors(tmp_path, text, message):
    with pytest.raises(PseudoCodeError, match=message):
        parse_pseudocode(text, "test", tmp_path / "test.md")
