"""``cp -r``, ``sync`` and ``mv`` with ``--resumable`` from S3 to a directory, killed mid-way
(SIGKILL, or stopped by SIGINT) and run again: objects the killed run finished are not
fetched again, the large object in flight continues from its partial file, and ``mv``
removes the sources of what the killed run had moved.

The kill point is a ``hold`` rule at the fault proxy on the Nth object GET, with one
request at a time (``--concurrency 1``): the requests before it are complete, no later
one has started. GETs are counted at the proxy, never timed.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest

from e2e_helpers import cluster_cli, finish, start_cli, wait_until
from s3fast.resume._download import download_identity
from s3fast.resume._log import journal_path
from support.faultcluster import FaultCluster
from support.faultrules import Rule, hold

MiB = 1024 * 1024
BIG = 12 * MiB  # three ranges of 5 MiB, 5 MiB and 2 MiB
#: object GETs (not the listing, whose target has no "/t/"); a range GET has no query
OBJECT_GET = r"/t/[^?]+$"


def _objects(cluster: FaultCluster, bucket: str) -> dict[str, bytes]:
    """Six small objects and a large one (plain PUTs: their ETags are their MD5s)."""
    files = {f"f{i}.bin": os.urandom(64 * 1024 + i) for i in range(6)}
    files["big.bin"] = os.urandom(BIG)
    s3 = cluster.moto.boto3_client()
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"t/{name}", Body=data)
    return files


def _args(command: str, src: str, dst: str, state: Path, *extra: str) -> list[str]:
    return [command, *(["-r"] if command in ("cp", "mv") else []), src, dst, "--resumable", "--state-dir",
            str(state), "--part-size", "5MiB", "--concurrency", "1", "--progress", "off", "--json", *extra]


def _kill_at_get(cluster: FaultCluster, nth: int, args: list[str], sig: int = signal.SIGKILL, *,
                 group: bool = False, ready: Callable[[], bool] | None = None) -> tuple[int, bytes]:
    """Run the command until the ``nth`` object GET is held (and ``ready()``, when given),
    then send ``sig`` (``group``: to its whole process group, worker processes included, as
    a terminal's Ctrl-C or a ``kill -9 -PGID`` does)."""
    rule = cluster.add_rule(Rule(hold(120), method="GET", path=OBJECT_GET, nth=nth))
    proc = start_cli(cluster, *args, group=group)
    try:
        rule.wait_holding(1, timeout=90)
        if ready is not None:
            wait_until(ready, timeout=60)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    finally:
        code, _, err = finish(proc)
    cluster.clear_rules()
    for proxy in cluster.proxies.values():  # end what the dead client left at the proxy
        proxy.drop_connections()
        proxy.reset_stats()
    return code, err


def _tree_records(state: Path) -> list[dict[str, Any]]:
    """The done records of the one tree journal in ``state``."""
    (journal,) = [p for p in (state / "journals").iterdir() if b'"t":"tree"' in p.read_bytes()]
    return [json.loads(line.split(b" ", 1)[1]) for line in journal.read_bytes().splitlines()[1:]]


def _journal_has_records(state: Path) -> bool:
    journals = state / "journals"
    return journals.is_dir() and any(b'"t":"tree"' in p.read_bytes() and p.read_bytes().count(b"\n") > 1
                                     for p in journals.iterdir())


def _journaled_range_bytes(state: Path, bucket: str, dest: Path) -> int:
    path = journal_path(state, "download", download_identity(bucket, "t/big.bin", None, str(dest / "big.bin")))
    if not path.exists():
        return 0
    records = [json.loads(line.split(b" ", 1)[1]) for line in path.read_bytes().splitlines()]
    return sum(r["len"] for r in records[1:] if r.get("t") == "range")


def _gets(cluster: FaultCluster) -> dict[str, int]:
    """Object name -> payload bytes the proxies sent for its GETs."""
    out: dict[str, int] = {}
    for r in cluster.requests:
        if r.method == "GET" and "/t/" in r.target and "?" not in r.target:
            name = r.target.rsplit("/", 1)[-1]
            out[name] = out.get(name, 0) + r.bytes_down
    return out


def _check_tree(dest: Path, files: dict[str, bytes], state: Path) -> None:
    for name, data in files.items():
        assert (dest / name).read_bytes() == data, name
    assert not [p for p in dest.iterdir() if p.name.endswith(".s3fast-partial")]
    assert list((state / "journals").iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_tree_download_resumes_without_fetching_finished_objects(fault_cluster: FaultCluster,
                                                                        tmp_path: Path, sig: int) -> None:
    bucket = fault_cluster.make_bucket()
    files = _objects(fault_cluster, bucket)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = _args("cp", f"s3://{bucket}/t/", str(dest), state)
    code, err = _kill_at_get(fault_cluster, 6, args, sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), err
    if sig == signal.SIGINT:
        assert err.decode().strip().splitlines() == [
            "s3fast: what was done is journaled; run the same command again to resume",
            "s3fast: interrupted by SIGINT"], err
    recorded = {os.path.basename(r["path"]) for r in _tree_records(state)}
    assert recorded, "five GETs completed (at most three of the large object's): small objects are done"
    ranges = _journaled_range_bytes(state, bucket, dest)

    code, out, err = cluster_cli(fault_cluster, *args)
    assert code == 0, err
    fetched = _gets(fault_cluster)
    assert not recorded & set(fetched), f"finished objects fetched again: {recorded & set(fetched)}"
    assert fetched.get("big.bin", 0) <= BIG - ranges  # the large one continued from its partial file
    summary = json.loads(out)
    assert summary["resumed"] is True and summary["skipped"] >= len(recorded)
    assert summary["objects"] + summary["skipped"] == len(files)
    assert BIG - ranges <= summary["bytes_sent"] <= sum(fetched.values())
    if ranges:
        assert summary["parts_skipped"] >= 1
    _check_tree(dest, files, state)


def test_files_present_but_not_recorded_are_checked_not_fetched(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """Killed between naming a file and recording it: the rerun proves the file is the
    object's (its MD5 is the object's ETag) instead of fetching it; a file whose bytes differ
    is fetched again."""
    bucket = fault_cluster.make_bucket()
    files = _objects(fault_cluster, bucket)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = _args("cp", f"s3://{bucket}/t/", str(dest), state)
    _kill_at_get(fault_cluster, 6, args)
    done = sorted(os.path.basename(r["path"]) for r in _tree_records(state))
    assert len(done) >= 2
    (journal,) = [p for p in (state / "journals").iterdir() if b'"t":"tree"' in p.read_bytes()]
    journal.write_bytes(journal.read_bytes().split(b"\n", 1)[0] + b"\n")  # the records lost
    tampered = dest / done[0]
    raw = bytearray(tampered.read_bytes())
    raw[100] ^= 1  # same size, other bytes
    tampered.write_bytes(bytes(raw))

    code, out, err = cluster_cli(fault_cluster, *args)
    assert code == 0, err
    fetched = _gets(fault_cluster)
    assert set(done[1:]).isdisjoint(fetched), fetched
    assert done[0] in fetched
    _check_tree(dest, files, state)


def test_sync_resumes_the_large_object_from_its_partial_file(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    s3 = fault_cluster.moto.boto3_client()
    big = os.urandom(BIG)
    s3.put_object(Bucket=bucket, Key="t/big.bin", Body=big)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = _args("sync", f"s3://{bucket}/t/", str(dest), state)
    _kill_at_get(fault_cluster, 2, args)  # the first range landed and is journaled, the second held
    ranges = _journaled_range_bytes(state, bucket, dest)
    assert ranges >= 5 * MiB
    code, out, err = cluster_cli(fault_cluster, *args)
    assert code == 0, err
    assert _gets(fault_cluster).get("big.bin", 0) <= BIG - ranges
    summary = json.loads(out)
    assert summary["resumed"] is True and summary["parts_skipped"] >= 1 and summary["bytes_sent"] <= BIG - ranges
    _check_tree(dest, {"big.bin": big}, state)


def test_sync_upload_trusts_the_destination_listing_over_the_journal(fault_cluster: FaultCluster,
                                                                     tmp_path: Path) -> None:
    """An object the killed sync uploaded, deleted from S3 before the rerun: the journal says
    done, the listing says missing, and the listing wins: it is uploaded again."""
    bucket = fault_cluster.make_bucket()
    src, state = tmp_path / "src", tmp_path / "state"
    src.mkdir()
    files = {f"f{i}.bin": os.urandom(64 * 1024 + i) for i in range(6)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    args = _args("sync", str(src), f"s3://{bucket}/t/", state)
    rule = fault_cluster.add_rule(Rule(hold(120), method="PUT", path=r"/t/", nth=4))
    proc = start_cli(fault_cluster, *args)
    try:
        rule.wait_holding(1, timeout=90)
        proc.send_signal(signal.SIGKILL)
    finally:
        finish(proc)
    fault_cluster.clear_rules()
    for proxy in fault_cluster.proxies.values():
        proxy.drop_connections()
        proxy.reset_stats()
    recorded = sorted(os.path.basename(r["path"]) for r in _tree_records(state))
    assert recorded
    s3 = fault_cluster.moto.boto3_client()
    s3.delete_object(Bucket=bucket, Key=f"t/{recorded[0]}")
    code, out, err = cluster_cli(fault_cluster, *args)
    assert code == 0, err
    put = {r.target.rsplit("/", 1)[-1] for r in fault_cluster.requests if r.method == "PUT"}
    assert recorded[0] in put and not set(recorded[1:]) & put
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"t/{name}")["Body"].read() == data
    assert list((state / "journals").iterdir()) == []


def test_mv_rerun_removes_the_sources_the_killed_run_had_moved(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """``mv`` deletes S3 sources in batches after their downloads: a run killed before the
    batch leaves sources of finished objects; the rerun skips those objects and deletes
    their sources, and a source goes only once its object is at the destination."""
    bucket = fault_cluster.make_bucket()
    files = _objects(fault_cluster, bucket)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = _args("mv", f"s3://{bucket}/t/", str(dest), state)
    _kill_at_get(fault_cluster, 6, args)
    recorded = {os.path.basename(r["path"]) for r in _tree_records(state)}
    s3 = fault_cluster.moto.boto3_client()
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert {f"t/{n}" for n in recorded} <= left  # their sources were not deleted yet

    code, out, err = cluster_cli(fault_cluster, *args)
    assert code == 0, err
    assert not recorded & set(_gets(fault_cluster))
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # every source moved
    assert json.loads(out)["deleted"] == len(files)
    _check_tree(dest, files, state)


@pytest.mark.parametrize("first, second", [("2", "1"), ("1", "2")])
def test_killed_tree_resumes_with_another_worker_count(fault_cluster: FaultCluster, tmp_path: Path,
                                                       first: str, second: str) -> None:
    """With ``--workers 2`` the parent keeps the tree journal (it records what the workers
    report, and skips what is recorded before handing out): a run killed (its whole process
    group) with one worker count resumes with the other, fetching nothing recorded again."""
    bucket = fault_cluster.make_bucket()
    files = _objects(fault_cluster, bucket)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = _args("cp", f"s3://{bucket}/t/", str(dest), state)
    # The kill waits for the parent to journal a finished object: a worker hands its
    # results back within 10 ms, a race with the 6th GET on a loaded machine.
    code, err = _kill_at_get(fault_cluster, 6, [*args, "--workers", first], group=True,
                             ready=lambda: _journal_has_records(state))
    assert code == -signal.SIGKILL, err
    recorded = {os.path.basename(r["path"]) for r in _tree_records(state)}
    assert recorded, "five GETs completed: objects are done and recorded"
    code, out, err = cluster_cli(fault_cluster, *args, "--workers", second)
    assert code == 0, err
    assert not recorded & set(_gets(fault_cluster))
    summary = json.loads(out)
    assert summary["resumed"] is True and summary["skipped"] >= len(recorded)
    _check_tree(dest, files, state)


@pytest.mark.parametrize("extra, words", [
    (["--dryrun"], "dry run"),
    (["--dask-scheduler", "tcp://127.0.0.1:1"], "dask"),
])
def test_what_resumable_trees_refuse_is_a_usage_error(fault_cluster: FaultCluster, tmp_path: Path,
                                                      extra: list[str], words: str) -> None:
    bucket = fault_cluster.make_bucket()
    code, _, err = cluster_cli(fault_cluster, *_args("cp", f"s3://{bucket}/t/", str(tmp_path / "o"),
                                                     tmp_path / "s", *extra))
    assert code == 2 and len(err.decode().strip().splitlines()) == 1 and words in err.decode(), err
    code, _, err = cluster_cli(fault_cluster, "cp", "-r", f"s3://{bucket}/t/", f"s3://{bucket}/u/", "--resumable")
    assert code == 2 and b"inside S3" in err, err
    assert fault_cluster.requests == []


def test_unchanged_resumable_sync_on_workers_closes_its_journal(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """With ``--workers 2`` the parent answers unchanged objects itself and no worker starts;
    the tree's journal is still closed and removed (a kept one would make the next run a
    resume of nothing)."""
    bucket = fault_cluster.make_bucket()
    files = _objects(fault_cluster, bucket)
    dest, state = tmp_path / "out", tmp_path / "state"
    args = [*_args("sync", f"s3://{bucket}/t/", str(dest), state), "--workers", "2"]
    for _ in range(2):
        code, out, err = cluster_cli(fault_cluster, *args)
        assert code == 0, err
    summary = json.loads(out)
    assert summary["skipped"] == len(files) and summary["objects"] == 0 and summary["resumed"] is False
    _check_tree(dest, files, state)
