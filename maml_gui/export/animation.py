"""The adaptation animation as GIF or MP4: every frame of a range of meta-steps.

The frames are those of :func:`maml_gui.core.animation.build_frames` (the window plays the
same ones): θ and the tasks, each task's inner steps, its meta-gradient, their mean, the
meta-update. Each is drawn by an off-screen publication figure
(:class:`~maml_gui.export.figure.LandscapeFigure`) and streamed to the file, so memory stays
flat however long the animation.

- GIF: one 256-colour palette for the whole animation (so colours never flicker), taken from
  the first frame plus the theme's task/arrow colours; frame delays in centiseconds,
  rounded so the total length matches ``fps``; loops forever; the config in a comment
  extension.
- MP4: H.264 (libx264, yuv420p) through imageio-ffmpeg; an odd pixel width or height gets
  its last column/row repeated once (the codec needs even sizes); the config in the
  ``comment`` metadata tag (``©cmt`` in ``moov/udta/meta/ilst``; no sidecar file).

Both embed a session document (the config plus the view: surface, range, log scale, order,
speed), see :func:`~maml_gui.export.images.config_metadata`.

``progress(done, total)`` is called after every frame; returning False cancels. A cancelled
or failed export leaves no file behind (temporary file, renamed at the end).
:func:`run_with_progress_dialog` wraps an export in a cancellable ``QProgressDialog``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from maml_gui.core.animation import build_frames
from maml_gui.core.config import Config
from maml_gui.core.io import AtomicPath
from maml_gui.core.trace import StepRecord
from maml_gui.export import ANIMATION_FORMATS, ExportCancelled, ExportError, export_format
from maml_gui.palette import PUBLICATION, Theme

if TYPE_CHECKING:
    from maml_gui.view import LandscapeState

Progress = Callable[[int, int], bool]
MAX_FPS = 60.0
DEFAULT_FPS = 8.0
DEFAULT_SIZE = (640, 500)


def frame_plan(records: Sequence[StepRecord], start: int = 0, end: int | None = None,
               order: str = "auto") -> list[tuple[int, int]]:
    """``(record index, frame index)`` of every frame of meta-steps ``[start, end)``."""
    end = len(records) if end is None else end
    if not 0 <= start < end <= len(records):
        raise ExportError(f"meta-step range {start} … {end - 1} is not within the run's "
                          f"meta-steps 0 … {len(records) - 1}" if records else
                          "there are no meta-steps to animate")
    return [(s, f) for s in range(start, end)
            for f in range(len(build_frames(records[s], order)))]


def check_fps(fps: float) -> float:
    import math

    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ExportError(f"fps {fps!r}: must be above 0 and at most {MAX_FPS:g}")
    return float(fps)


# --- writers ------------------------------------------------------------------------------

class GifWriter:
    """Streams RGB frames into a GIF with one global palette (and the config as a comment)."""

    def __init__(self, path: Path, fps: float, comment: str, theme: Theme = PUBLICATION,
                 n_tasks: int = 8):
        self.path = path
        self.fps = fps
        self.comment = comment.encode("utf-8")
        self.reserved = [theme.background, theme.foreground, theme.trail, theme.theta,
                         theme.aggregate, theme.outline, *(theme.task(i) for i in range(n_tasks))]
        self._handle = None
        self._palette = None
        self._previous: np.ndarray | None = None
        self._count = 0

    def _make_palette(self, first):
        from PIL import Image

        reserved = []
        for colour in dict.fromkeys(c.upper() for c in self.reserved):
            reserved += [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        free = 256 - len(reserved) // 3
        quantised = first.quantize(colors=free, method=Image.Quantize.MEDIANCUT)
        colours = quantised.getpalette()[: 3 * free]
        colours += [0] * (3 * free - len(colours))
        palette = Image.new("P", (1, 1))
        palette.putpalette(colours + reserved)
        return palette

    def write(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        image = Image.fromarray(frame, "RGB")
        if self._palette is None:
            self._palette = self._make_palette(image)
        indexed = image.quantize(palette=self._palette, dither=Image.Dither.NONE)
        if self._handle is None:
            self._handle = open(self.path, "wb")
            header, _ = GifImagePlugin.getheader(indexed, info={"loop": 0,
                                                                "comment": self.comment})
            for chunk in header:
                self._handle.write(chunk)
        # delays in 1/100 s, rounded cumulatively so the total length follows fps exactly
        delay = round(100 * (self._count + 1) / self.fps) - round(100 * self._count / self.fps)
        # only the rectangle that changed is stored; the rest stays from the previous frame
        pixels = np.asarray(indexed)
        box = (0, 0, *indexed.size)
        if self._previous is not None:
            changed = pixels != self._previous
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            box = ((0, 0, 1, 1) if not rows.size else
                   (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
        self._previous = pixels
        part = indexed.crop(box) if box != (0, 0, *indexed.size) else indexed
        for chunk in GifImagePlugin.getdata(part, offset=box[:2], duration=10 * max(delay, 2),
                                            disposal=1):
            self._handle.write(chunk)
        self._count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.write(b";")
            self._handle.close()
            self._handle = None

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Mp4Writer:
    """Streams RGB frames to ffmpeg (H.264), the config in the ``comment`` metadata tag."""

    def __init__(self, path: Path, fps: float, comment: str):
        self.path = path
        self.fps = fps
        self.comment = comment
        self._writer = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        import imageio_ffmpeg

        from maml_gui.runtime.lifeline import native_children_die_with_parent

        height, width = frame.shape[:2]
        even = (width + width % 2, height + height % 2)
        if even != (width, height):  # yuv420p needs even sizes: repeat the last column/row
            frame = np.pad(frame, ((0, even[1] - height), (0, even[0] - width), (0, 0)),
                           mode="edge")
        if self._writer is None:
            self._size = even
            self._writer = imageio_ffmpeg.write_frames(
                str(self.path), even, fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p", quality=8, macro_block_size=2, ffmpeg_log_level="error",
                output_params=["-metadata", f"comment={self.comment}",
                               "-movflags", "+faststart"])
            with native_children_die_with_parent():  # no ffmpeg outlives a killed export
                self._writer.send(None)  # starts ffmpeg
        try:
            self._writer.send(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError) as exc:
            raise OSError(getattr(exc, "errno", None) or 5,
                          f"ffmpeg stopped writing the video ({exc})") from None

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except RuntimeError as exc:  # ffmpeg failed, e.g. the disk is full
                raise OSError(5, f"ffmpeg could not finish the video: {exc}") from None

    def abort(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the file is discarded anyway
                pass


def open_writer(fmt: str, path: Path, fps: float, comment: str, theme: Theme, n_tasks: int):
    if fmt == "gif":
        return GifWriter(path, fps, comment, theme, n_tasks)
    return Mp4Writer(path, fps, comment)


# --- the export -----------------------------------------------------------------------------

def export_animation(path: str | Path, config: Config, records: Sequence[StepRecord], *,
                     start: int = 0, end: int | None = None, size: tuple[int, int] = DEFAULT_SIZE,
                     scale: float = 1.0, fps: float = DEFAULT_FPS, order: str = "auto",
                     surface: str | None = None, log_scale: bool | None = None,
                     view_range: Sequence[float] | None = None, resolution: int | None = None,
                     plane: str | None = None, theme: Theme = PUBLICATION,
                     progress: Progress | None = None, state: "LandscapeState | None" = None
                     ) -> bool:
    """Write the adaptation animation of meta-steps ``[start, end)`` of ``records``.

    Parameters
    ----------
    path : ``.gif`` or ``.mp4``.
    config, records : the run (``records[s]`` is meta-step s; the trail before ``start`` is
        drawn too).
    start, end : the meta-steps to animate (0-based, end excluded; default all).
    size, scale : frame size in logical pixels and pixels per logical pixel.
    fps : frames per second (each animation phase is one frame).
    order : ``auto``, ``one_by_one`` or ``together`` (how tasks' inner steps are animated).
    surface, log_scale, view_range, resolution, plane, theme, state : as for
        :class:`~maml_gui.export.figure.LandscapeFigure`.
    progress : ``progress(done, total) -> bool`` after each frame; False cancels.

    Returns
    -------
    True when the file was written, False when cancelled (no file is left).
    """
    from maml_gui.core.history import RunHistory
    from maml_gui.core.tasks import make_family
    from maml_gui.export.figure import GRID_ANIMATION, LandscapeFigure
    from maml_gui.export import CONFIG_KEY
    from maml_gui.export.images import config_metadata
    from maml_gui.runtime.offline import snapshot_of

    fmt = export_format(path, ANIMATION_FORMATS)
    fps = check_fps(fps)
    plan = frame_plan(records, start, end, order)
    history = RunHistory(make_family(config).param_dim)
    for record in records[:start]:
        history.append(record)
    atomic = AtomicPath(path)  # refuses an unwritable folder before any drawing
    n_tasks = max(r.n_tasks for r in records)
    writer = None
    try:
        with LandscapeFigure(config, size=size, surface=surface, log_scale=log_scale,
                             view_range=view_range, resolution=resolution, plane=plane,
                             theme=theme, grid_2d=GRID_ANIMATION, state=state) as figure:
            # place the legend once, where it hides least of the whole range, and keep it
            last = records[plan[-1][0]]
            figure.show(snapshot_of(config, _history_until(config, records, plan[-1][0]), last,
                                    order=order), total_steps=len(records))
            figure.lock_legend()
            view = figure.view_state()
            view = view.replace(playback=view.playback.replace(order=order, speed=fps))
            comment = config_metadata(config, view)[CONFIG_KEY]
            writer = open_writer(fmt, atomic.temp, fps, comment, theme, n_tasks)
            shown = start - 1
            for done, (s, f) in enumerate(plan, start=1):
                if s != shown:
                    history.append(records[s])
                    shown = s
                figure.show(snapshot_of(config, history, records[s], frame_index=f, order=order),
                            total_steps=len(records))
                writer.write(figure.frame(scale))
                if progress is not None and progress(done, len(plan)) is False:
                    raise ExportCancelled()
        writer.close()
        atomic.commit()
        return True
    except ExportCancelled:
        writer.abort()
        atomic.discard()
        return False
    except BaseException:
        if writer is not None:
            writer.abort()
        atomic.discard()
        raise


def _history_until(config: Config, records: Sequence[StepRecord], index: int):
    from maml_gui.core.history import RunHistory
    from maml_gui.core.tasks import make_family

    history = RunHistory(make_family(config).param_dim)
    for record in records[: index + 1]:
        history.append(record)
    return history


def run_with_progress_dialog(parent, job: Callable[[Progress], Any], *,
                             title: str = "Exporting animation…",
                             label: str = "Drawing frames…"):
    """Run ``job(progress)`` under a modal, cancellable ``QProgressDialog``; return its result.

    ``job`` receives a ``progress(done, total) -> bool`` callback (False once the user pressed
    Cancel). For the window's "Export animation…" action::

        ok = run_with_progress_dialog(self, lambda progress: export_animation(
            path, config, records, start=0, end=len(records), progress=progress))

    The dialog is window-modal, so the window takes no input meanwhile; a modal
    ``QProgressDialog.setValue`` lets events through (that is how Cancel gets clicked), so a
    second export started from inside one is refused.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog

    global _dialog_running
    if _dialog_running:
        raise RuntimeError("an export is already running")

    dialog = QProgressDialog(label, "Cancel", 0, 1, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    state = {"cancelled": False}

    def progress(done: int, total: int) -> bool:
        dialog.setMaximum(max(total, 1))
        dialog.setLabelText(f"{label}  {done} of {total}")
        dialog.setValue(min(done, total))  # modal: lets the Cancel click through
        state["cancelled"] = state["cancelled"] or dialog.wasCanceled()
        return not state["cancelled"]

    _dialog_running = True
    try:
        return job(progress)
    finally:
        _dialog_running = False
        dialog.close()
        dialog.deleteLater()


_dialog_running = False


__all__ = ["DEFAULT_FPS", "GifWriter", "Mp4Writer", "export_animation", "frame_plan",
           "run_with_progress_dialog"]
