"""The ``s3fast`` command line: ``s3fast <command> ...``, the conventions of ``aws s3`` and s5cmd.

Every subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser (with :func:`._options.add_common_options` and, if it moves data,
:func:`._options.add_transfer_options`) and sets ``handler=<function(args) -> int>``. A
handler that needs the event loop returns ``run_async(lambda: coroutine)``; see
:mod:`._runner` for the exit statuses, the stop signals (SIGINT, SIGTERM, SIGHUP) and
the last-resort handler, which wrap every subcommand alike. Add a subcommand by adding
its module to :data:`COMMANDS`.
"""
from __future__ import annotations

import argparse
import sys
from types import ModuleType

from .. import _impl
from .._version import __version__
from . import _cat, _cp, _ls, _mv, _resume, _rm, _sync
from ._fds import guard_standard
from ._runner import EXIT_USAGE, debug_enabled, run_command

#: The subcommand modules, in the order ``--help`` lists them.
COMMANDS: list[ModuleType] = [_cp, _sync, _mv, _rm, _ls, _cat, _resume]


class Parser(argparse.ArgumentParser):
    """argparse with s3fast's error line: one line (the usage of cp alone is a screenful;
    the line says where to find it), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from .._errors import printable

        sys.stderr.write(f"s3fast: error: {printable(message, 2048)} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="s3fast", description="High-throughput S3 transfers.")
    parser.add_argument("--version", action="version",
                        version=f"s3fast {__version__} ({_impl.MODE} core)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    guard_standard()  # before anything opens a file or socket
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        sys.stderr.write("s3fast: interrupted\n")
        return 130
    except Exception as exc:  # argparse's own failures (an unreadable @file...), not user input
        if debug_enabled():
            raise
        sys.stderr.write(f"s3fast: error: {type(exc).__name__}: {exc}\n")
        return 1
    return run_command(args.handler, args)
