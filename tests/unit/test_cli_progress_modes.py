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
