"""The ``s3fast`` command line: ``s3fast <command> ...``, the conventions of ``aws s3`` and s5cmd.

Every subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser (with :func:`._options.add_common_options` and, if it moves data,
:func:`._options.add_transfer_options`) and sets ``handler=<function(args) -> int>``. A
handler that needs the event loop returns ``run_async(lambda: coroutine)``; see
:mod:`._runner` for the exit statuses, the stop signals (SIGINT, SIGTERM, SIGHUP) and
the last-resort handler, which wrap every subcommand alike. Add a subcommand by adding
its module and one-line help to :data:`COMMANDS`.

Only the module of the command being run is imported: ``s3fast cp ...`` does not load
``ls``, ``mpu`` or ``resume``, and ``s3fast --help`` / ``--version`` load no command module
(the other commands are listed by name and help line only). A command module imports
what only a transfer needs (asyncio, the client, the tree engine) inside its handler, so
``s3fast cp --help`` and a usage error load none of it either
(``tests/e2e/test_startup_imports.py``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ._fds import guard_standard
from ._runner import EXIT_USAGE, debug_enabled, run_command

#: The subcommands, in the order ``--help`` lists them: (module, the line ``--help`` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "cp": ("._cp", "copy files or objects to, from or inside S3"),
    "sync": ("._sync", "make DST hold what SRC holds"),
    "mv": ("._mv", "copy, then delete each source object that was copied"),
    "rm": ("._rm", "delete objects (1,000 per request)"),
    "ls": ("._ls", "list buckets, or the prefixes and objects under a prefix"),
    "cat": ("._cat", "write an object to stdout"),
    "mpu": ("._mpu", "list or abort incomplete multipart uploads"),
    "resume": ("._resume", "list or clean the journals of interrupted resumable transfers"),
}


class Parser(argparse.ArgumentParser):
    """argparse with s3fast's error line: one line (the usage of cp alone is a screenful;
    the line says where to find it), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from .._errors import printable

        sys.stderr.write(f"s3fast: error: {printable(message, 2048)} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


class _Version(argparse.Action):
    """``--version``: which core is in use is known only once the core is imported, which
    happens here, when the version is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show program's version number and exit") -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from .. import _impl

        sys.stdout.write(f"s3fast {__version__} ({_impl.MODE} core)\n")  # stdout, as argparse's version action
        parser.exit()


class _Subparsers:
    """What a command module's ``register`` gets: argparse's subparsers, with the command's
    help line from :data:`COMMANDS` added to its ``add_parser``."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._sub.add_parser(name, help=COMMANDS[name][1], **kwargs)
        return parser


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: the command it names (its first word that is not an option:
    the top level has options only before the command) gets its full parser; the others, a
    stand-in with their name and help line. Without ``argv``, every command's full parser."""
    named = next((a for a in argv if not a.startswith("-")), None) if argv else None
    parser = Parser(prog="s3fast", description="High-throughput S3 transfers.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (module, help_line) in COMMANDS.items():
        if argv is None or name == named:
            importlib.import_module(module, __package__).register(_Subparsers(sub))
        else:
            sub.add_parser(name, help=help_line, add_help=False)  # never parses: argv names another command
    return parser


def main(argv: list[str] | None = None) -> int:
    guard_standard()  # before anything opens a file or socket
    if argv is None:
        argv = sys.argv[1:]
    try:
        args = build_parser(argv).parse_args(argv)
    except KeyboardInterrupt:
        sys.stderr.write("s3fast: interrupted\n")
        return 130
    except Exception as exc:  # argparse's own failures (an unreadable @file...), not user input
        if debug_enabled():
            raise
        sys.stderr.write(f"s3fast: error: {type(exc).__name__}: {exc}\n")
        return 1
    return run_command(args.handler, args)
