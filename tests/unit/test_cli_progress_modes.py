"""Where progress goes by default: a bar on a terminal, periodic plain lines in a log (a
closing line only after periodic ones, so a short run prints its summary alone)."""
from __future__ import annotations

import asyncio
import io

from s3fast.cli._tree_progress import TreeProgress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_a_bar_on_a_terminal_and_lines_in_a_log() -> None:
    assert TreeProgress("cp", stream=_Tty(), mode="auto").mode == "bar"
    assert TreeProgress("cp", stream=io.StringIO(), mode="auto").mode == "log"
    assert TreeProgress("cp", stream=_Tty(), mode="log").mode == "log"
    assert TreeProgress("cp", stream=io.StringIO(), mode="off").mode == "off"


def test_a_short_run_in_a_log_prints_no_progress_line() -> None:
    async def go(mode: str, periodic: bool) -> str:
        out = io.StringIO()
        p = TreeProgress("cp", stream=out, mode=mode)
        p.start()
        if periodic:
            p._draw()  # what the 5 s timer does
        await p.stop()
        return out.getvalue()

    assert asyncio.run(go("auto", periodic=False)) == ""
    assert asyncio.run(go("auto", periodic=True)).count("\n") == 2  # one periodic, one closing
    assert asyncio.run(go("log", periodic=False)).count("\n") == 1  # asked for: always a closing line


def test_the_percentage_and_eta_leave_out_what_nothing_will_move() -> None:
    """A sync that skips 90 of 100 equal objects is half done when 5 of the 10 it copies are
    (not 5%), and its ETA counts the 5 left, not the 95 it will never move."""
    from s3fast.tree import Entry, TreeResult

    t = [0.0]
    p = TreeProgress("sync", stream=io.StringIO(), mode="off", clock=lambda: t[0])
    for i in range(100):
        p.on_listed(Entry(f"k{i}", 1000))
    p.on_listed(None)
    for i in range(90):
        p.add(TreeResult("upload", f"k{i}", f"s3://b/k{i}", 1000, "skipped", "unchanged"))
    t[0] = 10.0
    p.on_bytes(5000)
    line = p.line()
    assert " 50.0%" in line, line
    assert "ETA    10 s" in line, line  # 5,000 bytes left at 500 B/s
