"""``maml-gui export``: figures, animations and data without a display.

::

    maml-gui export --preset article_two_tasks --steps 60 --out fig.png --size 900x700 --scale 2
    maml-gui export --config run.json --out fig.pdf --surface task:0 --log
    maml-gui export --preset article_two_tasks --out anim.gif --step-range 1 5 --fps 6
    maml-gui export --preset article_two_tasks --out path.csv               # the trajectory
    maml-gui export --preset article_two_tasks --out grid.npz --data grid   # the landscape grid
    maml-gui export --config fig.png --out again.svg    # any export's embedded config works

The format comes from --out's extension. Meta-steps are counted from 1 on the command line
(as in the window); the ``step`` column of data files counts from 0 (as in traces).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maml_gui.cli_common import EXIT_FAILED, EXIT_OK, Progress, UsageError, load_config_from_args
from maml_gui.export import (
    ALL_FORMATS, ANIMATION_FORMATS, DATA_FORMATS, IMAGE_FORMATS, MAX_SCALE, ExportError,
    check_size, export_format, parse_size,
)

if TYPE_CHECKING:
    from maml_gui.view import LandscapeState

VIEWS = ("landscape", "trace", "function", "comparison")
AVAILABLE_VIEWS = VIEWS
IMAGE_ONLY_VIEWS = ("trace", "function", "comparison")  # figures of these; data is the run's
IMAGE_SIZE = (900, 700)
ANIMATION_SIZE = (640, 500)


def add_parser(sub, add_config_arguments) -> None:
    parser = sub.add_parser(
        "export", help="write a figure, animation or data file without a display",
        description="Run the config headless and write --out: an image (.png, .svg, .pdf), the "
                    "adaptation animation (.gif, .mp4) or data (.csv, .json, .npz). Every file "
                    "embeds the config, so --config FILE works with any export.")
    add_config_arguments(parser)
    parser.add_argument("--view", default="landscape", choices=VIEWS,
                        help="what to draw (default landscape). trace: the pseudo-code and the "
                             "tasks table; function: a task's data and the model's fit "
                             "(softplus, sinusoid); comparison: --variant runs side by side")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file: " + ", ".join(f".{f}" for f in ALL_FORMATS))
    parser.add_argument("--size", metavar="WxH", help="figure or frame size in pixels "
                        f"(default {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} for images, "
                        f"{ANIMATION_SIZE[0]}x{ANIMATION_SIZE[1]} for animations)")
    parser.add_argument("--scale", type=float, default=1.0, metavar="S",
                        help=f"pixels per figure pixel for PNG/GIF/MP4, 0 < S ≤ {MAX_SCALE:g} "
                             "(2 → a 2× PNG); SVG and PDF are vectors and ignore it")
    parser.add_argument("--transparent", action="store_true",
                        help="no background (PNG and SVG)")
    parser.add_argument("--surface", help="meta | mean | task:I | imaml:I (default: the "
                                          "preset's, else meta, or mean for pretraining)")
    parser.add_argument("--log", action=argparse.BooleanOptionalAction, default=None,
                        help="log colour scale (default: the preset's or exported figure's)")
    parser.add_argument("--plane", choices=("pca", "random", "axes"),
                        help="models with more than 2 parameters: the plane shown (default pca)")
    parser.add_argument("--range", type=float, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                        help="the plotted rectangle (default: the preset's, else the tasks' "
                             "region)")
    parser.add_argument("--grid", type=int, metavar="N",
                        help="landscape resolution N×N (default: 400 for images, 200 for "
                             "animations and --data grid; 48 on MLP planes)")
    parser.add_argument("--step", type=int, metavar="N",
                        help="show the state after meta-step N, 1 … steps (default the last)")
    parser.add_argument("--step-range", type=int, nargs=2, metavar=("FIRST", "LAST"),
                        help="animations: meta-steps FIRST … LAST, counted from 1 (default all)")
    parser.add_argument("--fps", type=float, help="animations: frames per second (default: the "
                                                 "preset's or session's speed, else 8)")
    parser.add_argument("--order", choices=("auto", "one_by_one", "together"),
                        help="animations: tasks' inner steps one task after another or together "
                             "(auto: one by one up to 4 tasks)")
    parser.add_argument("--data", choices=("trajectory", "grid"),
                        help=".csv/.json/.npz: the run's trajectory (default: θ per meta-step, "
                             "every task's inner path, losses, meta-gradients) or the landscape "
                             "grid at --step (.npz or .csv)")
    parser.add_argument("--no-caption", action="store_true",
                        help="no line naming the meta-step under the title")
    parser.add_argument("--variant", action="append", default=[], metavar="'ALG [k=v,...]'",
                        help="--view comparison: a variant, e.g. --variant maml --variant "
                             "'maml inner_lr=0.05' (default: the preset's, else MAML, FOMAML, "
                             "Reptile and iMAML)")
    parser.add_argument("--task", type=int, default=0, metavar="I",
                        help="--view function: which task to show (default 0)")
    parser.add_argument("--layout", choices=("overlay", "small-multiples"), default="overlay",
                        help="--view comparison: one plot, or one panel per variant")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(handler=command_export)


# --- checking the arguments (before any work) ---------------------------------------------

def _check_arguments(args: argparse.Namespace) -> tuple[str, tuple[int, int]]:
    """The output format and size; UsageError for anything that cannot work."""
    if args.view not in AVAILABLE_VIEWS:
        raise UsageError(f"--view {args.view}: not available yet for export "
                         f"(available: {', '.join(AVAILABLE_VIEWS)})")
    if Path(args.out).is_dir():
        from maml_gui.core.io import check_writable

        check_writable(args.out)  # "… is a folder, not a file name"
    try:
        fmt = export_format(args.out)
    except ExportError as exc:
        raise UsageError(f"--out {exc}") from None
    try:
        size = parse_size(args.size) if args.size else (
            ANIMATION_SIZE if fmt in ANIMATION_FORMATS else IMAGE_SIZE)
        check_size(size, args.scale)
    except ExportError as exc:  # "size …" or "scale …"
        raise UsageError(f"--{exc}") from None
    is_data = fmt in DATA_FORMATS
    if args.view in IMAGE_ONLY_VIEWS and fmt not in IMAGE_FORMATS + DATA_FORMATS:
        raise UsageError(f"--view {args.view} is exported as an image (.png, .svg, .pdf); "
                         "animations show the landscape")
    if args.view in IMAGE_ONLY_VIEWS and args.data == "grid":
        raise UsageError(f"--data grid is the landscape's; not with --view {args.view}")
    if args.variant and args.view != "comparison":
        raise UsageError("--variant applies to --view comparison")
    if args.data and not is_data:
        raise UsageError(f"--data applies to .csv, .json and .npz, not .{fmt}")
    if args.data == "grid" and fmt == "json":
        raise UsageError("--data grid is written as .npz or .csv, not .json")
    if args.transparent and fmt not in ("png", "svg"):
        raise UsageError(f"--transparent applies to .png and .svg, not .{fmt}")
    if fmt not in ANIMATION_FORMATS:
        for flag, value in (("--step-range", args.step_range), ("--fps", args.fps)):
            if value is not None:
                raise UsageError(f"{flag} applies to animations (.gif, .mp4), not .{fmt}")
    elif args.step is not None:
        raise UsageError("--step picks one meta-step: for animations use --step-range FIRST LAST")
    if args.fps is not None:
        from maml_gui.export.animation import check_fps

        try:
            check_fps(args.fps)
        except ExportError as exc:  # "fps …"
            raise UsageError(f"--{exc}") from None
    if args.range is not None:
        xmin, xmax, ymin, ymax = args.range
        if not (xmin < xmax and ymin < ymax):
            raise UsageError("--range XMIN XMAX YMIN YMAX: each minimum must be below its maximum")
        from maml_gui.runtime.session_file import check_view_range

        check_view_range(args.range, "--range")  # SessionError: exit 2
    if args.grid is not None:
        from maml_gui.core.landscape import MAX_GRID, MIN_GRID

        if not MIN_GRID <= args.grid <= MAX_GRID:
            raise UsageError(f"--grid {args.grid} is out of range: use {MIN_GRID} … {MAX_GRID}")
    return fmt, size


@dataclass
class _View:
    """What to draw: from the command line, else the preset's, session's or export's view."""

    surface: str | None = None
    range: tuple[float, float, float, float] | None = None
    log_scale: bool = False
    plane: str | None = None
    order: str = "auto"
    fps: float | None = None
    #: the source's landscape state: what is drawn and the random plane's seed
    state: LandscapeState | None = None


def _load_config(args: argparse.Namespace):
    """The config and the view it came with (a preset's, a session file's, or the one embedded
    in an exported figure: ``--config`` takes any maml-gui export)."""
    from maml_gui.view import WindowState

    config = load_config_from_args(args)
    view = WindowState()
    source = None  # the config before --set/--steps: the view's range belongs to its tasks
    if args.preset:
        from maml_gui.presets import load_preset

        preset = load_preset(args.preset)
        view, source = preset.view, preset.config
    elif args.config:
        from maml_gui.config_source import load_config_source

        loaded = load_config_source(args.config)
        view, source = loaded.view, loaded.config
    return config, view, source


def _choose_view(args: argparse.Namespace, config, window_view, source) -> _View:
    """Command-line options first, then the source's view where it still fits the config."""
    from maml_gui.core.landscape import LandscapeError, LandscapeEvaluator, landscape_tasks

    evaluator = LandscapeEvaluator(config, landscape_tasks(config))
    view, playback = window_view.landscape, window_view.playback
    chosen = _View(state=view)
    if args.surface is not None:
        evaluator.check(args.surface)  # LandscapeError → exit 2
        chosen.surface = args.surface
    elif view.surface:
        try:
            evaluator.check(view.surface)
            chosen.surface = view.surface
        except LandscapeError:
            pass  # e.g. --set changed the tasks: the canvas's default surface
    if args.range is not None:
        chosen.range = tuple(args.range)
    elif view.range and source is not None and source.task == config.task:
        chosen.range = tuple(view.range)
    from maml_gui.core.tasks import make_family

    chosen.log_scale = args.log if args.log is not None else view.log_scale_for(
        make_family(config).param_dim)
    chosen.plane = args.plane or view.plane
    chosen.order = args.order or playback.order
    speed = playback.speed
    if args.fps is not None:
        chosen.fps = args.fps
    elif isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0:
        from maml_gui.export.animation import MAX_FPS

        chosen.fps = float(min(speed, MAX_FPS))
    return chosen


# --- the command ----------------------------------------------------------------------------

def command_export(args: argparse.Namespace) -> int:
    """``maml-gui export``: run headless, then write the figure, animation or data file."""
    import torch

    from maml_gui.output_paths import check_output
    from maml_gui.signals import interrupt_on_signals

    fmt, size = _check_arguments(args)
    # an unwritable folder or an input as output fails before the run, not after
    check_output(args.out, [("--config", args.config)], force=args.force)
    torch.set_num_threads(1)
    with interrupt_on_signals():
        return _export(args, fmt, size)


def _export(args: argparse.Namespace, fmt: str, size: tuple[int, int]) -> int:
    from maml_gui.core.io import OutputPathError

    config, view, source = _load_config(args)
    _check_budget(args, config, fmt)
    data_kind = (args.data or "trajectory") if fmt in DATA_FORMATS else None
    chosen = _choose_view(args, config, view, source) if data_kind != "trajectory" else _View()
    if args.step is not None and not 1 <= args.step <= config.steps:
        raise UsageError(f"--step {args.step} is out of range: 1 … {config.steps} (--steps)")
    if args.step_range is not None:
        first, last = args.step_range
        if not 1 <= first <= last <= config.steps:
            raise UsageError(f"--step-range {first} {last}: need 1 ≤ FIRST ≤ LAST ≤ "
                             f"{config.steps} (--steps)")

    if args.view == "comparison" and fmt in IMAGE_FORMATS:
        return _export_comparison(args, config, view, size)
    if args.view == "function" and fmt in IMAGE_FORMATS:
        from maml_gui.core.landscape import landscape_tasks
        from maml_gui.core.tasks import make_family

        if not make_family(config).has_data:
            raise UsageError(f"--view function: the {config.family} family has no data "
                             "(the function view shows softplus and sinusoid tasks)")
        tasks = landscape_tasks(config).n
        if not 0 <= args.task < tasks:
            raise UsageError(f"--task {args.task} is out of range: 0 … {tasks - 1}")
    if data_kind == "trajectory" and fmt in ("json", "npz"):
        return _stream_trajectory(args, config)
    records = _train(config, quiet=args.quiet, shown=_shown_steps(args, data_kind))
    diverged = bool(records) and records[-1].diverged
    if diverged:
        print(f"maml-gui: the run diverged at meta-step {records[-1].step + 1}: "
              f"{records[-1].reason}; exporting what there is", file=sys.stderr)
    step_index = None if args.step is None else min(args.step, len(records)) - 1
    try:
        if data_kind == "trajectory":
            _write_trajectory(args.out, config, records)
        else:
            _ensure_qt()
            if fmt in IMAGE_FORMATS and args.view == "trace":
                from maml_gui.export.figure import snapshot_at
                from maml_gui.export.views import export_trace_image

                export_trace_image(args.out, config, snapshot_at(config, records, step_index),
                                   size=size, scale=args.scale, transparent=args.transparent)
            elif fmt in IMAGE_FORMATS and args.view == "function":
                from maml_gui.export.figure import snapshot_at
                from maml_gui.export.views import export_function_image

                export_function_image(args.out, config, snapshot_at(config, records, step_index),
                                      size=size, scale=args.scale, transparent=args.transparent,
                                      task=args.task)
            elif fmt in IMAGE_FORMATS:
                _write_image(args, config, records, step_index, size, chosen)
            elif fmt in ANIMATION_FORMATS:
                if not _write_animation(args, config, records, size, chosen):
                    print("maml-gui: export cancelled", file=sys.stderr)
                    return EXIT_FAILED
            else:
                _write_grid(args, config, records, step_index, size, chosen)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OutputPathError:
        raise
    except OSError as exc:  # a full disk, ffmpeg failing: nothing is left behind
        raise OutputPathError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    if not args.quiet:
        print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_FAILED if diverged else EXIT_OK


def _export_comparison(args: argparse.Namespace, config, view, size) -> int:
    """Train the variants in lockstep headless and draw the comparison."""
    from maml_gui.core.comparison import build_variants, parse_overrides
    from maml_gui.export.views import export_comparison_image
    from maml_gui.runtime.offline import run_comparison_offline

    if args.variant:
        specs = []
        for text in args.variant:
            algorithm, _, settings = text.strip().partition(" ")
            specs.append((algorithm, parse_overrides(settings)))
    elif view.comparison.variants:
        specs = [(algorithm, parse_overrides(settings))
                 for algorithm, settings in view.comparison.variants]
    else:
        specs = [(name, {}) for name in ("maml", "fomaml", "reptile", "imaml")]
    from maml_gui.core.config import ALGORITHMS

    for algorithm, _settings in specs:
        if algorithm not in ALGORITHMS:
            raise UsageError(f"--variant {algorithm!r}: unknown algorithm")
    variants = build_variants(config, specs)  # ConfigError: exit 2
    if not args.quiet:
        print(f"training {len(variants)} variants for {config.steps} meta-steps…", file=sys.stderr)
    snapshot = run_comparison_offline(variants, config.steps)
    _ensure_qt()
    try:
        export_comparison_image(args.out, config, snapshot, size=size, scale=args.scale,
                                transparent=args.transparent,
                                layout=args.layout.replace("-", " "))
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        from maml_gui.core.io import OutputPathError

        raise OutputPathError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    if not args.quiet:
        print(f"wrote {args.out}", file=sys.stderr)
    diverged = [v.label for v, h in zip(variants, snapshot.histories) if h.latest and h.latest.diverged]
    if diverged:
        print(f"maml-gui: diverged: {', '.join(diverged)}", file=sys.stderr)
    return EXIT_FAILED if diverged else EXIT_OK


def _stream_trajectory(args: argparse.Namespace, config) -> int:
    """A JSON or NPZ trajectory goes from training straight to the trace writer, which keeps
    the paths ``record_paths`` asks for; nothing is kept here (a JSON trace holds one step in
    memory at a time)."""
    from maml_gui.core.config import config_json
    from maml_gui.core.io import OutputPathError
    from maml_gui.core.tasks import make_family
    from maml_gui.core.trace import TraceWriter
    from maml_gui.core.training import train

    family = make_family(config)
    meta = {"param_dim": family.param_dim, "axis_names": list(family.axis_names or ()),
            "blocks": family.blocks()}
    progress = Progress(config.steps, enabled=not args.quiet)
    last = None
    try:
        with TraceWriter(args.out, config_json(config), paths=config.record_paths,
                         meta=meta) as writer:
            for last in train(config, config.steps):
                writer.append(last)
                progress.update(last.step + 1, "training")
            if last is None:
                raise ExportError("there are no meta-steps to export yet")
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # a full disk: nothing is left behind
        if isinstance(exc, OutputPathError):
            raise
        raise OutputPathError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    progress.finish()
    if last.diverged:
        print(f"maml-gui: the run diverged at meta-step {last.step + 1}: {last.reason}; "
              "exported what there is", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_FAILED if last.diverged else EXIT_OK


def _check_budget(args: argparse.Namespace, config, fmt: str) -> None:
    """Refuse before training what would not fit in memory: the run, the records kept for
    drawing, the landscape grid and the trace text."""
    from maml_gui.core.budget import (
        check_budget, landscape_term, records_term, trace_term, training_terms,
    )
    from maml_gui.core.tasks import make_family

    terms = training_terms(config) + [records_term(config, config.steps)]
    if fmt in ("json", "npz", "csv") and (args.data or "trajectory") == "trajectory":
        terms.append(trace_term(config, fmt, config.steps))
    elif args.grid is not None:
        terms.append(landscape_term(config, args.grid,
                                    plane=make_family(config.task).param_dim != 2))
    check_budget(terms)


def _shown_steps(args: argparse.Namespace, data_kind: str | None) -> range:
    """The meta-steps (from 0) whose inner paths the output draws in full; the last step
    is always kept in full too (see :func:`_train`)."""
    if data_kind == "trajectory":
        return range(0)  # the data file stores what record_paths asks for
    if args.step_range is not None:
        return range(args.step_range[0] - 1, args.step_range[1])
    if args.step is not None:
        return range(args.step - 1, args.step)
    return range(0)


def _train(config, *, quiet: bool, shown: range = range(0)):
    """The run's records, each keeping the inner paths ``record_paths`` asks for, except the
    ``shown`` steps and the latest one, which the figure or animation draws in full."""
    from maml_gui.core.training import train

    progress = Progress(config.steps, enabled=not quiet)
    records = []
    for done, record in enumerate(train(config, config.steps), start=1):
        if records and records[-1].step not in shown:
            records[-1] = records[-1].with_paths(config.record_paths)
        records.append(record)
        progress.update(done, "training")
    if records:
        progress.update(len(records), "training", force=True)
    progress.finish()
    return records


def _ensure_qt():
    """A QApplication on the offscreen platform unless one is configured (no display needed)."""
    if "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import qInstallMessageHandler

    from maml_gui.app import make_application

    app = make_application()
    if not _quiet_handler["installed"]:
        _quiet_handler["installed"] = True
        previous = qInstallMessageHandler(None)

        def handler(mode, context, message):
            if "propagateSizeHints" in message:  # the offscreen platform's noise on show()
                return
            if previous is not None:
                previous(mode, context, message)
            else:
                sys.stderr.write(message + "\n")

        qInstallMessageHandler(handler)
    return app


_quiet_handler = {"installed": False}


def _write_trajectory(out: str, config, records) -> None:
    from maml_gui.core.tasks import make_family
    from maml_gui.export.data import write_trajectory

    family = make_family(config)
    records = [record.with_paths(config.record_paths) for record in records]
    write_trajectory(out, config, records, meta={"param_dim": family.param_dim,
                                                  "axis_names": list(family.axis_names or ()),
                                                  "blocks": family.blocks()})


def _write_image(args, config, records, step_index, size, view: _View) -> None:
    from maml_gui.export.figure import export_landscape_image

    export_landscape_image(args.out, config, records=records, step=step_index, size=size,
                           scale=args.scale, transparent=args.transparent, surface=view.surface,
                           log_scale=view.log_scale, view_range=view.range, plane=view.plane,
                           resolution=args.grid, caption=not args.no_caption, state=view.state)


def _write_grid(args, config, records, step_index, size, view: _View) -> None:
    from maml_gui.export.data import write_grid
    from maml_gui.export.figure import GRID_DATA, LandscapeFigure, snapshot_at

    with LandscapeFigure(config, size=size, surface=view.surface, view_range=view.range,
                         plane=view.plane, resolution=args.grid, caption=False,
                         grid_2d=GRID_DATA, state=view.state) as figure:
        figure.show(snapshot_at(config, records, step_index))
        write_grid(args.out, config, figure.shown_surface, plane=figure.plane)


def _write_animation(args, config, records, size, view: _View) -> bool:
    from maml_gui.export.animation import DEFAULT_FPS, export_animation, frame_plan

    start, end = (0, len(records)) if args.step_range is None else (
        args.step_range[0] - 1, min(args.step_range[1], len(records)))
    total = len(frame_plan(records, start, end, view.order))
    printer = _FramePrinter(total, enabled=not args.quiet)
    ok = export_animation(args.out, config, records, start=start, end=end, size=size,
                          scale=args.scale, fps=view.fps or DEFAULT_FPS, order=view.order,
                          surface=view.surface, log_scale=view.log_scale, view_range=view.range,
                          plane=view.plane, resolution=args.grid, progress=printer,
                          state=view.state)
    printer.finish()
    return ok


class _FramePrinter:
    """``frame 12/420`` on stderr: in place on a terminal, every few seconds otherwise."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> bool:
        if self.enabled:
            now = time.perf_counter()
            if done == total or now - self.last >= (0.1 if self.tty else 5.0):
                self.last = now
                rate = done / max(now - self.started, 1e-9)
                line = f"frame {done}/{total}  {rate:,.1f} frames/s"
                sys.stderr.write(("\r" + line.ljust(60)) if self.tty else line + "\n")
                sys.stderr.flush()
        return True

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


__all__ = ["add_parser", "command_export"]
