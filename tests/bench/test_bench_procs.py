"""Child-process measurement: CPU from wait4, peak RSS from the child's own address space."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Callable

from benchmarks.procs import (Measured, Poller, TreeMemory, free_ports, idle_share, machine_jiffies, process_cpu_s,
                              read_vm_hwm_kib, run_measured)


def _held_until_sampled(tmp_path: Path, code: str, seen_when: Callable[[TreeMemory], bool]) -> Measured:
    """Run ``python -c code``; ``code`` allocates, then reads a line from the FIFO
    ``sys.argv[1]``, which we write only once a sample satisfied ``seen_when`` (bounded)."""
    tmp_path.mkdir(exist_ok=True)
    release = tmp_path / "release"
    os.mkfifo(release)
    seen = threading.Event()

    def on_sample(memory: TreeMemory) -> None:
        if seen_when(memory):
            seen.set()

    # Held open read-write: the child's open never blocks, and its read returns only once
    # a sample has seen what it allocated and we write the line.
    fd = os.open(release, os.O_RDWR)
    box: dict[str, Measured] = {}
    runner = threading.Thread(target=lambda: box.update(m=run_measured(
        [sys.executable, "-c", code, str(release)], timeout=120, on_sample=on_sample)))
    runner.start()
    try:
        found = seen.wait(60)
    finally:
        os.write(fd, b"go\n")
        runner.join(180)
        os.close(fd)
    m = box["m"]
    assert found and m.returncode == 0, m.stderr
    return m


def _own(kib: int) -> Callable[[TreeMemory], bool]:
    return lambda memory: memory.peaks.get(memory.root, 0) >= kib


def test_peak_rss_is_the_childs_own_not_the_parents(tmp_path: Path) -> None:
    ballast = bytearray(300 << 20)  # the harness being big must not show up in the child's peak
    ballast[:: 1 << 12] = b"x" * len(ballast[:: 1 << 12])
    # Held until sampled: a child gone before the first sample has no peak to report.
    small = _held_until_sampled(tmp_path / "small", "import sys; open(sys.argv[1]).readline()", _own(1))
    big = _held_until_sampled(
        tmp_path / "big", "import sys; b = bytearray(160 << 20); b[::4096] = b'y' * len(b[::4096]); "
        "open(sys.argv[1]).readline()", _own(160 * 1024))
    del ballast
    assert small.returncode == 0 and big.returncode == 0
    assert small.hwm_kib is not None and small.hwm_kib < 100 * 1024
    assert big.hwm_kib is not None and big.hwm_kib >= 160 * 1024 and big.processes == 1
    assert big.own_hwm_kib == big.hwm_kib
    assert big.cpu_s > 0 and big.user_s >= 0 and big.wall_s > 0
    own = read_vm_hwm_kib()
    assert own is not None and own > 300 * 1024


def test_output_exit_code_and_timeout_kill() -> None:
    out = run_measured([sys.executable, "-c", "import sys; print('hi'); print('err', file=sys.stderr); sys.exit(3)"],
                       timeout=60)
    assert (out.returncode, out.stdout.strip(), out.stderr.strip(), out.timed_out) == (3, "hi", "err", False)
    hung = run_measured([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert hung.timed_out and hung.returncode == -9 and hung.wall_s < 30
    assert "timed_out=True" in repr(hung)


def test_poller_is_bounded_with_an_injected_clock() -> None:
    now = [0.0]
    naps: list[float] = []

    def nap(s: float) -> None:
        naps.append(s)
        now[0] += s

    p = Poller(deadline_s=1.0, interval_s=0.1, max_interval_s=0.4, clock=lambda: now[0], sleep=nap)
    assert p.wait(lambda: False) is False
    assert naps[:3] == [0.1, 0.2, 0.4] and now[0] >= 1.0 and p.attempts == len(naps) + 1
    calls = iter([False, False, True])
    assert Poller(clock=lambda: 0.0, sleep=lambda s: None).wait(lambda: next(calls)) is True
    assert Poller(clock=lambda: 0.0, sleep=lambda s: None).wait(lambda: False, alive=lambda: False) is False


def test_free_ports_are_distinct() -> None:
    ports = free_ports(10)
    assert len(set(ports)) == 10 and all(1024 < p < 65536 for p in ports)


def test_peak_rss_counts_the_processes_the_child_starts(tmp_path: Path) -> None:
    """A command whose memory is in a process it starts (workers, a launcher's real
    program): its peak is that process's too, not only the launcher's."""
    grandchild = ("import sys; b = bytearray(120 << 20); b[::4096] = b'z' * len(b[::4096]); "
                  "open(sys.argv[1]).readline()")
    launcher = ("import subprocess, sys; "
                f"sys.exit(subprocess.run([sys.executable, '-c', {grandchild!r}, sys.argv[1]]).returncode)")
    m = _held_until_sampled(tmp_path, launcher, lambda memory: any(
        pid != memory.root and kib >= 120 * 1024 for pid, kib in memory.peaks.items()))
    assert m.processes == 2 and m.own_hwm_kib is not None and m.own_hwm_kib < 100 * 1024
    assert m.hwm_kib is not None and m.hwm_kib >= m.own_hwm_kib + 120 * 1024


def test_idle_share_is_the_idle_part_of_the_ticks_between_two_readings() -> None:
    assert idle_share((100, 1000), (150, 1100)) == 0.5
    assert idle_share((100, 1000), (200, 1100)) == 0.0
    assert idle_share((5, 10), (5, 10)) == 0.0  # no tick between them: nothing to say
    busy, total = machine_jiffies()
    assert 0 <= busy <= total


def test_process_cpu_counts_what_a_running_child_spends() -> None:
    import subprocess

    # A fixed amount of work, then the child waits for its stdin to close: it is still
    # running when its CPU is read.
    child = subprocess.Popen([sys.executable, "-c", "sum(range(30_000_000)); print(1, flush=True); "
                              "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"1\n"
        assert process_cpu_s(child.pid) > 0.1
        assert process_cpu_s(os.getpid()) >= 0
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)


def test_tree_ceiling_is_the_servers_cpu_spread_over_every_cpu() -> None:
    from benchmarks.trees import Tree, ceiling_row

    # 4 s of server CPU over the 2 CPUs it can use: 2 s each, 500 objects/s at best, 2x the
    # reference's 250; a one-threaded server with the same CPU: 250, 1x
    assert ceiling_row(Tree(1000, 65536), "upload", 4.0, 250.0, 2) == "| 1000x64KiB | upload | 4.00 | 500 | 2.00x |"
    assert ceiling_row(Tree(1000, 65536), "upload", 4.0, 250.0, 1) == "| 1000x64KiB | upload | 4.00 | 250 | 1.00x |"
    assert ceiling_row(Tree(10, 65536), "sync", 0.0, 100.0, 2).endswith("| - | - |")


def test_precompile_writes_fresh_bytecode(tmp_path: Path) -> None:
    """Timed runs inherit PYTHONDONTWRITEBYTECODE: the harness writes the caches first, and
    rewrites one whose source changed since."""
    import importlib.util
    import os

    from benchmarks.procs import precompile

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    mod = pkg / "m.py"
    mod.write_text("X = 1\n")
    precompile(pkg)
    cached = Path(importlib.util.cache_from_source(str(mod)))
    assert cached.exists()
    first = cached.read_bytes()
    mod.write_text("X = 2  # changed\n")
    os.utime(mod, (os.stat(cached).st_mtime + 10,) * 2)
    precompile(pkg)
    assert cached.read_bytes() != first
