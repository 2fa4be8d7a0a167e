"""The ``maml-gui`` command: the window by default, plus headless subcommands.

Exit codes: 0 success, 1 the run diverged or failed while running, 2 bad input (config,
arguments, output path). Bad input always ends in one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="maml-gui", description=(
        "Watch optimization-based meta-learning work. Without a subcommand, opens the window."))
    _add_config_arguments(parser)
    parser.add_argument("--session", metavar="FILE.json", help="open a saved session")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="run --steps meta-steps, save a screenshot of the window and exit")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    from maml_gui.commands import SUBCOMMANDS

    for module in SUBCOMMANDS:
        module.add_parser(sub, _add_config_arguments)
    return parser


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

    def __init__(self, total: int, enabled: bool = True):
        self.total = max(total, 1)
        self.enabled = enabled
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
        rate = done / max(now - self.started, 1e-9)
        line = f"{done}/{self.total} steps  {rate:,.1f} steps/s  {text}"
        sys.stderr.write(("\r" + line.ljust(79)) if self.tty else line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    from maml_gui.core.config import ConfigError
    from maml_gui.core.device import DeviceError
    from maml_gui.core.io import OutputPathError
    from maml_gui.core.landscape import LandscapeError
    from maml_gui.core.trace import TraceFormatError
    from maml_gui.runtime.session_file import SessionError

    try:
        args = build_parser().parse_args(argv)
        if args.command is not None:
            return args.handler(args)
        if args.list_presets:
            from maml_gui.presets import load_preset, preset_names

            for name in preset_names():
                print(f"{name:<24} {load_preset(name).title}")
            return EXIT_OK
        if args.version:
            from importlib.metadata import version

            print(f"maml-gui {version('maml-gui')}")
            return EXIT_OK
        from maml_gui.app import NoDisplayError, run_app

        try:
            return run_app(args)
        except NoDisplayError as exc:
            print(f"maml-gui: {exc}", file=sys.stderr)
    except UsageError as exc:
        message = str(exc)
        print(message if message.startswith("maml-gui") else f"maml-gui: {message}", file=sys.stderr)
    except (ConfigError, DeviceError, LandscapeError, TraceFormatError, SessionError) as exc:
        print(f"maml-gui: {' '.join(str(exc).split(chr(10)))}", file=sys.stderr)  # one line
    except (OutputPathError, PermissionError, IsADirectoryError, FileNotFoundError) as exc:
        print(f"maml-gui: {exc}", file=sys.stderr)
    except OSError as exc:  # e.g. the disk filled up while writing
        print(f"maml-gui: cannot write output: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt as exc:
        from maml_gui.stopping import EXIT_TERMINATED, Terminated

        terminated = isinstance(exc, Terminated)
        print(f"maml-gui: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
