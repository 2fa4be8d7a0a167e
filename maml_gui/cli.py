"""The ``maml-gui`` command: the window by default, plus headless subcommands.

Exit codes: 0 success, 1 the run diverged or failed while running, 2 bad input (config,
arguments, output path). Bad input always ends in one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Sequence

from maml_gui.cli_common import EXIT_OK, EXIT_USAGE, Parser, UsageError, add_config_arguments


def build_parser() -> Parser:
    parser = Parser(prog="maml-gui", description=(
        "Watch optimization-based meta-learning work. Without a subcommand, opens the window."))
    add_config_arguments(parser)
    parser.add_argument("--session", metavar="FILE.json", help="open a saved session")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="run --steps meta-steps, save a screenshot of the window and exit")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    from maml_gui.commands import SUBCOMMANDS

    for module in SUBCOMMANDS:
        module.add_parser(sub, add_config_arguments)
    return parser


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
            from maml_gui import __version__

            # not importlib.metadata: a checkout run without installing has no metadata
            print(f"maml-gui {__version__}")
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
        import signal

        from maml_gui.signals import exit_code

        signum = getattr(exc, "signum", signal.SIGINT)  # a plain Ctrl-C has none
        print(f"maml-gui: {'terminated' if signum == signal.SIGTERM else 'interrupted'}",
              file=sys.stderr)
        return exit_code(signum)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
