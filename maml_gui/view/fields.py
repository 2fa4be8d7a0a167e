"""One view setting: its kind, default, allowed values and meaning (like the config's fields)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

SURFACE_PATTERN = re.compile(r"^(meta|mean|(task|imaml):\d+)$")


class ViewStateError(ValueError):
    """A view setting is invalid; the message names the field, the value and what is allowed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ViewField:
    """One setting of a view state.

    ``kind`` is ``"bool"``, ``"int"``, ``"float"``, ``"choice"``, ``"surface"`` (``meta``,
    ``mean``, ``task:I`` or ``imaml:I``), ``"rect"`` (``[xmin, xmax, ymin, ymax]`` with
    min < max), ``"speed"`` (frames per second above 0, or ``"full"``), ``"ints"`` (a list of
    ints within the range) or ``"variants"`` (a list of ``[algorithm, settings text]``).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    null_means: str = ""
    label: str = ""  # the name in the window's controls, where one differs from the help

    def allowed(self) -> str:
        """The allowed values, in words (for messages and help)."""
        text = {
            "bool": "true or false",
            "choice": "one of " + ", ".join(self.choices),
            "surface": "meta, mean, task:I or imaml:I",
            "rect": "[xmin, xmax, ymin, ymax] of finite numbers with xmin < xmax, ymin < ymax",
            "speed": 'a number of frames per second above 0, or "full"',
            "variants": "a list of [algorithm, settings text] pairs",
        }.get(self.kind)
        if text is None:
            bounds = [f"≥ {self.low:g}" if self.low is not None else "",
                      f"≤ {self.high:g}" if self.high is not None else ""]
            what = {"int": "an integer", "float": "a number", "ints": "a list of integers"}[self.kind]
            text = " ".join([what, " and ".join(b for b in bounds if b)]).strip()
        if self.nullable:
            text += f", or null ({self.null_means or 'the default'})"
        return text

    def check(self, value: Any, where: str) -> Any:
        """``value`` validated (and normalised: tuples to lists, ints to floats) or
        :class:`ViewStateError` naming ``where.name``, the value and what is allowed."""
        if value is None and (self.nullable or self.default is None):
            return None
        normalised = self._normalise(value)
        if normalised is _INVALID:
            raise ViewStateError(f"{where}.{self.name} = {_short(value)}: must be {self.allowed()}")
        return normalised

    def _normalise(self, value: Any) -> Any:
        kind = self.kind
        if kind == "bool":
            return value if isinstance(value, bool) else _INVALID
        if kind == "choice":
            return value if isinstance(value, str) and value in self.choices else _INVALID
        if kind == "surface":
            return value if isinstance(value, str) and SURFACE_PATTERN.match(value) else _INVALID
        if kind in ("int", "float"):
            if not _is_number(value) or not math.isfinite(value) or (
                    kind == "int" and int(value) != value):
                return _INVALID
            value = int(value) if kind == "int" else float(value)
            return value if self._in_range(value) else _INVALID
        if kind == "ints":
            if not isinstance(value, (list, tuple)) or not all(
                    _is_number(v) and int(v) == v and self._in_range(v) for v in value):
                return _INVALID
            return [int(v) for v in value]
        if kind == "rect":
            if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
                    _is_number(v) and math.isfinite(v) for v in value):
                return _INVALID
            x0, x1, y0, y1 = (float(v) for v in value)
            return [x0, x1, y0, y1] if x0 < x1 and y0 < y1 else _INVALID
        if kind == "speed":
            if value == "full":
                return value
            return float(value) if _is_number(value) and value > 0 and math.isfinite(value) \
                else _INVALID
        if kind == "variants":
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, (list, tuple)) and len(v) == 2
                    and all(isinstance(s, str) for s in v) for v in value):
                return _INVALID
            return [[str(a), str(b)] for a, b in value]
        raise AssertionError(f"unknown field kind {kind!r}")

    def _in_range(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


_INVALID = object()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
