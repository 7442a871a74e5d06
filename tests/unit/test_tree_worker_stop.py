"""A tree worker's stop handling (``tree._workers._stoppable``): from the first stop signal
until its work has ended, aborts included, the stop signals keep a handler.

On a terminal's Ctrl-C the worker gets SIGINT and, milliseconds later, the parent's
SIGTERM. Removing a loop's signal handler resets the signal to its default disposition
(for SIGTERM: end the process) before anything can set it to ignored, so a handler removed
at the first signal left a gap in which that SIGTERM killed the worker mid-abort, its
multipart upload left open. The gap is too short to hit on purpose; what is checked here
is that no handler is removed before the work has ended, on a real event loop that
records the removals, with the signals really delivered.
"""
from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import asyncio, json, os, signal
from s3fast.tree._workers import _STOP, _stoppable

phase = ["work"]
removed = []

class Loop(asyncio.SelectorEventLoop):
    def remove_signal_handler(self, sig):
        removed.append([signal.Signals(sig).name, phase[0]])
        return super().remove_signal_handler(sig)

async def work():
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        phase[0] = "cleanup"
        os.kill(os.getpid(), signal.SIGTERM)  # the parent's stop, mid-abort
        for _ in range(50):  # the abort's requests: the loop runs, SIGTERM is handled
            await asyncio.sleep(0)
        phase[0] = "over"
        raise

with asyncio.Runner(loop_factory=Loop) as runner:
    runner.run(_stoppable(work(), _STOP))
dispositions = {s.name: signal.getsignal(s) is signal.SIG_IGN for s in _STOP}
print(json.dumps({"removed": removed, "phase": phase[0], "ignored_after": dispositions}))
"""


def test_stop_handlers_stay_until_the_work_has_ended() -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr  # the SIGTERM mid-cleanup did not end it
    out = json.loads(proc.stdout)
    assert out["phase"] == "over"  # the cleanup ran to its end
    assert out["removed"], out  # the handlers do go once the work is over...
    assert all(when == "over" for _, when in out["removed"]), out  # ...and not before
    assert all(out["ignored_after"].values()), out  # late signals cannot cut the flush
