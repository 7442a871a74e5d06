"""The file destination's naming step: across fork() (an O_TMPFILE file gets its name
through /proc/<pid>/fd, so a forked child must use its own, not the parent's, which
would name one of the parent's files, or fail), and when it replaces a file."""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from pathlib import Path

import pytest

from s3fast.transfer import _localfs
from s3fast.transfer._localfs import FileSink, _proc_fd, swap_in


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


# --- Replacing an existing file (``_localfs.swap_in``, ``FileSink.commit``/``discard``) ---
#
# The kernel frees a file's pages when its last reference goes: in ``rename`` itself when the
# rename drops the old file's last link. For a 2 GiB file that stalled the event loop for
# seconds (``benchmarks/probes/replace.py``). These tests check where the last reference
# goes, which is what decides the stall, without timing anything.


@pytest.fixture(params=["exchange", "replace"])
def swap_mode(request, monkeypatch):
    """Both ways ``swap_in`` can work: renameat2(RENAME_EXCHANGE), and the fallback where
    the system or the filesystem has no exchange."""
    if request.param == "exchange":
        if _localfs._renameat2 is None:
            pytest.skip("no renameat2 here")
    else:
        monkeypatch.setattr(_localfs, "_renameat2", None)
    return request.param


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_swap_in_a_fresh_name_holds_nothing(tmp_path: Path, swap_mode: str) -> None:
    (tmp_path / "tmp").write_bytes(b"new")
    assert swap_in(str(tmp_path / "tmp"), str(tmp_path / "dst")) == (-1, 0)
    assert _names(tmp_path) == ["dst"] and (tmp_path / "dst").read_bytes() == b"new"


def test_swap_in_keeps_the_replaced_file_alive_for_the_caller(tmp_path: Path, swap_mode: str) -> None:
    (tmp_path / "dst").write_bytes(b"old contents")
    old_ino = (tmp_path / "dst").stat().st_ino
    (tmp_path / "tmp").write_bytes(b"new")
    fd, size = swap_in(str(tmp_path / "tmp"), str(tmp_path / "dst"))
    try:
        assert size == len(b"old contents")
        st = os.fstat(fd)
        # The old file: no name left, but not freed, because this descriptor holds it.
        assert (st.st_ino, st.st_nlink) == (old_ino, 0)
    finally:
        os.close(fd)
    assert _names(tmp_path) == ["dst"] and (tmp_path / "dst").read_bytes() == b"new"


def test_swap_in_replaces_a_symlink_not_its_target(tmp_path: Path, swap_mode: str) -> None:
    (tmp_path / "target").write_bytes(b"target")
    (tmp_path / "dst").symlink_to(tmp_path / "target")
    (tmp_path / "tmp").write_bytes(b"new")
    fd, _ = swap_in(str(tmp_path / "tmp"), str(tmp_path / "dst"))
    os.close(fd)
    assert not (tmp_path / "dst").is_symlink() and (tmp_path / "dst").read_bytes() == b"new"
    assert (tmp_path / "target").read_bytes() == b"target"
    assert _names(tmp_path) == ["dst", "target"]


def test_swap_in_refuses_a_directory_and_leaves_both_in_place(tmp_path: Path, swap_mode: str) -> None:
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "inside").write_bytes(b"x")
    (tmp_path / "tmp").write_bytes(b"new")
    with pytest.raises(IsADirectoryError):
        swap_in(str(tmp_path / "tmp"), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "inside").read_bytes() == b"x"
    assert (tmp_path / "tmp").read_bytes() == b"new"


class _GatedExecutor(concurrent.futures.ThreadPoolExecutor):
    """A real executor whose jobs wait for ``gate``: what it was given is observable."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.gate = threading.Event()
        self.jobs = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        self.jobs += 1

        def gated():
            self.gate.wait(30)
            return fn(*args, **kwargs)
        return super().submit(gated)


def _held(ino: int) -> bool:
    """Whether this process still has a descriptor on inode ``ino``."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.stat(f"/proc/self/fd/{name}").st_ino == ino:
                return True
        except OSError:
            pass
    return False


def _sink_with(path: Path, data: bytes) -> _localfs.FileSink:
    sink = _localfs.FileSink(str(path))
    sink.open(len(data), sparse=False)
    sink.write(memoryview(data), 0)
    return sink


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named_tmp"])
def test_commit_frees_a_large_replaced_file_off_the_loop(tmp_path: Path, swap_mode: str, unnamed: bool,
                                                         monkeypatch) -> None:
    if not unnamed:
        monkeypatch.setattr(_localfs, "_O_TMPFILE", 0)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * _localfs._FREE_OFF_LOOP)
    big_ino = big.stat().st_ino
    small = tmp_path / "small.bin"
    small.write_bytes(b"old")
    small_ino = small.stat().st_ino
    executor = _GatedExecutor()

    async def go() -> None:
        asyncio.get_running_loop().set_default_executor(executor)
        for path in (big, small):
            _sink_with(path, b"new").commit()
        # The big old file's last reference went to the executor; the small one's was
        # dropped inline (a thread hop costs more than freeing a few pages).
        assert executor.jobs == 1
        assert _held(big_ino) and not _held(small_ino)
        executor.gate.set()
        await asyncio.get_running_loop().shutdown_default_executor()
        assert not _held(big_ino)

    asyncio.run(go())
    assert big.read_bytes() == b"new" and small.read_bytes() == b"new"
    assert _names(tmp_path) == ["big.bin", "small.bin"]


@pytest.mark.parametrize("unnamed", [True, False], ids=["o_tmpfile", "named_tmp"])
def test_discard_leaves_no_name_at_once_and_frees_a_large_file_off_the_loop(tmp_path: Path, unnamed: bool,
                                                                            monkeypatch) -> None:
    if not unnamed:
        monkeypatch.setattr(_localfs, "_O_TMPFILE", 0)
    executor = _GatedExecutor()

    async def go() -> None:
        asyncio.get_running_loop().set_default_executor(executor)
        sink = _localfs.FileSink(str(tmp_path / "dst.bin"))
        sink.open(_localfs._FREE_OFF_LOOP, sparse=True)
        ino = os.fstat(sink.fd).st_ino
        sink.discard()
        assert _names(tmp_path) == []  # no name left behind, even before the close
        assert executor.jobs == 1 and _held(ino)
        executor.gate.set()
        await asyncio.get_running_loop().shutdown_default_executor()
        assert not _held(ino)

    asyncio.run(go())


def test_commit_over_a_directory_names_the_problem_and_leaves_nothing(tmp_path: Path, swap_mode: str,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(_localfs, "_O_TMPFILE", 0)  # the path where the rename meets the directory
    (tmp_path / "dst").mkdir()
    sink = _sink_with(tmp_path / "dst", b"new")
    with pytest.raises(_localfs.LocalIOError, match="destination is a directory"):
        sink.commit()
    assert _names(tmp_path) == ["dst"] and (tmp_path / "dst").is_dir()
