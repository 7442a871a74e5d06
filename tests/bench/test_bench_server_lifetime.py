"""A server the harness starts never outlives the harness: killed outright (SIGKILL, an
``os._exit``, pytest-timeout's thread method), the kernel takes the server down with it;
ended normally without stopping it, the atexit handler does. Each owner here is a real
Python process that starts nginx and then ends without calling ``stop()``."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.procs import Poller
from benchmarks.targets.nginx import NginxUnavailable, ensure_nginx

REPO = Path(__file__).resolve().parents[2]

# Starts nginx (from the main thread, or from a thread that then ends), reports the master's
# pid and whether it is still serving once the starting thread is gone, then waits for a
# line on stdin and ends as told: "exit" (normal exit, stop() never called) or never (the
# test SIGKILLs it).
_OWNER = """
import json, subprocess, sys, threading
from pathlib import Path
from benchmarks.procs import port_open
from benchmarks.targets.nginx import NginxTarget
root, how = Path(sys.argv[1]), sys.argv[2]
target = NginxTarget(root, https=False, bucket="b", tmp_parent=str(root))
survived = None
if how == "thread":
    t = threading.Thread(target=target.start)
    t.start()
    t.join()
    # Had the thread's end signalled it, nginx would be gone well within this window (the
    # kernel signals it as the thread exits); when all is right, the wait just runs out.
    try:
        target._proc.wait(2.0)
        survived = False
    except subprocess.TimeoutExpired:
        survived = True
else:
    target.start()
print(json.dumps({"pid": target._proc.pid, "serving": port_open(target.port), "survived": survived}),
      flush=True)
if sys.stdin.readline().strip() == "exit":
    sys.exit(0)
"""


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry))
    return members


def _owner(tmp_path: Path, how: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    try:
        ensure_nginx()
    except NginxUnavailable as exc:
        pytest.skip(f"nginx cannot be installed here: {exc}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _OWNER, str(tmp_path), how], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the owner did not start nginx: {proc.communicate(timeout=60)[1][-2000:]}")
    return proc, json.loads(line)


def _gone(pgid: int) -> bool:
    """Bounded wait for a process group we cannot wait on (not our child) to empty."""
    try:
        return Poller(deadline_s=30.0).wait(lambda: not _group(pgid))
    finally:
        for pid in _group(pgid):  # a failed test must not leave it running either
            os.kill(pid, signal.SIGKILL)


def test_nginx_dies_with_a_killed_harness(tmp_path: Path) -> None:
    owner, started = _owner(tmp_path, "main")
    master = started["pid"]
    assert started["serving"] and len(_group(master)) >= 2  # master and its workers
    owner.kill()
    owner.communicate(timeout=60)
    assert _gone(master), "nginx outlived the process that started it"


def test_nginx_started_from_a_thread_outlives_the_thread_not_the_process(tmp_path: Path) -> None:
    owner, started = _owner(tmp_path, "thread")
    master = started["pid"]
    # The starting thread ended: the server must not have been taken down with it.
    assert started["survived"] and started["serving"] and _group(master)
    _out, err = owner.communicate("exit\n", timeout=120)
    assert owner.returncode == 0, err
    # The owner exited without stop(): its atexit handler stopped the whole group.
    assert _gone(master), "nginx outlived the process that started it"
