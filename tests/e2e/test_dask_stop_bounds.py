"""s3fast.dask: every wait of a copy that is ending is bounded, so an interrupted copy (and
the signalled CLI) ends even when a worker does not answer. Each test makes one wait
endless on a real LocalCluster (2 worker processes, loopback only), shrinks its timeout,
and checks the copy ends and says what it gave up on. Without the bound each test hangs
until pytest-timeout fails it (the stuck party is released at the test's end, at most
``STUCK`` seconds later)."""
from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_helpers import local_cluster_client
from e2e_helpers import SMALL, wait_until
from s3fast.dask import BatchResult, Summary, copy_tree_async
from s3fast.dask import _driver
from s3fast.dask._worker import running_batches, runtime, worker_name
from support.faultrules import Rule, hold

distributed = pytest.importorskip("distributed")

#: how long a stuck party waits for the test to release it: longer than each test's timeout
STUCK = 60.0
#: pytest-timeout for each test: a bound taken out makes the test hang past it
HANG = 40


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with local_cluster_client(silence_logs=50) as client:
        yield client


@pytest.fixture
def small_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STOP_TIMEOUT", "STOP_GATHER_TIMEOUT", "CLOSE_CLIENTS_TIMEOUT", "ROUND_TRIP_TIMEOUT",
                 "CANCEL_TIMEOUT"):
        monkeypatch.setattr(_driver, name, 1.0)


def _until_released(release: str) -> None:
    """Block this thread until ``release`` exists (at most STUCK seconds)."""
    deadline = time.monotonic() + STUCK
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)


async def _deaf_until_released(release: str) -> None:
    """Sleep until ``release`` exists (at most STUCK seconds), ignoring every cancellation."""
    deadline = time.monotonic() + STUCK
    while not os.path.exists(release) and time.monotonic() < deadline:
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            pass


def _started(release: str, index: int) -> None:
    Path(f"{release}.started.{index}").touch()


def deaf_batch(release: str, spec: Any, index: int, items: Any, attempt: int = 1) -> BatchResult:
    """A batch registered as running (``stop_copy`` cancels it) whose cleanup does not end:
    it ignores the cancellation until released."""
    rt = runtime()

    async def body() -> BatchResult:
        task = asyncio.ensure_future(_deaf_until_released(release))
        tasks = rt.running.setdefault(spec.run_id, set())
        tasks.add(task)
        _started(release, index)
        try:
            await task
        finally:
            tasks.discard(task)
            if not tasks:
                rt.running.pop(spec.run_id, None)
        return BatchResult(index, attempt, worker_name(), stopped=True)

    return rt.call(body())


def stuck_batch(release: str, spec: Any, index: int, items: Any, attempt: int = 1) -> BatchResult:
    """A batch whose task thread is blocked outside the s3fast loop (``stop_copy`` has
    nothing to cancel): its result does not come back until released."""
    _started(release, index)
    _until_released(release)
    return BatchResult(index, attempt, worker_name())


class _DeafClient:
    """Stands for a worker's s3fast client whose close does not end."""

    def __init__(self, release: str) -> None:
        self.release = release

    async def aclose(self) -> None:
        await _deaf_until_released(self.release)


def deaf_close_batch(release: str, spec: Any, index: int, items: Any, attempt: int = 1) -> BatchResult:
    """A batch that does nothing but leave its worker with a client whose close does not end."""
    rt = runtime()

    async def install() -> None:
        rt.clients[f"deaf-{release}-{index}"] = _DeafClient(release)

    rt.call(install())
    return BatchResult(index, attempt, worker_name())


def _put(moto_cluster: Any, bucket: str, n: int) -> None:
    b3 = moto_cluster.boto3_client()
    for i in range(n):
        b3.put_object(Bucket=bucket, Key=f"src/k{i}", Body=b"x" * (i + 1))


def _copy(dask_client: Any, moto_cluster: Any, bucket: str, runner: Callable[..., BatchResult],
          summary: Summary) -> Coroutine[Any, Any, Summary]:
    return copy_tree_async(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", dask_client=dask_client,
                           client_kwargs={"endpoint_url": moto_cluster.endpoint_url,
                                          "resolve": moto_cluster.resolver_map},
                           config=SMALL, batch_objects=1, batch_runner=runner, summary=summary)


def _interrupt(dask_client: Any, moto_cluster: Any, bucket: str, release: Path, runner: Callable[..., BatchResult],
               before_cancel: Callable[[], None] = lambda: None) -> Summary:
    """Start a copy of 2 objects (2 batches) with ``runner``, cancel it once both batches
    started (as Ctrl-C does), and return its summary once the cancellation came through."""
    summary = Summary()

    async def scenario() -> None:
        task = asyncio.ensure_future(_copy(dask_client, moto_cluster, bucket, runner, summary))
        try:
            deadline = time.monotonic() + 30
            while not all(Path(f"{release}.started.{i}").exists() for i in range(2)):
                assert not task.done() and time.monotonic() < deadline, "the batches did not start"
                await asyncio.sleep(0.02)
            before_cancel()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            release.touch()  # whatever happened: the stuck parties end (also when pytest-timeout fires)

    asyncio.run(scenario())
    return summary


@pytest.mark.timeout(HANG)
def test_a_stop_whose_cleanup_does_not_end_gives_up_after_its_timeout(
        dask_client: Any, moto_cluster: Any, bucket: str, tmp_path: Path, small_timeouts: None) -> None:
    """stop_copy waits for the cancelled batches' cleanup: a worker gives up after
    STOP_TIMEOUT and says so; the driver goes on and the copy ends interrupted."""
    _put(moto_cluster, bucket, 2)
    release = tmp_path / "release"
    summary = _interrupt(dask_client, moto_cluster, bucket, release, functools.partial(deaf_batch, str(release)))
    assert summary.interrupted and summary.stopped == 2 and summary.objects == 0
    stop = [w for w in summary.warnings if w.startswith("stopping the copy on ")]
    assert len(stop) == 1 and "TimeoutError: the stopped batches' cleanup did not end within 1 s on " in stop[0]
    assert "2 stopped batches did not report back within 1 s: what they completed is not counted" in summary.warnings
    wait_until(lambda: set(dask_client.run(running_batches).values()) == {0}, timeout=30)


@pytest.mark.timeout(HANG)
def test_results_that_do_not_come_back_after_a_stop_are_given_up_after_their_timeout(
        dask_client: Any, moto_cluster: Any, bucket: str, tmp_path: Path, small_timeouts: None) -> None:
    """Batches blocked outside the s3fast loop: the stop has nothing to cancel and returns;
    their results never come back, and the driver stops waiting after STOP_GATHER_TIMEOUT."""
    _put(moto_cluster, bucket, 2)
    release = tmp_path / "release"
    summary = _interrupt(dask_client, moto_cluster, bucket, release, functools.partial(stuck_batch, str(release)))
    assert summary.interrupted and summary.stopped == 2 and summary.batches == 2
    assert summary.warnings == ["2 stopped batches did not report back within 1 s: what they completed is not counted"]


def _block_loop(release: str, wedged: str) -> None:
    """Block the event loop that runs this (touching ``wedged`` first) until released: run
    on a worker by ``Client.run`` (a plain function runs on the worker's own loop, which then
    answers nothing), or on the distributed client's loop by ``add_callback``."""
    Path(wedged).touch()
    _until_released(release)


@pytest.mark.timeout(HANG)
def test_a_worker_whose_event_loop_does_not_answer_is_given_up_on(
        dask_client: Any, moto_cluster: Any, bucket: str, tmp_path: Path, small_timeouts: None) -> None:
    """A worker's own event loop blocked: neither the stop nor the close of the clients gets
    an answer from it (the scheduler waits for it); the driver gives up after each timeout
    plus the round trip, and the copy ends."""
    _put(moto_cluster, bucket, 2)
    release = tmp_path / "release"
    worker = sorted(dask_client.scheduler_info()["workers"])[0]
    wedged = tmp_path / "wedged"
    blocker = threading.Thread(target=lambda: dask_client.run(_block_loop, str(release), str(wedged),
                                                              workers=[worker]), daemon=True)

    def wedge() -> None:
        blocker.start()
        wait_until(wedged.exists, timeout=30)

    try:
        summary = _interrupt(dask_client, moto_cluster, bucket, release, functools.partial(stuck_batch, str(release)),
                             before_cancel=wedge)
    finally:
        release.touch()
        blocker.join(timeout=STUCK)
    assert summary.interrupted and summary.stopped == 2
    assert "stopping the copy: the Dask cluster did not answer within 2 s" in summary.warnings
    assert "closing the workers' clients: the Dask cluster did not answer within 2 s" in summary.warnings


@pytest.mark.timeout(HANG)
def test_closing_the_workers_clients_gives_up_after_its_timeout(
        dask_client: Any, moto_cluster: Any, bucket: str, tmp_path: Path, small_timeouts: None) -> None:
    """A copy that ends (interrupted or not) closes the workers' clients: a close that does
    not end is given up after CLOSE_CLIENTS_TIMEOUT, said, and the copy returns."""
    _put(moto_cluster, bucket, 2)
    release = tmp_path / "release"

    async def scenario() -> Summary:
        try:
            return await _copy(dask_client, moto_cluster, bucket, functools.partial(deaf_close_batch, str(release)),
                               Summary())
        finally:
            release.touch()

    summary = asyncio.run(scenario())
    assert summary.ok and not summary.interrupted and summary.batches == 2
    assert len(summary.warnings) == 1, summary.warnings
    assert summary.warnings[0].startswith("closing the workers' clients on ")
    assert "TimeoutError: closing the s3fast clients did not end within 1 s on " in summary.warnings[0]


def install_deaf_stop(release: str) -> None:
    """On a worker: its stop cancels nothing and waits (deaf) until released, as a cleanup
    waiting on a server that never answers would."""
    from s3fast.dask import _worker

    async def deaf_stop(self: Any, run_id: str) -> int:
        await _deaf_until_released(release)
        return 0

    cls: Any = _worker._Runtime
    cls.real_stop = getattr(cls, "real_stop", cls.stop)
    cls.stop = deaf_stop


def restore_stop() -> None:
    from s3fast.dask import _worker

    cls: Any = _worker._Runtime
    cls.stop = getattr(cls, "real_stop", cls.stop)


#: the CLI with its stop timeouts shrunk (the bounds under test; the rest as shipped)
_CLI = ("import sys\n"
        "from s3fast.dask import _driver as d\n"
        "d.STOP_TIMEOUT = d.STOP_GATHER_TIMEOUT = d.ROUND_TRIP_TIMEOUT = 1.0\n"
        "from s3fast.cli._main import main\n"
        "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.timeout(HANG)
def test_a_signalled_cli_ends_when_the_workers_do_not_stop(dask_client: Any, fault_cluster: Any,
                                                          tmp_path: Path) -> None:
    """SIGTERM to ``cp -r --dask-scheduler`` while the workers' stop does not end (their
    requests held by the proxy, their stop deaf): exit 143 after the stop timeout, the
    summary, a warning naming what did not stop, no traceback."""
    bucket = fault_cluster.moto.make_bucket()
    b3 = fault_cluster.moto.boto3_client()
    for i in range(4):
        b3.put_object(Bucket=bucket, Key=f"src/k{i}", Body=os.urandom(300))
    held = fault_cluster.add_rule(Rule(hold(120), method="GET", path=r"/src/k"))
    release = tmp_path / "release"
    dask_client.run(install_deaf_stop, str(release))
    args = [sys.executable, "-c", _CLI, "cp", "-r", f"s3://{bucket}/src/", str(tmp_path / "dst") + "/",
            "--dask-scheduler", dask_client.scheduler.address, "--dask-batch-size", "600B",
            "--endpoint-url", fault_cluster.endpoint_url, "--resolve",
            f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        held.wait_holding(2, timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()  # no timeout of its own: a hang is pytest-timeout's
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        dask_client.run(restore_stop)
        fault_cluster.clear_rules()
    text = err.decode()
    assert proc.returncode == 128 + signal.SIGTERM, text
    lines = text.strip().splitlines()
    assert "Traceback" not in text and lines[-1] == "s3fast: interrupted by SIGTERM", text
    # one line for the stop, whatever the number of workers that did not stop
    stop = [line for line in lines if line.startswith("s3fast: warning: stopping the copy on ")]
    assert len(stop) == 1 and "TimeoutError: the stopped batches' cleanup did not end within 1 s on " in stop[0], text
    assert out.decode().startswith("cp: interrupted after 0 objects, 0 B "), out
    assert not any((tmp_path / "dst").rglob("*")) if (tmp_path / "dst").exists() else True


@pytest.mark.timeout(HANG)
def test_cancelling_the_futures_left_gives_up_when_the_dask_client_does_not_answer(
        dask_client: Any, moto_cluster: Any, bucket: str, tmp_path: Path, small_timeouts: None) -> None:
    """The distributed client's own loop blocked when the copy is cancelled: every wait on
    it (the stop, the results, the cancel of the futures left, the close of the clients) is
    given up after its timeout; the cancel, which runs on that loop, is no exception."""
    _put(moto_cluster, bucket, 2)
    release = tmp_path / "release"
    wedged = tmp_path / "wedged"

    def wedge() -> None:
        dask_client.loop.add_callback(_block_loop, str(release), str(wedged))
        wait_until(wedged.exists, timeout=30)

    summary = _interrupt(dask_client, moto_cluster, bucket, release, functools.partial(stuck_batch, str(release)),
                         before_cancel=wedge)
    assert summary.interrupted and summary.stopped == 2
    assert "cancelling 2 batches: the Dask client did not answer within 1 s" in summary.warnings
    assert "stopping the copy: the Dask cluster did not answer within 2 s" in summary.warnings


#: the CLI whose distributed.Client never finishes closing, with the bound under test shrunk
_CLI_SLOW_CLOSE = ("import asyncio, sys\n"
                   "import distributed\n"
                   "async def _close(self, fast=False):\n"
                   "    await asyncio.sleep(%r)\n"
                   "distributed.Client._close = _close\n"
                   "from s3fast.dask import _driver as d\n"
                   "d.DISCONNECT_TIMEOUT = 1.0\n"
                   "from s3fast.cli._main import main\n"
                   "sys.exit(main(sys.argv[1:]))\n") % STUCK


@pytest.mark.timeout(HANG)
def test_the_cli_gives_up_closing_its_dask_client_after_its_timeout(dask_client: Any, moto_cluster: Any,
                                                                     bucket: str) -> None:
    """The CLI's last step, closing its connection to the scheduler, does not end: it is
    given up after DISCONNECT_TIMEOUT with a warning, and the command exits."""
    _put(moto_cluster, bucket, 2)
    args = [sys.executable, "-c", _CLI_SLOW_CLOSE, "cp", "-r", f"s3://{bucket}/src/", f"s3://{bucket}/dst/",
            "--dask-scheduler", dask_client.scheduler.address, "--endpoint-url", moto_cluster.endpoint_url,
            "--resolve", f"{moto_cluster.host}:{','.join(moto_cluster.ips)}"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate()  # no timeout of its own: a hang is pytest-timeout's
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 0, text
    assert text.strip().splitlines() == [
        "s3fast: warning: the Dask client did not close its connection to the scheduler within 1 s"], text
    assert out.decode().startswith("cp: 2 objects, 3 B "), out
