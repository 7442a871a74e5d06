"""The file destination's naming step across fork(): an O_TMPFILE file gets its name
through /proc/<pid>/fd, so a forked child must use its own, not the parent's (which
would name one of the parent's files, or fail)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3fast.transfer._download import FileSink, _proc_fd


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_names_its_own_file(tmp_path: Path) -> None:
    warm = FileSink(str(tmp_path / "parent.bin"))  # the parent has used /proc/<pid>/fd
    warm.open(1, sparse=False)
    warm.write(memoryview(b"p"), 0)
    warm.commit()
    assert _proc_fd() != -2
    target = tmp_path / "child.bin"
    pid = os.fork()
    if pid == 0:  # the child: exit status says what it saw
        try:
            sink = FileSink(str(target))
            sink.open(5, sparse=False)
            sink.write(memoryview(b"child"), 0)
            sink.commit()
            os._exit(0 if target.read_bytes() == b"child" else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert target.read_bytes() == b"child"
    assert (tmp_path / "parent.bin").read_bytes() == b"p"
