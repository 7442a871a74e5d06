"""The suite's own harness: started with SIGINT/SIGHUP ignored (``&``, ``nohup``), it still
ignores them itself but starts its CLIs with the default disposition (support/signals.py)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent

# Runs with SIGINT and SIGHUP ignored by the shell that exec'd it, as a background job is.
# Reports which of them it replaced, that it survives them itself, and which ones a child
# it starts finds ignored (the SigIgn mask of /proc/PID/status).
_PROBE = """
import json, os, signal, subprocess, sys
sys.path.insert(0, sys.argv[1])
from support.signals import uninherit_ignored_signals
replaced = [s.name for s in uninherit_ignored_signals()] if sys.argv[2] == "fix" else []
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGHUP)
child = subprocess.run([sys.executable, "-c",
    "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('SigIgn:')][0])"],
    capture_output=True, text=True, timeout=60, check=True)
mask = int(child.stdout, 16)
print(json.dumps({"replaced": replaced,
                  "child_ignores": [s.name for s in (signal.SIGINT, signal.SIGHUP) if mask >> (s - 1) & 1]}))
"""


def _probe(mode: str) -> dict[str, list[str]]:
    out = subprocess.run(["sh", "-c", 'trap "" INT HUP; exec "$@"', "sh", sys.executable, "-c", _PROBE,
                          str(TESTS), mode], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def test_ignored_interrupts_are_not_passed_on_to_the_processes_tests_start() -> None:
    # The set-up is real: without the fix, children inherit both signals ignored.
    assert _probe("none") == {"replaced": [], "child_ignores": ["SIGINT", "SIGHUP"]}
    # With it, the harness still survives both (it got past its own kill) and its
    # children start with the default disposition.
    assert _probe("fix") == {"replaced": ["SIGINT", "SIGHUP"], "child_ignores": []}


def test_a_normal_start_is_left_alone() -> None:
    from support.signals import uninherit_ignored_signals

    # Started normally (or already fixed by conftest): nothing is ignored, nothing changes.
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGHUP)}
    assert uninherit_ignored_signals() == []
    assert {s: signal.getsignal(s) for s in before} == before
