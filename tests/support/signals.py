"""Keep an ignored SIGINT/SIGHUP from leaking into the processes the tests start.

A shell starts a background job (``scripts/test &``) with SIGINT ignored, ``nohup`` ignores
SIGHUP, and an ignored signal stays ignored across ``fork`` and ``execve``. The CLI under
test then starts with the signal ignored and, like any well-behaved program, leaves it so:
the tests that interrupt it (exit 130, 129) would see it run on. A *handled* signal, by
contrast, is reset to the default by ``execve``. So the test process swaps "ignored" for a
handler that does nothing: it still ignores the signal itself, and its children start with
the default disposition, as they do from an interactive shell.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

#: the signals the CLI tests send
SIGNALS = (signal.SIGINT, signal.SIGHUP)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Does nothing: the test process keeps ignoring the signal it was started ignoring."""


def uninherit_ignored_signals() -> list[signal.Signals]:
    """Replace SIG_IGN by a no-op handler for :data:`SIGNALS`; returns the ones replaced.

    Only the main thread may set handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    replaced = []
    for signum in SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, _ignore)
            replaced.append(signal.Signals(signum))
    return replaced
