"""Each algorithm's pseudo-code (``resources/pseudocode/<name>.md``) and its phase → line map.

File format (one Markdown file per registered algorithm)::

    # Title shown above the code

    Optional prose (one paragraph or more), shown as a caption.

    ```text
    sample tasks                      ⟦sample⟧
    for each task i:
      φᵢʲ⁺¹ ← φᵢʲ − α∇Lᵢˢ(φᵢʲ)          ⟦inner⟧
    ```

Only the first fenced block is code. A line that an animation phase executes ends with the
phase's name in ``⟦ ⟧`` (after at least one space); the tag is stripped for display. Each
phase (see :data:`maml_gui.core.animation.PHASES`) tags at most one line, and every phase
the algorithm's animation frames use must tag one, so the trace view can always highlight
the line being executed. No Qt here: the same map can serve exports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from maml_gui.core.animation import PHASES
from maml_gui.paths import resource_dir

SUFFIX = ".md"
_TAG = re.compile(r"\s+⟦([^⟦⟧]*)⟧\s*$")
_FENCE = re.compile(r"^\s*```")

# Phases every meta-step's frames contain, whatever the algorithm (see build_frames).
BASE_PHASES = ("sample", "task_grad", "aggregate", "update")


class PseudoCodeError(ValueError):
    """An algorithm's pseudo-code file is missing or does not cover its animation phases."""


@dataclass(frozen=True)
class PseudoCode:
    """One algorithm's pseudo-code: display lines and the line each phase executes."""

    algorithm: str
    title: str
    description: str
    lines: tuple[str, ...]
    phase_lines: Mapping[str, int]
    path: Path

    @property
    def phases(self) -> frozenset[str]:
        return frozenset(self.phase_lines)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def line_for(self, phase: str) -> int:
        """The 0-based index in :attr:`lines` of the line executed in ``phase``.

        Raises
        ------
        PseudoCodeError
            When no line carries the tag ``⟦phase⟧``.
        """
        try:
            return self.phase_lines[phase]
        except KeyError:
            raise PseudoCodeError(
                f"{self.path.name}: no line is tagged ⟦{phase}⟧ (phase of the {self.algorithm} "
                "animation); add the tag at the end of the line that phase executes") from None


def pseudocode_dir() -> Path:
    return resource_dir("pseudocode")


def pseudocode_path(algorithm: str, directory: Path | None = None) -> Path:
    return Path(directory or pseudocode_dir()) / f"{algorithm}{SUFFIX}"


def required_phases(algorithm: str) -> tuple[str, ...]:
    """The animation phases ``algorithm``'s frames can contain, in :data:`PHASES` order.

    Read from the registry's ``uses`` (the settings that change what an algorithm computes):
    an inner loop iff it uses ``inner_steps``, CG iterations iff ``cg_steps``, a task-weight
    update iff ``tr_lr``. Unknown names get only the phases every algorithm has.
    """
    # imported here: the registry pulls in torch, which parsing a file does not need
    from maml_gui.core.algorithms import ALGORITHMS

    cls = ALGORITHMS.get(algorithm)
    uses = set(getattr(cls, "uses", ()))
    phases = set(BASE_PHASES)
    phases |= {phase for phase, setting in (("inner", "inner_steps"), ("cg", "cg_steps"),
                                              ("weights", "tr_lr")) if setting in uses}
    return tuple(p for p in PHASES if p in phases)


def parse_pseudocode(text: str, algorithm: str, path: Path) -> PseudoCode:
    """Parse a pseudo-code file's ``text`` (see the module docstring for the format)."""
    title, paragraphs, code = "", [[]], None
    for raw in text.splitlines():
        if code is None:
            if _FENCE.match(raw):
                code = []
            elif raw.startswith("# ") and not title:
                title = raw[2:].strip()
            elif raw.strip():
                paragraphs[-1].append(raw.strip())
            elif paragraphs[-1]:
                paragraphs.append([])
        elif _FENCE.match(raw):
            break
        else:
            code.append(raw.rstrip())
    else:
        if code is not None:
            raise PseudoCodeError(f"{path.name}: the code block is not closed with ```")
    if not code:
        raise PseudoCodeError(f"{path.name}: no fenced code block (```) with pseudo-code")
    lines, phase_lines = [], {}
    for number, line in enumerate(code):
        match = _TAG.search(line)
        if match:
            phase = match.group(1).strip()
            if phase not in PHASES:
                raise PseudoCodeError(f"{path.name}, code line {number + 1}: unknown phase "
                                      f"⟦{phase}⟧; phases are {', '.join(PHASES)}")
            if phase in phase_lines:
                raise PseudoCodeError(f"{path.name}: phase ⟦{phase}⟧ tags both code lines "
                                      f"{phase_lines[phase] + 1} and {number + 1}")
            phase_lines[phase] = number
            line = line[: match.start()].rstrip()
        lines.append(line)
    description = "\n\n".join(" ".join(paragraph) for paragraph in paragraphs if paragraph)
    return PseudoCode(algorithm=algorithm, title=title or algorithm,
                      description=description, lines=tuple(lines),
                      phase_lines=MappingProxyType(phase_lines), path=path)


def load_pseudocode(algorithm: str, directory: Path | None = None) -> PseudoCode:
    """Read and check ``algorithm``'s pseudo-code.

    Parameters
    ----------
    algorithm : a registered algorithm name (``maml``, ``imaml``, ...)
    directory : where the files are (default: the shipped ``resources/pseudocode``)

    Raises
    ------
    PseudoCodeError
        The file is missing or malformed, or a phase of the algorithm's animation
        (:func:`required_phases`) tags no line.
    """
    path = pseudocode_path(algorithm, directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PseudoCodeError(f"no pseudo-code for algorithm {algorithm!r}: expected {path}") \
            from None
    code = parse_pseudocode(text, algorithm, path)
    missing = [p for p in required_phases(algorithm) if p not in code.phase_lines]
    if missing:
        raise PseudoCodeError(
            f"{path.name}: no line is tagged for phase(s) "
            f"{', '.join('⟦' + p + '⟧' for p in missing)}, which the {algorithm} animation uses")
    return code
