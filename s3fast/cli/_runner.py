"""How every subcommand runs: signals, exit statuses, and what reaches stderr.

Exit statuses (the same for every subcommand)::

    0    success
    1    the operation failed (S3 or network error, checksum mismatch, local write
         failure, anything unexpected)
    2    usage error or bad input (bad option value, bad URL, missing file, no credentials)
    129  SIGHUP, 130 SIGINT (Ctrl-C), 143 SIGTERM: the work in progress was cancelled
         first (a multipart upload aborted, a partial download removed; with
         ``--resumable`` the upload and its journal are kept and a line says how to resume)

A signal cancels the running command's task, so its cleanup runs as for any other
cancellation; the process then ends at once, without waiting for threads that may be
blocked in a read (stdin). A second signal cuts the cleanup short.

Whatever fails, stderr gets one line and never a traceback, unless ``S3FAST_DEBUG=1`` or
``--debug`` asks for one. Every message passes through :func:`s3fast._errors.printable`:
error text can quote what a server sent.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

from .._errors import ConfigError, CredentialsError, S3FastError, printable

if TYPE_CHECKING:
    import asyncio

#: Signals handled like Ctrl-C: `timeout`, systemd and Kubernetes stop with SIGTERM; a
#: closed terminal or ssh session sends SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _handled_signals() -> tuple[signal.Signals, ...]:
    # A signal the parent set to be ignored stays ignored: `nohup` ignores SIGHUP, a shell
    # starts background jobs with SIGINT ignored.
    return tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Interrupted(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt: nothing may swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def debug_enabled(args: Any = None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("S3FAST_DEBUG", "") not in ("", "0")


def error(message: str, code: int) -> int:
    """Print ``s3fast: error: <message>`` (made safe to show) and return ``code``."""
    _write_stderr(f"s3fast: error: {printable(message, 2048)}\n")
    return code


def warn(message: str) -> None:
    _write_stderr(f"s3fast: warning: {printable(message, 2048)}\n")


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: nowhere left to say it


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one line for an exception that ended a command."""
    if isinstance(exc, (ConfigError, CredentialsError)):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, S3FastError):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, BrokenPipeError):
        return EXIT_FAILED, "output closed before the end (broken pipe)"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return EXIT_FAILED, f"{exc.strerror or exc}{where}"
    return EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc}"


def _raise_interrupted(signum: int, frame: object) -> NoReturn:
    raise Interrupted(signum)


def install_sync_handlers(handled: tuple[signal.Signals, ...]) -> None:
    """Outside the event loop (argument checks, a command that runs worker processes), a
    stop signal unwinds like Ctrl-C does."""
    for sig in handled:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else _raise_interrupted)


def _new_runner() -> asyncio.Runner:
    import asyncio  # here, not at the top: --help and --version run no loop

    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run_async(make: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a command's coroutine on uvloop (when installed) with the stop signals handled.

    On a stop signal the coroutine's task is cancelled (its cleanup runs), then
    :class:`Interrupted` is raised *without* closing the loop: closing waits for the
    default executor's threads, and a thread blocked reading an idle stdin would hold the
    process for as long as the producer stays silent. :func:`main` ends the process then.
    """
    import asyncio

    from .. import tune_process

    tune_process()
    handled = _handled_signals()
    signals: list[int] = []

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if task.done():
                return
            signals.append(signum)
            # The first cancels (cleanup runs: an abort is shielded); a second one cuts
            # through the shield and ends the cleanup too.
            task.cancel()

        for sig in handled:
            loop.add_signal_handler(sig, on_signal, sig)
        return await make()

    runner = _new_runner()
    try:
        code = runner.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        if signals:
            raise Interrupted(signals[0]) from None
        raise KeyboardInterrupt from None
    except BaseException:
        if signals:
            # The cancellation surfaced as another error on its way out: the signal is the cause.
            raise Interrupted(signals[0]) from None
        runner.close()
        install_sync_handlers(handled)
        raise
    if signals and code != EXIT_OK:
        raise Interrupted(signals[0])
    runner.close()
    install_sync_handlers(handled)
    return code


def hard_exit(code: int) -> NoReturn:
    """End now: flush what was written, skip waiting for threads (see :func:`run_async`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def run_command(handler: Callable[[Any], int], args: Any) -> int:
    """Run one parsed command: stop signals become exit 128+N, any exception one line."""
    debug = debug_enabled(args)
    handled = _handled_signals()
    previous = {sig: signal.getsignal(sig) for sig in handled}
    try:
        install_sync_handlers(handled)
        return handler(args)
    except Interrupted as exc:
        _write_stderr(f"s3fast: interrupted by {signal_name(exc.signum)}\n")
        hard_exit(exc.exit_code)
    except KeyboardInterrupt:
        _write_stderr("s3fast: interrupted\n")
        hard_exit(128 + signal.SIGINT)
    except Exception as exc:  # the last resort: one line, never a traceback unless asked
        if debug:
            traceback.print_exc()
        code, message = exit_code_for(exc)
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
        hint = "" if debug or code == EXIT_USAGE or isinstance(exc, (S3FastError, OSError)) else \
            " (S3FAST_DEBUG=1 or --debug shows the traceback)"
        return error(message + hint, code)
    finally:
        # A caller that runs a command in its own process (a test, an embedding program)
        # gets its own signal handlers back.
        for sig, before in previous.items():
            signal.signal(sig, before)


def _silence_stdout() -> None:
    # Python flushes stdout once more at exit; into a closed pipe that prints a second error.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Interrupted",
    "STOP_SIGNALS",
    "debug_enabled",
    "error",
    "exit_code_for",
    "run_async",
    "run_command",
    "warn",
]
