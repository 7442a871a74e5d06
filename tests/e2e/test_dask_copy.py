"""s3fast.dask: tree copies run on a distributed.LocalCluster (2 worker processes, loopback
only) against moto behind the fault proxy, which counts what reaches the server."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_helpers import local_cluster_client
from e2e_helpers import SMALL, wait_until
from s3fast._units import MiB
from s3fast.dask import Batcher, BatchResult, Summary, copy_tree, run_batch
from s3fast.dask._plan import NameOf, Tally
from s3fast.dask._worker import running_batches
from s3fast.tree import Entry, TreeResult
from support.faultrules import Rule, hold, latency, respond, throttle

distributed = pytest.importorskip("distributed")


# -- pure -----------------------------------------------------------------------------------------
def test_batcher_closes_on_bytes_or_count() -> None:
    b = Batcher(max_bytes=100, max_objects=3)
    assert b.add(Entry("a", 60)) is None
    full = b.add(Entry("b", 40))  # 100 bytes: closed by size
    assert full is not None and [i[0] for i in full] == ["a", "b"]
    assert b.add(Entry("c", 1)) is None and b.add(Entry("d", 1)) is None
    full = b.add(Entry("e", 1))  # 3 objects: closed by count
    assert full is not None and [i[0] for i in full] == ["c", "d", "e"]
    assert b.flush() is None
    b.add(Entry("f", 5, 1.0, "p/f", "etag"))
    assert b.flush() == [("f", 5, 1.0, "p/f", "etag")]
    with pytest.raises(ValueError):
        Batcher(max_bytes=0)


def test_split_points_spread_over_the_prefixes() -> None:
    from s3fast.dask._listing import split_points

    assert split_points([], 8) == [] and split_points(["a/"], 1) == []
    assert split_points(["c/", "a/", "b/"], 8) == ["a/", "b/", "c/"]
    assert split_points([f"p{i:03}/" for i in range(1000)], 5) == ["p000/", "p250/", "p500/", "p750/"]


def test_summary_merges_batches_and_names_failed_batches() -> None:
    s = Summary()
    s.add(BatchResult(0, 1, "h:1", objects=3, bytes=30, failed=(("s3://b/x", "boom"),)))
    s.add(BatchResult(1, 2, "h:2", objects=1, bytes=5, skipped=1, already_done=2))
    s.fail_batch([("r", 1, None, "p/r", "")], "batch failed", NameOf("b"))
    assert (s.objects, s.bytes, s.skipped, s.already_done, s.batches) == (4, 35, 1, 2, 3)
    assert s.failed == [("s3://b/x", "boom"), ("s3://b/p/r", "batch failed")] and not s.ok
    assert s.as_dict()["workers"] == ["h:1", "h:2"]


def test_tally_counts_each_outcome_and_a_stopped_batch_says_so() -> None:
    t = Tally()
    t.add(TreeResult("copy", "s3://b/a", "s3://b/x/a", 10))
    t.add(TreeResult("copy", "s3://b/c", "s3://b/x/c", 3, "failed", error="boom"))
    t.add(TreeResult("copy", "s3://b/d", "", 7, "skipped", "already done"), already_done=True)
    t.add(TreeResult("copy", "s3://b/e", "", 0, "skipped", "unsafe key: .."))
    r = t.result(4, 2, "h:9", stopped=True)
    assert (r.index, r.attempt, r.objects, r.bytes, r.skipped, r.already_done) == (4, 2, 1, 10, 1, 1)
    assert r.failed == (("s3://b/c", "boom"),) and len(r.warnings) == 1 and r.stopped
    s = Summary()
    s.add(r)
    s.stop_batch()
    assert (s.batches, s.stopped, s.objects) == (2, 2, 1)


# -- on a LocalCluster ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with local_cluster_client(silence_logs=40) as client:
        yield client


def fill(cluster: Any, bucket: str, n: int, big: int = 0) -> dict[str, bytes]:
    b3 = cluster.moto.boto3_client()
    data = {f"src/d{i % 4}/k{i}": os.urandom(100 + i) for i in range(n)}
    if big:
        data["src/big"] = os.urandom(big)
    for k, v in data.items():
        b3.put_object(Bucket=bucket, Key=k, Body=v)
    return data


def kwargs_for(cluster: Any) -> dict[str, Any]:
    return {"endpoint_url": cluster.endpoint_url, "resolve": cluster.resolver_map}


def dest_writes(records: list[Any], bucket: str) -> Counter[str]:
    """Completed writes per destination key: a PUT (CopyObject) or a Complete POST."""
    out: Counter[str] = Counter()
    for r in records:
        path = r.target.split("?", 1)[0]
        if not path.startswith(f"/{bucket}/dst/"):
            continue
        if r.status != 200:
            continue
        if (r.method == "PUT" and "partNumber=" not in r.target) or (r.method == "POST" and "uploadId=" in r.target):
            out[path[len(f"/{bucket}/"):]] += 1
    return out


def read_all(cluster: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    b3 = getattr(cluster, "moto", cluster).boto3_client()
    keys = [o["Key"] for p in b3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get("Contents", [])]
    return {k: b3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_copy_tree_on_two_workers_every_object_once(dask_client: Any, fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    data = fill(fault_cluster, bucket, 40, big=12 * MiB)
    fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "not this one"), method="PUT", path=r"/dst/d1/k9$"))
    n = {(r.proxy, r.conn_id, r.seq) for r in fault_cluster.requests}
    summary = copy_tree(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", dask_client=dask_client,
                        client_kwargs=kwargs_for(fault_cluster), config=SMALL, batch_objects=6)
    sent = [r for r in fault_cluster.requests if (r.proxy, r.conn_id, r.seq) not in n]
    assert summary.failed == [(f"s3://{bucket}/src/d1/k9", summary.failed[0][1])]
    assert "AccessDenied" in summary.failed[0][1] or "denied" in summary.failed[0][1].lower()
    assert summary.objects == 40 and summary.batches == 7 and summary.retried == 0
    assert summary.bytes == sum(len(v) for k, v in data.items() if k != "src/d1/k9")
    got = read_all(fault_cluster, bucket, "dst/")
    assert got == {"dst/" + k[4:]: v for k, v in data.items() if k != "src/d1/k9"}
    writes = dest_writes(sent, bucket)
    assert set(writes.values()) == {1} and len(writes) == 40  # each done object written once
    # no object bytes through the workers: a tree copy inside S3 is server-side (the big
    # object's tags are read: its multipart copy restates them)
    assert [r.target for r in sent if r.method == "GET" and "/src/" in r.target and "list-type" not in r.target] \
        == [f"/{bucket}/src/big?tagging"]
    assert fault_cluster.moto.list_multipart_uploads(bucket) == []


def test_the_source_is_listed_by_prefixes_in_parallel(dask_client: Any, fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    data = fill(fault_cluster, bucket, 24)
    # keys around the prefixes' bounds: each must be listed once, in one range or the next
    for k in ("src/0top", "src/d1.txt", "src/d1/", "src/d10", "src/d3x/\u00e9", "src/zz"):
        data[k] = os.urandom(3)
        fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key=k, Body=data[k])
    fault_cluster.add_rule(Rule(latency(0.2), method="GET", path="list-type=2"))
    n = {(r.proxy, r.conn_id, r.seq) for r in fault_cluster.requests}
    summary = copy_tree(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", dask_client=dask_client,
                        client_kwargs=kwargs_for(fault_cluster), config=SMALL, batch_objects=5)
    fault_cluster.clear_rules()
    sent = [r for r in fault_cluster.requests if (r.proxy, r.conn_id, r.seq) not in n]
    lists = [r for r in sent if r.method == "GET" and "list-type=2" in r.target]
    in_flight = max(sum(1 for o in lists if o.arrived <= r.arrived < o.ended) for r in lists)
    assert in_flight >= 3, [r.target for r in lists]
    assert summary.ok and summary.objects == len(data)
    assert set(dest_writes(sent, bucket).values()) == {1}
    assert read_all(fault_cluster, bucket, "dst/") == {"dst/" + k[4:]: v for k, v in data.items()}


def flaky_batch(spec: Any, index: int, items: Any, attempt: int = 1) -> BatchResult:
    """The real batch; then, on its first attempt only, the task fails as if its worker had
    been lost after doing the work (a retry must not write those objects again)."""
    r = run_batch(spec, index, items, attempt)
    if attempt == 1 and index == 0:
        raise RuntimeError("worker lost after the batch's objects were written")
    return r


def test_a_retried_batch_sends_nothing_already_done(dask_client: Any, fault_cluster: Any) -> None:
    bucket = fault_cluster.moto.make_bucket()
    data = fill(fault_cluster, bucket, 12)
    n = {(r.proxy, r.conn_id, r.seq) for r in fault_cluster.requests}
    summary = copy_tree(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", dask_client=dask_client,
                        client_kwargs=kwargs_for(fault_cluster), config=SMALL, batch_objects=5,
                        batch_runner=flaky_batch)
    sent = [r for r in fault_cluster.requests if (r.proxy, r.conn_id, r.seq) not in n]
    assert summary.ok and summary.retried == 1 and summary.batches == 3
    assert summary.already_done == 5 and summary.objects == 7  # attempt 2 of batch 0 found its 5 done
    assert set(dest_writes(sent, bucket).values()) == {1}
    assert read_all(fault_cluster, bucket, "dst/") == {"dst/" + k[4:]: v for k, v in data.items()}


def always_fails(spec: Any, index: int, items: Any, attempt: int = 1) -> BatchResult:
    raise RuntimeError(f"no worker can run batch {index}")


def test_a_batch_failing_every_attempt_names_each_object(dask_client: Any, moto_cluster: Any, bucket: str) -> None:
    b3 = moto_cluster.boto3_client()
    for i in range(3):
        b3.put_object(Bucket=bucket, Key=f"src/k{i}", Body=b"x")
    summary = copy_tree(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", dask_client=dask_client,
                        client_kwargs=kwargs_for(moto_cluster), config=SMALL, retries=1, batch_runner=always_fails)
    assert summary.retried == 1 and summary.objects == 0
    assert sorted(k for k, _ in summary.failed) == [f"s3://{bucket}/src/k{i}" for i in range(3)]
    assert all("after 2 attempts" in e and "no worker can run batch 0" in e for _, e in summary.failed)


def test_upload_and_download_trees_through_workers(dask_client: Any, moto_cluster: Any, bucket: str,
                                                   tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {f"a/{i}.bin": os.urandom(1000 + i) for i in range(15)}
    for rel, v in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(v)
    kw = {"client_kwargs": kwargs_for(moto_cluster), "config": SMALL, "batch_objects": 4}
    up = copy_tree(str(src), f"s3://{bucket}/up/", dask_client=dask_client, **kw)
    down = copy_tree(f"s3://{bucket}/up/", str(tmp_path / "dst"), dask_client=dask_client, **kw)
    assert up.ok and down.ok and up.objects == down.objects == 15
    assert {str(p.relative_to(tmp_path / "dst")): p.read_bytes()
            for p in (tmp_path / "dst").rglob("*") if p.is_file()} == files


def test_cli_cp_recursive_on_a_dask_scheduler(dask_client: Any, moto_cluster: Any, bucket: str) -> None:
    b3 = moto_cluster.boto3_client()
    for i in range(10):
        b3.put_object(Bucket=bucket, Key=f"src/k{i}", Body=b"v" * i)
    opts = ["--endpoint-url", moto_cluster.endpoint_url, "--resolve",
            f"{moto_cluster.host}:{','.join(moto_cluster.ips)}"]
    address = dask_client.scheduler.address
    r = subprocess.run([sys.executable, "-m", "s3fast.cli", "cp", "-r", f"s3://{bucket}/src/", f"s3://{bucket}/dst/",
                        "--dask-scheduler", address, "--json", *opts], capture_output=True, timeout=180, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["objects"], out["bytes"], out["failed"]) == (10, sum(range(10)), [])
    assert out["dask"]["batches"] == 1 and out["dask"]["retried"] == 0
    got = read_all(moto_cluster, bucket, "dst/")
    assert got == {f"dst/k{i}": b"v" * i for i in range(10)}


@pytest.mark.parametrize("extra, fragment", [
    ([], "give --recursive"),
    (["-r", "--workers", "2"], "do not mix"),
])
def test_cli_dask_usage_errors(extra: list[str], fragment: str) -> None:
    r = subprocess.run([sys.executable, "-m", "s3fast.cli", "cp", "s3://b/src/", "s3://b/dst/",
                        "--dask-scheduler", "tcp://127.0.0.1:9", *extra], capture_output=True, timeout=60,
                       check=False)
    assert r.returncode == 2 and fragment in r.stderr.decode()
    assert len(r.stderr.decode().strip().splitlines()) == 1


def test_worker_runtime_is_one_loop_per_process_reused(dask_client: Any) -> None:
    def probe() -> tuple[int, int]:
        from s3fast.dask._worker import runtime

        rt = runtime()
        return os.getpid(), id(rt.loop)

    first = dask_client.run(probe)
    second = dask_client.run(probe)
    assert first == second and len({pid for pid, _ in first.values()}) == 2


def test_the_end_of_one_copy_leaves_a_client_another_copy_is_using_open(fault_cluster: Any) -> None:
    """Two copies with the same settings share a worker's client. The end of one closes the
    worker's clients (close_clients), but not one a running batch of the other holds: that
    batch goes on (here it is then stopped, and the client, idle, closes)."""
    import asyncio

    from s3fast.dask._worker import CopySpec, _Runtime
    from s3fast.tree._ops import dest_place, source_place

    bucket = fault_cluster.moto.make_bucket()
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="src/a", Body=b"abc")
    held = fault_cluster.add_rule(Rule(hold(60), method="PUT", path=r"/dst/a$"))
    rt = _Runtime()
    spec = CopySpec(kwargs_for(fault_cluster), SMALL, source_place(f"s3://{bucket}/src/"),
                    dest_place(f"s3://{bucket}/dst/"), run_id="other")
    try:
        running = asyncio.run_coroutine_threadsafe(rt.batch(spec, 0, [("a", 3, None, "src/a", "")], 1), rt.loop)
        held.wait_holding(1, timeout=30)
        assert rt.call(rt.close_clients()) == 0  # in use by the running batch: left open
        [client] = rt.clients.values()
        assert not client._closed
        assert rt.call(rt.stop("other")) == 1
        assert running.result(timeout=30).stopped
        assert rt.call(rt.close_clients()) == 1 and client._closed  # idle now
    finally:
        fault_cluster.clear_rules()
        rt.call(rt.close_clients())
        rt.loop.call_soon_threadsafe(rt.loop.stop)


def _thread_stacks() -> str:
    return "\n".join(f"--- thread {tid}\n" + "".join(traceback.format_stack(frame))
                     for tid, frame in sys._current_frames().items())


def _fail_with_stacks(proc: subprocess.Popen[bytes], dask_client: Any) -> None:
    """The command did not end after the signal (seen once in CI under load, not reproduced
    since): fail with where it and the workers were, not just a timeout."""
    try:
        workers = dask_client.run(_thread_stacks)
    except Exception as exc:  # noqa: BLE001 - a diagnostic only
        workers = {"(workers)": repr(exc)}
    proc.send_signal(signal.SIGABRT)
    _, err = proc.communicate(timeout=20)
    pytest.fail("the command did not end after the signal\n=== command\n" + err.decode(errors="replace")
                + "".join(f"\n=== worker {k}\n{v}" for k, v in workers.items()))


@pytest.mark.parametrize("sig, to_local", [(signal.SIGINT, False), (signal.SIGTERM, True)],
                         ids=["SIGINT-s3-to-s3", "SIGTERM-s3-to-local"])
def test_a_signal_stops_the_batches_running_on_the_workers(dask_client: Any, fault_cluster: Any, tmp_path: Path,
                                                          sig: signal.Signals, to_local: bool) -> None:
    """Ctrl-C / SIGTERM to ``cp -r --dask-scheduler``: the batches running on the workers are
    cancelled there (not left to run to their end), the multipart upload in flight is
    aborted, no partial file is named, the summary says what completed, exit 128+N.

    Every object but the first is held by the proxy (never reaching the server), and the big
    object's parts too, once its multipart upload exists: the signal goes when the server
    has the first object and a part is held, so the copy is mid-way on both workers."""
    bucket = fault_cluster.moto.make_bucket()
    b3 = fault_cluster.moto.boto3_client()
    small = {f"src/k{i:02d}": os.urandom(300) for i in range(20)}
    for k, v in {**small, "src/big": os.urandom(12 * MiB)}.items():
        b3.put_object(Bucket=bucket, Key=k, Body=v)
    if to_local:
        dst = str(tmp_path / "dst") + "/"
        method, small_path, big_path = "GET", r"/src/k", r"/src/big"
    else:
        dst = f"s3://{bucket}/dst/"
        method, small_path, big_path = "PUT", r"/dst/k", r"/dst/big\?partNumber="
    # The first small object passes (a throttle far above its size: a no-op); the rest wait.
    first = fault_cluster.add_rule(Rule(throttle(1e12), method=method, path=small_path, nth=1))
    fault_cluster.add_rule(Rule(hold(120), method=method, path=small_path))
    if to_local:  # the big download's first GET lands (5 MiB in the unnamed file), its ranges wait
        fault_cluster.add_rule(Rule(throttle(1e12), method="GET", path=big_path, nth=1))
    parts = fault_cluster.add_rule(Rule(hold(120), method=method, path=big_path))
    args = [sys.executable, "-m", "s3fast.cli", "cp", "-r", f"s3://{bucket}/src/", dst,
            "--dask-scheduler", dask_client.scheduler.address, "--dask-batch-size", "1KiB", "--part-size", "5MiB",
            "--endpoint-url", fault_cluster.endpoint_url, "--resolve",
            f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # SIGABRT dumps its threads
    try:
        first.wait_fired(1, timeout=120)
        if to_local:  # the first object's file has its name: it is done
            wait_until(lambda: any((tmp_path / "dst").glob("k*")), timeout=120)
        else:  # the server answered its CopyObject: it is done
            fault_cluster.wait_for_requests(lambda recs: any(
                r.method == "PUT" and re.search(small_path, r.target) and r.status == 200 for r in recs), timeout=120)
        parts.wait_holding(1, timeout=120)
        if not to_local:
            assert fault_cluster.moto.list_multipart_uploads(bucket), "the big object's upload should be open"
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            _fail_with_stacks(proc, dask_client)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 128 + sig, text
    assert "Traceback" not in text and text.strip().splitlines()[-1] == f"s3fast: interrupted by {sig.name}"
    assert out.decode().startswith("cp: interrupted after 1 objects, 300 B "), out
    # Nothing of this copy runs on any worker any more: it did not go on to its end.
    assert set(dask_client.run(running_batches).values()) == {0}
    if to_local:
        landed = sorted(p.name for p in (tmp_path / "dst").rglob("*"))
        assert len(landed) == 1 and (tmp_path / "dst" / landed[0]).read_bytes() == small[f"src/{landed[0]}"]
    else:
        assert fault_cluster.moto.list_multipart_uploads(bucket) == []
        got = read_all(fault_cluster, bucket, "dst/")
        assert len(got) == 1 and all(v == small["src/" + k[4:]] for k, v in got.items())
