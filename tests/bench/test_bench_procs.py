"""Child-process measurement: CPU from wait4, peak RSS from the child's own address space."""
from __future__ import annotations

import sys

from benchmarks.procs import Poller, free_ports, read_vm_hwm_kib, run_measured


def test_peak_rss_is_the_childs_own_not_the_parents() -> None:
    ballast = bytearray(300 << 20)  # the harness being big must not show up in the child's peak
    ballast[:: 1 << 12] = b"x" * len(ballast[:: 1 << 12])
    small = run_measured([sys.executable, "-c", "pass"], timeout=60)
    big = run_measured(
        [sys.executable, "-c", "b = bytearray(160 << 20); b[::4096] = b'y' * len(b[::4096]); "
         "import time; t = time.monotonic()\nwhile time.monotonic() - t < 0.2: pass"],
        timeout=60,
    )
    del ballast
    assert small.returncode == 0 and big.returncode == 0
    assert small.hwm_kib is not None and small.hwm_kib < 100 * 1024
    assert big.hwm_kib is not None and big.hwm_kib >= 160 * 1024
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
