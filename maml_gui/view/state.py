"""The view states: landscape, function view, comparison, playback, and the window's whole.

Each is an immutable value described by a table of :class:`~maml_gui.view.fields.ViewField`
(validation, defaults, help), built from and written to JSON. Changing one means making a
new one with :meth:`ViewState.replace`, which validates again, so an invalid state cannot
exist. Session files and presets store a :class:`WindowState`; a view written before these
objects existed (one flat object) is read through :func:`migrate_view`.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping

from maml_gui.view.fields import ViewField, ViewStateError

VIEW_VERSION = 2  # 1: the flat object of sessions written before the view states
MAX_PLANE_SEED = 2**31 - 1  # the config's seed range (and what a Qt spin box can hold)


class ViewState:
    """Base of the view states: attributes from :attr:`FIELDS`, validated on creation."""

    KEY: ClassVar[str] = "view"
    FIELDS: ClassVar[tuple[ViewField, ...]] = ()

    def __init__(self, *, _where: str | None = None, **values: Any):
        where = _where or self.KEY
        known = {f.name for f in self.FIELDS}
        for name in values:
            if name not in known:
                raise ViewStateError(f"{where}.{name}: unknown setting (known: "
                                     f"{', '.join(sorted(known))})")
        for f in self.FIELDS:
            value = values.get(f.name, copy.deepcopy(f.default))
            object.__setattr__(self, f.name, f.check(value, where))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.FIELDS)
        return f"{type(self).__name__}({inner})"

    @classmethod
    def field(cls, name: str) -> ViewField:
        """The field called ``name``."""
        for f in cls.FIELDS:
            if f.name == name:
                return f
        raise KeyError(name)

    def replace(self, **changes: Any) -> "ViewState":
        """A copy with ``changes`` applied (validated: :class:`ViewStateError`)."""
        return type(self)(**{**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in self.FIELDS}

    @classmethod
    def from_json(cls, data: Any, where: str | None = None) -> "ViewState":
        """The state in ``data`` (missing fields take their defaults); :class:`ViewStateError`
        naming ``where.field`` for anything invalid or unknown."""
        where = where or cls.KEY
        if not isinstance(data, Mapping):
            raise ViewStateError(f"{where} must be an object, not {type(data).__name__}")
        return cls(_where=where, **dict(data))

    @classmethod
    def help_text(cls) -> str:
        """One line per field: name, default, allowed values, meaning."""
        return "\n".join(f"{cls.KEY}.{f.name} (default {f.default!r}; {f.allowed()}): {f.help}"
                         for f in cls.FIELDS)


class LandscapeState(ViewState):
    """What the landscape canvas shows."""

    KEY = "landscape"
    FIELDS = (
        ViewField("surface", "surface", None, "The surface under the paths.", nullable=True,
                  null_means="the meta-objective where the algorithm has one, else the mean loss"),
        ViewField("log_scale", "bool", None, "Colour by log₁₀ of the loss.", nullable=True,
                  null_means="log for models with more than two parameters, whose loss spans "
                             "decades; linear otherwise"),
        ViewField("plane", "choice", "pca", "For models with more than two parameters: the plane "
                  "shown (PCA of θ's path, seeded random directions, or θ₁, θ₂).",
                  choices=("pca", "random", "axes")),
        ViewField("plane_seed", "int", None, "Seed of the random plane's directions.", low=0,
                  high=MAX_PLANE_SEED, nullable=True, null_means="the config's seed"),
        ViewField("range", "rect", None, "The plotted rectangle.", nullable=True,
                  null_means="the tasks' region, or θ's path on a plane"),
        ViewField("selected_task", "int", None, "The task drawn highlighted.", low=0,
                  nullable=True, null_means="none: all tasks alike"),
        ViewField("trail", "bool", True, "Draw θ's trail.", label="θ's trail"),
        ViewField("paths", "bool", True, "Draw the tasks' inner-loop paths.",
                  label="inner-loop paths"),
        ViewField("arrows", "bool", True, "Draw the meta-gradient arrows.",
                  label="meta-gradient arrows"),
        ViewField("optima", "bool", True, "Draw the tasks' optima (★).", label="task optima ★"),
        ViewField("legend", "bool", True, "Draw the legend.", label="legend"),
    )
    #: the item groups that can be shown or hidden (the window's "Show" menu)
    DRAWN: ClassVar[tuple[str, ...]] = ("trail", "paths", "arrows", "optima", "legend")

    def plane_seed_for(self, config_seed: int) -> int:
        """The random plane's seed: :attr:`plane_seed`, or the config's seed when unset."""
        return config_seed if self.plane_seed is None else int(self.plane_seed)

    def log_scale_for(self, param_dim: int) -> bool:
        """The colour scale to use for a model of ``param_dim`` parameters."""
        return (param_dim > 2) if self.log_scale is None else bool(self.log_scale)


class FunctionState(ViewState):
    """What the function view shows."""

    KEY = "function"
    FIELDS = (
        ViewField("task", "int", 0, "The task whose data and fits are drawn.", low=0),
        ViewField("support_points", "int", None, "Support points the model adapts to.", low=1,
                  high=1000, nullable=True, null_means="the config's"),
        ViewField("steps", "ints", [1, 5, 10], "Fine-tuning steps shown in the MSE table.",
                  low=0, high=10000),
        ViewField("baseline", "bool", True, "Compare with a pretrained (non-meta) baseline."),
    )


class ComparisonState(ViewState):
    """What the comparison tab runs and shows."""

    KEY = "comparison"
    FIELDS = (
        ViewField("variants", "variants", [], "The variants run side by side: "
                  "[algorithm, settings text] pairs.", nullable=True, null_means="MAML, FOMAML, "
                  "Reptile and iMAML with the config's settings"),
        ViewField("layout", "choice", "overlay", "One plot, or one panel per variant.",
                  choices=("overlay", "small multiples")),
        ViewField("target", "float", None, "Meta-loss a variant must reach to count its steps.",
                  nullable=True, null_means="half way from the start to the best loss reached"),
    )


class PlaybackState(ViewState):
    """How the adaptation animation plays."""

    KEY = "playback"
    FIELDS = (
        ViewField("speed", "speed", 2.0, "Animation frames per second, or full speed."),
        ViewField("order", "choice", "auto", "Tasks' inner steps one task after another or "
                  "together (auto: one by one up to 4 tasks).",
                  choices=("auto", "together", "one_by_one")),
    )


_PARTS: dict[str, type[ViewState]] = {
    cls.KEY: cls for cls in (LandscapeState, FunctionState, ComparisonState, PlaybackState)}


class WindowState:
    """Everything a session or preset says about what to show: the open tab and one state
    per view."""

    TABS = ("landscape", "compare", "function", "trace")

    def __init__(self, tab: str = "landscape", landscape: LandscapeState | None = None,
                 function: FunctionState | None = None, comparison: ComparisonState | None = None,
                 playback: PlaybackState | None = None, *, where: str = "view"):
        if tab not in self.TABS:
            raise ViewStateError(f"{where}.tab = {tab!r}: must be one of {', '.join(self.TABS)}")
        self.tab = tab
        self.landscape = landscape or LandscapeState()
        self.function = function or FunctionState()
        self.comparison = comparison or ComparisonState()
        self.playback = playback or PlaybackState()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowState) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"WindowState({self.to_json()!r})"

    def replace(self, **parts: Any) -> "WindowState":
        """A copy with some parts (``tab``, ``landscape``, …) replaced."""
        values = {"tab": self.tab, **{key: getattr(self, key) for key in _PARTS}, **parts}
        return WindowState(**values)

    def to_json(self) -> dict[str, Any]:
        return {"version": VIEW_VERSION, "tab": self.tab,
                **{key: getattr(self, key).to_json() for key in _PARTS}}

    @classmethod
    def from_json(cls, data: Any, where: str = "view") -> "WindowState":
        """Read a session's or preset's view, migrating one written before the view states."""
        if not isinstance(data, Mapping):
            raise ViewStateError(f"{where} must be an object, not {type(data).__name__}")
        data = migrate_view(data, where)
        unknown = sorted(set(data) - {"version", "tab", *_PARTS})
        if unknown:
            raise ViewStateError(f"{where}.{unknown[0]}: unknown (known: version, tab, "
                                 f"{', '.join(_PARTS)})")
        parts = {key: part.from_json(data.get(key, {}), f"{where}.{key}")
                 for key, part in _PARTS.items()}
        tab = data.get("tab", "landscape")
        return cls(tab if tab is not None else "landscape", **parts, where=where)


# flat key of a version-1 view → (part, field)
_V1_KEYS = {
    "surface": ("landscape", "surface"), "log_scale": ("landscape", "log_scale"),
    "plane": ("landscape", "plane"), "range": ("landscape", "range"),
    "speed": ("playback", "speed"), "order": ("playback", "order"),
    "compare": ("comparison", "variants"), "compare_layout": ("comparison", "layout"),
}


def migrate_view(data: Mapping[str, Any], where: str = "view") -> dict[str, Any]:
    """A view in the current layout: version-1 views (one flat object: ``surface``,
    ``log_scale``, ``plane``, ``range``, ``speed``, ``order``, ``tab``, ``compare``,
    ``compare_layout``) are moved into their parts; current ones are returned as they are."""
    version = data.get("version", 1 if not any(key in data for key in _PARTS) else VIEW_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ViewStateError(f"{where}.version = {version!r}: must be 1 or {VIEW_VERSION}")
    if version > VIEW_VERSION:
        raise ViewStateError(f"{where} was written by a newer maml-gui (view version {version}; "
                             f"this one reads up to {VIEW_VERSION})")
    if version == VIEW_VERSION:
        return dict(data)
    migrated: dict[str, Any] = {"version": VIEW_VERSION}
    for key, value in data.items():
        if key == "version":
            continue
        if key == "tab":
            migrated["tab"] = value
        elif key in _V1_KEYS:
            part, name = _V1_KEYS[key]
            if value is not None:
                migrated.setdefault(part, {})[name] = value
        else:
            raise ViewStateError(f"{where}.{key}: unknown (known: tab, "
                                 f"{', '.join(_V1_KEYS)})")
    return migrated


__all__ = ["ComparisonState", "MAX_PLANE_SEED", "FunctionState", "LandscapeState", "PlaybackState", "VIEW_VERSION",
           "ViewState", "WindowState", "migrate_view"]
