"""Small downloaded files written whole on the batcher's thread.

``write_files`` (compiled, and its pure twin) is checked against the same contract, and
the two against each other; ``FileBatcher`` (and the writer thread) for hand-offs and
across fork(); the client for which downloads take that path and what happens when
memory is short.
"""
from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import SMALL, client_for, run

import s3fast
from s3fast import _impl
from s3fast._py import _files as pure_files
from s3fast.transfer._localfs import proc_fd
from s3fast.transfer._writer import FileBatcher, FileWriter

try:
    from s3fast._native import _files as native_files
except ImportError:  # a pure-only install
    native_files = None

IMPLS = [pytest.param(pure_files, id="pure")]
if native_files is not None:
    IMPLS.append(pytest.param(native_files, id="native"))


def job(directory: Path, name: str, data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    return (os.fsencode(directory), os.fsencode(directory / name),
            os.fsencode(directory / f".{name}.tmp"), data)


@pytest.mark.parametrize("impl", IMPLS)
def test_special_tells_devices_and_fifos_from_files(impl: Any, tmp_path: Path) -> None:
    """What ``download`` writes in place instead of through a temporary file."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("/dev/null")
    for path, want in [("/dev/null", True), (tmp_path / "fifo", True), (tmp_path / "link", True),
                       (tmp_path / "file", False), (tmp_path / "dir", False), (tmp_path / "missing", False),
                       (tmp_path / "missing" / "deeper", False)]:
        assert impl.special(os.fspath(path)) is want, path
        assert impl.special(os.fsencode(path)) is want, path


@pytest.fixture(params=[True, False], ids=["tmpfile", "named-tmp"])
def proc(request: Any) -> int:
    """With /proc/<pid>/fd (O_TMPFILE + linkat) and without (a named temporary file)."""
    return proc_fd() if request.param else -1


@pytest.mark.parametrize("impl", IMPLS)
def test_files_are_written_whole_and_replace_atomically(impl: Any, proc: int, tmp_path: Path) -> None:
    (tmp_path / "old").write_bytes(b"old contents, longer than the new ones")
    big = os.urandom(300_000)
    out = impl.write_files([job(tmp_path, "a", b"alpha"), job(tmp_path, "old", b"new"),
                            job(tmp_path, "big", memoryview(big)), job(tmp_path, "empty", b"")], proc)
    assert out == [(0, 0)] * 4
    assert (tmp_path / "a").read_bytes() == b"alpha"
    assert (tmp_path / "old").read_bytes() == b"new"
    assert (tmp_path / "big").read_bytes() == big
    assert (tmp_path / "empty").read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "big", "empty", "old"]  # no temporaries
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("impl", IMPLS)
def test_failures_say_which_step_and_leave_nothing(impl: Any, proc: int, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    out = impl.write_files([
        job(tmp_path / "missing", "x", b"data"),  # no such directory
        job(tmp_path, "adir", b"data"),  # a directory in the way
        job(tmp_path, "ok", b"fine"),  # the others still land
    ], proc)
    assert out[0] == (errno.ENOENT, impl.OPEN)
    assert out[1] == (errno.EISDIR, impl.NAME)
    assert out[2] == (0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "ok"]
    assert list((tmp_path / "adir").iterdir()) == []


@pytest.mark.skipif(native_files is None, reason="needs the compiled core")
def test_compiled_and_pure_agree(tmp_path: Path) -> None:
    results = []
    for impl, where in ((native_files, tmp_path / "n"), (pure_files, tmp_path / "p")):
        where.mkdir()
        (where / "adir").mkdir()
        (where / "old").write_bytes(b"old")
        jobs = [job(where, "f", b"x" * 70_000), job(where, "old", b"o"), job(where, "adir", b"d"),
                job(where / "nope", "g", b"g")]
        results.append((impl.write_files(jobs, proc_fd()), impl.write_files(jobs, -1),
                        sorted((p.name, p.read_bytes() if p.is_file() else None) for p in where.iterdir())))
    assert results[0] == results[1]
    assert (native_files.OPEN, native_files.WRITE, native_files.NAME) == (
        pure_files.OPEN, pure_files.WRITE, pure_files.NAME)


def test_batcher_writes_every_file_handed_to_it(tmp_path: Path) -> None:
    batcher = FileBatcher(proc_fd)

    async def go() -> list[tuple[int, int]]:
        futs = [batcher.write(*job(tmp_path, f"f{i}", bytes([i]) * 1000)) for i in range(50)]
        futs.append(batcher.write(*job(tmp_path / "missing", "x", b"x")))
        return list(await asyncio.gather(*futs))

    try:
        out = run(go())
    finally:
        batcher.close()
    assert out[:50] == [(0, 0)] * 50 and out[50] == (errno.ENOENT, _impl.files_impl.OPEN)
    assert all((tmp_path / f"f{i}").read_bytes() == bytes([i]) * 1000 for i in range(50))
    assert batcher.files == 51 and 1 <= batcher.batches <= 51
    with pytest.raises(RuntimeError, match="closed"):
        run(_write_one(batcher, tmp_path))


def test_release_comes_when_the_thread_is_done_even_for_a_cancelled_waiter(tmp_path: Path) -> None:
    batcher = FileBatcher(proc_fd)
    released: list[tuple[str, bool]] = []

    def release(name: str) -> None:
        released.append((name, (tmp_path / name).exists()))  # was the thread done with it?

    async def go() -> None:
        first = batcher.write(*job(tmp_path, "a", b"a"), lambda: release("a"))
        first.cancel()  # the waiter gives up; the thread still has the bytes
        # Settled in order: once the later file is done, the earlier one was released.
        assert await batcher.write(*job(tmp_path, "b", b"b"), lambda: release("b")) == (0, 0)

    try:
        run(go())
    finally:
        batcher.close()
    assert released == [("a", True), ("b", True)]
    assert (tmp_path / "a").read_bytes() == b"a"  # the commit point had passed: the file is whole


async def _write_one(batcher: FileBatcher, where: Path, name: str = "after", data: bytes = b"x") -> tuple[int, int]:
    return await batcher.write(*job(where, name, data))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_gets_a_batcher_thread_of_its_own(tmp_path: Path) -> None:
    batcher = FileBatcher(proc_fd)
    try:
        assert run(_write_one(batcher, tmp_path)) == (0, 0)  # the parent's thread is running
        pid = os.fork()
        if pid == 0:
            try:
                res = asyncio.run(asyncio.wait_for(_write_one(batcher, tmp_path, "child", b"c"), 10))
                os._exit(0 if res == (0, 0) and (tmp_path / "child").read_bytes() == b"c" else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        batcher.close()


async def _pwrite_on(writer: FileWriter, fd: int, data: bytes) -> BaseException | None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[BaseException | None] = loop.create_future()
    writer.submit(fd, memoryview(data), 0, done.set_result)
    return await asyncio.wait_for(done, 10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_gets_a_writer_thread_of_its_own(tmp_path: Path) -> None:
    writer = FileWriter()
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert run(_pwrite_on(writer, fd, b"parent")) is None  # the parent's thread is running
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if asyncio.run(_pwrite_on(writer, fd, b"child!")) is None else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (tmp_path / "out").read_bytes() == b"child!"
    finally:
        os.close(fd)
        writer.close()


@pytest.mark.skipif(not _impl.NATIVE, reason="the batcher runs with the compiled core only")
def test_small_downloads_go_through_the_batcher_unless_memory_is_short(
        moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    data = [os.urandom(n) for n in (0, 1, 64 * 1024)]

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            for i, d in enumerate(data):
                await c.put_bytes(f"s3://{bucket}/k{i}", d)
            assert c.batcher is not None
            await asyncio.gather(*(c.download(f"s3://{bucket}/k{i}", tmp_path / f"k{i}") for i in range(3)))
            assert c.batcher.files == 3 and c.memory.held == 0
            # No room in the memory budget: the file is written as it arrives instead.
            assert c.memory.try_acquire(c.memory.limit)
            await c.download(f"s3://{bucket}/k2", tmp_path / "inline")
            assert c.batcher.files == 3
            c.memory.release(c.memory.limit)

    run(go())
    assert [(tmp_path / f"k{i}").read_bytes() for i in range(3)] == data
    assert (tmp_path / "inline").read_bytes() == data[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inline", "k0", "k1", "k2"]


def test_the_batcher_can_be_turned_off(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with client_for(moto_cluster, SMALL.replace(batch_small_files=False)) as c:
            assert c.batcher is None
            await c.put_bytes(f"s3://{bucket}/k", b"payload")
            await c.download(f"s3://{bucket}/k", tmp_path / "k")

    run(go())
    assert (tmp_path / "k").read_bytes() == b"payload"
    assert s3fast.TransferConfig().expert.batch_small_files is True
