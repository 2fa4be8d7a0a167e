"""What the command line's entry points share: exit codes, the usage error, the parser, the
config arguments and their loading, and the progress line.

Imported by ``cli`` (the ``maml-gui`` command), ``app`` (the window) and ``commands`` (the
subcommands); it imports none of them, so they need not import each other.
"""

from __future__ import annotations

import argparse
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE.json",
                        help="config file (a trace, export or session file works too)")
    source.add_argument("--preset", metavar="NAME", help="a built-in preset (see --list-presets)")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a setting, e.g. --set inner_lr=0.05 --set task.n_tasks=4")
    parser.add_argument("--steps", type=int, metavar="N", help="meta-steps (overrides the config)")
    parser.add_argument("--force", action="store_true",
                        help="replace an output file even if it is read-only (it stays read-only)")


def load_config_from_args(args: argparse.Namespace):
    """The config named by --config/--preset (or the defaults), with --set and --steps applied."""
    from maml_gui.config_source import load_config_source
    from maml_gui.core.config import make_config, parse_assignment

    if getattr(args, "config", None):
        config = load_config_source(args.config).config  # any config, session, trace or export
    elif getattr(args, "preset", None):
        from maml_gui.presets import load_preset

        config = load_preset(args.preset).config
    else:
        config = make_config({})
    changes = dict(parse_assignment(text) for text in args.assignments)
    if args.steps is not None:
        changes["steps"] = args.steps
    return config.with_changes(changes) if changes else config


class Progress:
    """A progress line on stderr, redrawn in place on a terminal, every few seconds otherwise."""

    def __init__(self, total: int, enabled: bool = True, start: int = 0):
        self.total = max(total, 1)
        self.enabled = enabled
        self.start = start  # steps done before this process (a resumed run)
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, text: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < (0.1 if self.tty else 5.0):
            return
        self.last = now
        rate = (done - self.start) / max(now - self.started, 1e-9)
        eta = ""
        if rate > 0 and done < self.total:
            eta = f"ETA {_duration((self.total - done) / rate)}  "
        line = f"{done}/{self.total} steps  {rate:,.1f} steps/s  {eta}{text}"
        sys.stderr.write(("\r" + line.ljust(79)) if self.tty else line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
