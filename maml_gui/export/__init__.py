"""Exports: images (PNG/SVG/PDF), animations (GIF/MP4) and data (CSV/JSON/NPZ).

Every exported file carries the full config (:func:`maml_gui.core.config.config_json`) under
the key :data:`CONFIG_KEY`, so :func:`maml_gui.export.data.read_embedded_config` (and
``maml-gui export --config FILE``) can reproduce it. Figures and animations embed a whole
session document (``{"format": "maml-gui-session", "config": …, "view": …}``: the surface,
range, log scale, plane, order and speed they were drawn with), which every config reader
accepts and which redraws the same figure; data files embed the config alone:

=========  ===============================================================================
PNG        a ``tEXt`` chunk ``maml-gui-config``
SVG        ``<desc>`` holds the JSON; ``<title>`` names the figure
PDF        XMP metadata (``maml:config``, uncompressed) plus Title/Creator
GIF        a comment extension before the first frame
MP4        the ``comment`` tag (``©cmt`` in ``moov/udta/meta/ilst``), written by ffmpeg
CSV        a leading line ``# config: {json}``
JSON/NPZ   the ``config`` key of the trace format (``maml_gui.core.trace``)
=========  ===============================================================================

Files are written to a temporary name beside the target and renamed at the end
(:class:`maml_gui.core.io.AtomicPath`): a failure or a cancelled export leaves nothing behind.

Modules: :mod:`~maml_gui.export.data` (no Qt), :mod:`~maml_gui.export.images` (render any
widget or scene), :mod:`~maml_gui.export.figure` (the publication-themed landscape figure),
:mod:`~maml_gui.export.animation` (GIF/MP4 of the adaptation animation, progress, cancel).
This package imports nothing from Qt itself, so ``maml_gui.export.data`` stays headless.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_KEY = "maml-gui-config"
SESSION_FORMAT = "maml-gui-session"  # the "format" of a session document (file or embedded)

IMAGE_FORMATS = ("png", "svg", "pdf")
ANIMATION_FORMATS = ("gif", "mp4")
DATA_FORMATS = ("csv", "json", "npz")
ALL_FORMATS = IMAGE_FORMATS + ANIMATION_FORMATS + DATA_FORMATS

MAX_SIZE = 8192  # pixels per side (before the scale)
MAX_SCALE = 8.0
MAX_PIXELS = 16384  # pixels per side of a raster image (size × scale)


class ExportError(ValueError):
    """An export cannot be made as asked (unknown format, bad size, ...): a readable reason."""


class ExportCancelled(Exception):
    """The user cancelled a long export; nothing was written."""


def export_format(path: str | Path, allowed: tuple[str, ...] = ALL_FORMATS) -> str:
    """The format of ``path`` from its extension (``png``, ``csv``, ...), or :class:`ExportError`
    naming the allowed ones."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in allowed:
        shown = f".{suffix}" if suffix else "(none)"
        raise ExportError(f"{path}: unknown export format {shown}; use "
                          + ", ".join(f".{f}" for f in allowed))
    return suffix


def check_size(size: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
    """Validate an output size in pixels and a scale; the size as two ints."""
    import math

    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ExportError(f"size {size!r}: must be two integers (width, height)") from None
    if not (1 <= width <= MAX_SIZE and 1 <= height <= MAX_SIZE):
        raise ExportError(f"size {width}x{height}: each side must be 1 … {MAX_SIZE} pixels")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ExportError(f"scale {scale!r}: must be above 0 and at most {MAX_SCALE:g}")
    if round(width * scale) < 1 or round(height * scale) < 1:
        raise ExportError(f"size {width}x{height} at scale {scale:g} has no pixels left")
    if round(width * scale) > MAX_PIXELS or round(height * scale) > MAX_PIXELS:
        raise ExportError(f"size {width}x{height} at scale {scale:g} is too large "
                          f"(at most {MAX_PIXELS} pixels per side)")
    return width, height


def parse_size(text: str) -> tuple[int, int]:
    """``"900x700"`` → ``(900, 700)``; :class:`ExportError` for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses
    if len(parts) != 2 or not all(p.strip() and set(p.strip()) <= set("0123456789")
                                  and len(p.strip()) <= 9 for p in parts):
        raise ExportError(f"size {text!r}: write it as WIDTHxHEIGHT, e.g. 900x700")
    return check_size((int(parts[0]), int(parts[1])))


__all__ = [
    "ALL_FORMATS", "ANIMATION_FORMATS", "CONFIG_KEY", "DATA_FORMATS", "ExportCancelled",
    "ExportError", "IMAGE_FORMATS", "MAX_SCALE", "MAX_SIZE", "check_size", "export_format",
    "parse_size",
]
