"""Session files: the whole state of the window as JSON, with a schema version.

A session holds the config (the seed and θ₀ included) and what the window shows: the
canvas's surface, colour scale, plane and view rectangle, the animation speed and order,
the comparison's variants and layout, and which tab is open. Reading never half-applies:
the file is parsed and validated completely before anything in the window changes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maml_gui.core.config import SCHEMA_VERSION, Config, ConfigError, config_json, make_config
from maml_gui.core.io import write_text_atomic
from maml_gui.core.safe_read import InputFileError, read_json
from maml_gui.export import SESSION_FORMAT, ExportError
from maml_gui.export.data import read_embedded_session
from maml_gui.view import ViewStateError, WindowState


class SessionError(ValueError):
    """A session file cannot be used; the message says why."""


@dataclass(frozen=True)
class Session:
    """A config and what the window shows (:class:`~maml_gui.view.WindowState`)."""

    config: Config
    view: WindowState = field(default_factory=WindowState)

    def to_json(self) -> dict[str, Any]:
        return {"format": SESSION_FORMAT, "schema_version": SCHEMA_VERSION,
                "config": config_json(self.config), "view": self.view.to_json()}


def read_view(data: Any, where: str = "view") -> WindowState:
    """A session's or preset's view (older flat views are migrated), or :class:`SessionError`
    naming the field. Everything the window would choke on is refused here, before anything
    is applied: ranges beyond ±1e12, comparison rows that do not parse."""
    try:
        view = WindowState.from_json(data, where)
    except ViewStateError as exc:
        raise SessionError(str(exc)) from None
    if view.landscape.range is not None:
        check_view_range(view.landscape.range, f"{where}.landscape.range")
    for i, item in enumerate(view.comparison.variants):
        check_variant(item, f"{where}.comparison.variants[{i}]")
    return view


MAX_VIEW_COORD = 1e12  # beyond this the canvas's arithmetic (widths, ticks) overflows


def check_view_range(rect, where: str = "view.range") -> None:
    """A rectangle [xmin, xmax, ymin, ymax] the canvas and the landscape grid can use:
    finite, at most ±1e12, and not thinner than float64 can resolve (pyqtgraph raises on
    ±1e308 or infinite ranges, and a grid over them is all NaN)."""
    if not all(math.isfinite(v) and abs(v) <= MAX_VIEW_COORD for v in rect):
        raise SessionError(f"{where} must be finite numbers within ±{MAX_VIEW_COORD:g}")
    for low, high in (rect[0:2], rect[2:4]):
        if not low < high:
            raise SessionError(f"{where} [xmin, xmax, ymin, ymax]: each minimum must be below "
                               "its maximum")
        if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):
            raise SessionError(f"{where} is too narrow to show ({low!r} … {high!r})")


def check_variant(item: list, where: str) -> None:
    """A comparison row the window can show: a known algorithm and settings text that parses
    (whether the values suit the config is checked when the comparison starts, as for
    typed text)."""
    from maml_gui.core.comparison import parse_overrides
    from maml_gui.core.config import ALGORITHMS

    if item[0] not in ALGORITHMS:
        raise SessionError(f"{where}: unknown algorithm {item[0][:40]!r} "
                           f"(one of {', '.join(ALGORITHMS)})")
    try:
        parse_overrides(item[1])
    except ConfigError as exc:
        raise SessionError(f"{where}: {exc}") from None


EXPORT_SUFFIXES = (".png", ".svg", ".pdf", ".gif", ".mp4", ".csv", ".npz")


def read_session(path: str | Path) -> Session:
    """Parse and validate a session file, or the session embedded in any exported file
    (figure, animation, data); raises :class:`SessionError` naming the problem."""
    path = Path(path)
    if path.suffix.lower() in EXPORT_SUFFIXES:
        return _embedded_session(path)
    try:
        data = read_json(path, what="session")
    except InputFileError as exc:
        raise SessionError(str(exc)) from None
    if not isinstance(data, dict) or "config" not in data:
        raise SessionError(f"{path.name} is not a maml-gui session (no config in it)")
    version = data.get("schema_version", data["config"].get("schema_version", SCHEMA_VERSION)
                       if isinstance(data["config"], dict) else SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SessionError(f"{path.name} was saved by a newer maml-gui (schema version "
                           f"{version}; this one reads up to {SCHEMA_VERSION})")
    try:
        config = make_config({k: v for k, v in data["config"].items() if k != "schema_version"}
                             if isinstance(data["config"], dict) else data["config"])
    except ConfigError as exc:
        raise SessionError(f"{path.name}: {exc}") from None
    return Session(config, read_view(data.get("view", {}), f"{path.name}: view"))


def _embedded_session(path: Path) -> Session:
    try:
        config, view = read_embedded_session(path)
        return Session(make_config({k: v for k, v in config.items() if k != "schema_version"}),
                       read_view(view.to_json(), f"{path.name}: view"))
    except (ExportError, ConfigError) as exc:
        raise SessionError(f"{path.name}: {exc}") from None


def write_session(path: str | Path, session: Session) -> None:
    """Write atomically: a failure leaves any previous file as it was."""
    write_text_atomic(path, json.dumps(session.to_json(), indent=2) + "\n")
