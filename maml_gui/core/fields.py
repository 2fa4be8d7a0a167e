"""One setting's description (type, range, default, help, symbol) and its validation.

Below :mod:`maml_gui.core.config` and the task families, which both describe their settings
with :class:`Field`: neither needs the other to do so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: Any, problem: str):
        self.field = field_name
        self.value = value
        self.problem = problem
        from maml_gui.core.safe_read import shown_name  # a name read from a file may hold control characters

        super().__init__(f"{shown_name(field_name)} = {_short_repr(value)}: {problem}")


def _short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Field:
    """One setting: its type, range, default, meaning and whether it can change during a run.

    ``kind`` is one of ``"float"``, ``"int"``, ``"choice"``, ``"bool"``, ``"str"``, ``"vector"``
    (a list of numbers), ``"matrices"`` (a list of square matrices), ``"points"`` (a list of
    fixed-length number lists), ``"pointsets"`` (a list of such lists), ``"range"`` (a ``[low, high]`` pair), ``"ints"`` (a list of ints)
    or ``"choice_list"`` (distinct names out of ``choices``, as a list or comma-separated).
    """

    name: str
    kind: str
    default: Any
    help: str
    label: str = ""
    hot: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be strictly above ``low``
    choices: tuple[str, ...] = ()
    nullable: bool = False
    log_scale: bool = False  # widget hint: learning rates and λ span decades
    formula: str = ""  # shown in tooltips
    group: str = "training"
    point_len: int | None = None  # for kind "points"
    null_means: str = ""  # what null stands for, for help text
    symbol: str = ""  # the letter in the papers and the pseudo-code (α, k, β, λ, m, ...)

    @property
    def short(self) -> str:
        """The symbol, or the name where the setting has none (compact labels, legends)."""
        return self.symbol or self.name

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lo = "" if self.low is None else (f"> {_fmt(self.low)}" if self.low_open else f"≥ {_fmt(self.low)}")
        hi = "" if self.high is None else f"≤ {_fmt(self.high)}"
        return " and ".join(part for part in (lo, hi) if part) or "any value"

    def tooltip(self) -> str:
        parts = [self.help]
        if self.formula:
            parts.append(self.formula)
        if self.kind in ("float", "int", "choice"):
            parts.append(f"Allowed: {self.range_text()}.")
        if self.nullable and self.null_means:
            parts.append(f"Empty (null): {self.null_means}.")
        parts.append("Applies live during a run." if self.hot else "Changing it restarts the run.")
        return "\n".join(parts)

    def validate(self, value: Any, where: str | None = None) -> Any:
        """Return ``value`` converted to this field's type, or raise :class:`ConfigError`."""
        name = where or self.name
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(name, value, "a value is required (null is not allowed)")
        check = _CHECKERS[self.kind]
        return check(self, name, value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _number(name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                kind = "an integer" if integer else "a number"
                raise ConfigError(name, value, f"must be {kind}") from None
        else:
            kind = "an integer" if integer else "a number"
            raise ConfigError(name, value, f"must be {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(name, value, "must be a finite number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ConfigError(name, value, "must be an integer")
            value = int(value)
        return int(value)
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(name, value, "is too large") from None


def _check_range(f: Field, name: str, value: float, shown: Any = None) -> None:
    too_low = f.low is not None and (value <= f.low if f.low_open else value < f.low)
    too_high = f.high is not None and value > f.high
    if too_low or too_high:
        raise ConfigError(name, value if shown is None else shown,
                          f"out of range: must be {f.range_text()}")


def _check_float(f: Field, name: str, value: Any) -> float:
    number = _number(name, value, integer=False)
    _check_range(f, name, number, shown=value)
    return float(number)


def _check_int(f: Field, name: str, value: Any) -> int:
    number = _number(name, value, integer=True)
    _check_range(f, name, number, shown=value)
    return int(number)


def _check_choice(f: Field, name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in f.choices:
        raise ConfigError(name, value, f"unknown value: must be {f.range_text()}")
    return value


def _check_bool(f: Field, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(name, value, "must be true or false")


def _check_str(f: Field, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, value, "must be a non-empty string")
    return value.strip()


def _number_list(f: Field, name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of numbers")
    if len(value) > 100_000:
        raise ConfigError(name, "[...]", "too long (at most 100000 numbers)")
    return tuple(_number(f"{name}[{i}]", v, integer=False) for i, v in enumerate(value))


def _check_vector(f: Field, name: str, value: Any) -> tuple[float, ...]:
    numbers = _number_list(f, name, value)
    for i, v in enumerate(numbers):
        _check_range(f, f"{name}[{i}]", v)
    return numbers


def _check_range_pair(f: Field, name: str, value: Any) -> tuple[float, float]:
    pair = _number_list(f, name, value)
    if len(pair) != 2:
        raise ConfigError(name, value, "must be a pair [low, high]")
    for i, v in enumerate(pair):
        _check_range(f, f"{name}[{i}]", v)
    if not pair[0] < pair[1]:
        raise ConfigError(name, value, "low must be below high")
    return pair[0], pair[1]


def _check_ints(f: Field, name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0 or len(value) > 16:
        raise ConfigError(name, value, "must be a list of 1 to 16 integers")
    numbers = tuple(_number(f"{name}[{i}]", v, integer=True) for i, v in enumerate(value))
    for i, v in enumerate(numbers):
        _check_range(f, f"{name}[{i}]", v)
    return numbers


def _check_points(f: Field, name: str, value: Any) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of points")
    if len(value) > 1000:
        raise ConfigError(name, "[...]", "too many points (at most 1000)")
    points = []
    for i, point in enumerate(value):
        numbers = _number_list(f, f"{name}[{i}]", point)
        if f.point_len is not None and len(numbers) != f.point_len:
            raise ConfigError(f"{name}[{i}]", point, f"must have exactly {f.point_len} numbers")
        points.append(numbers)
    return tuple(points)


def _check_pointsets(f: Field, name: str, value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of point lists")
    return tuple(_check_points(f, f"{name}[{i}]", points) for i, points in enumerate(value))


def _check_matrices(f: Field, name: str, value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, "must be a non-empty list of square matrices")
    matrices = []
    for i, matrix in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(matrix, (list, tuple)) or len(matrix) == 0:
            raise ConfigError(where, matrix, "must be a square matrix (a list of rows)")
        rows = tuple(_number_list(f, f"{where}[{r}]", row) for r, row in enumerate(matrix))
        size = len(rows)
        if any(len(row) != size for row in rows):
            shape = f"{size}×{'/'.join(str(len(r)) for r in rows)}"
            raise ConfigError(where, matrix, f"must be square (got {shape})")
        matrices.append(rows)
    return tuple(matrices)


def _check_choice_list(f: Field, name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ConfigError(name, value, f"must be a non-empty list of names out of {', '.join(f.choices)}")
    for item in value:
        if not isinstance(item, str) or item not in f.choices:
            raise ConfigError(name, value, f"unknown name {item!r}: must be out of {', '.join(f.choices)}")
    if len(set(value)) != len(value):
        raise ConfigError(name, value, "lists a name twice")
    return tuple(value)


_CHECKERS = {
    "float": _check_float,
    "int": _check_int,
    "choice": _check_choice,
    "bool": _check_bool,
    "str": _check_str,
    "vector": _check_vector,
    "range": _check_range_pair,
    "ints": _check_ints,
    "points": _check_points,
    "pointsets": _check_pointsets,
    "matrices": _check_matrices,
    "choice_list": _check_choice_list,
}
