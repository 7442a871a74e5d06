"""``s3fast cp --resumable`` downloads killed with SIGKILL at chosen points, then run again:
the rerun finishes byte-exact, fetching at most what the journal did not vouch for.

The kill points are reached through the fault proxy, never by time: a rule answers one
chosen request with a canned 503 (recorded at once), later requests are held, and the
test kills the process once the 503 is on record, so the process is provably past the
requests before it and cannot have gone further than the held ones.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import s3fast
from e2e_helpers import client_for, finish, run, start_cli
from s3fast.resume._download import download_identity
from s3fast.resume._log import journal_path
from support.faultcluster import FaultCluster
from support.faultrules import Rule, latency, respond, stall, throttle

MiB = 1024 * 1024
SIZE = 64 * MiB
PART = 8 * MiB
RANGES = SIZE // PART


def _cp(cluster: FaultCluster, bucket: str, key: str, dest: Path, state: Path, concurrency: int) -> list[str]:
    return ["cp", f"s3://{bucket}/{key}", str(dest), "--resumable", "--state-dir", str(state), "--part-size",
            "8MiB", "--concurrency", str(concurrency), "--progress", "off", "--json"]


def _accepted(cluster: FaultCluster) -> dict[str, int]:
    return {ip: p.connections_accepted for ip, p in cluster.proxies.items()}


def _get_bytes(cluster: FaultCluster, before: dict[str, int]) -> int:
    """GET payload bytes the proxies sent on connections accepted after ``before``."""
    return sum(r.bytes_down for r in cluster.requests if r.method == "GET" and r.conn_id > before[r.proxy])


def _spans(state: Path, bucket: str, key: str, dest: Path) -> list[dict[str, Any]]:
    path = journal_path(state, "download", download_identity(bucket, key, None, str(dest)))
    records = [json.loads(line.split(" ", 1)[1]) for line in path.read_text().splitlines()]
    assert records and records[0]["t"] == "plan"
    return [r for r in records[1:] if r["t"] == "range"]


def _put_full_object(cluster: FaultCluster, bucket: str, key: str) -> bytes:
    """A 64 MiB object uploaded by s3fast (8 MiB parts, a FULL_OBJECT CRC64NVME checksum)."""
    data = os.urandom(SIZE)

    async def go() -> None:
        async with client_for(cluster.moto, s3fast.TransferConfig(part_size=PART)) as c:
            await c.upload(data, f"s3://{bucket}/{key}")

    run(go())
    return data


def _kill_then_resume(cluster: FaultCluster, tmp_path: Path, bucket: str, key: str, data: bytes,
                      rules: list[Rule], reached: Any, concurrency: int) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """Run ``cp --resumable`` under ``rules``, SIGKILL it once ``reached(records)``, then run
    it again without faults. Returns the journaled ranges at the kill, the GET payload bytes
    of the rerun, and the rerun's JSON summary."""
    dest, state = tmp_path / "out.bin", tmp_path / "state"
    for rule in rules:
        cluster.add_rule(rule)
    proc = start_cli(cluster, *_cp(cluster, bucket, key, dest, state, concurrency))
    try:
        cluster.wait_for_requests(reached, timeout=90)
        proc.send_signal(signal.SIGKILL)
    finally:
        code, _, err = finish(proc)
    assert code == -signal.SIGKILL, err
    assert not dest.exists() and Path(str(dest) + ".s3fast-partial").exists()
    spans = _spans(state, bucket, key, dest)
    cluster.clear_rules()
    before = _accepted(cluster)
    code, out, err = finish(start_cli(cluster, *_cp(cluster, bucket, key, dest, state, 4)))
    assert code == 0, err
    assert dest.read_bytes() == data
    assert not Path(str(dest) + ".s3fast-partial").exists()
    assert list((state / "journals").iterdir()) == []
    return spans, _get_bytes(cluster, before), json.loads(out)


def _is_503(method: str, where: str) -> Any:
    return lambda recs: any(r.method == method and where in r.target and r.status == 503 for r in recs)


def test_killed_before_the_first_range_completes(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = _put_full_object(fault_cluster, bucket, "obj")
    # Every GET stops after 1 MiB, so no range can complete; the range plan's HEAD (sent
    # once the first GET's headers are in, and the plan journaled) gets a 503 first.
    rules = [Rule(respond(503, "SlowDown"), method="HEAD", path=r"partNumber=1", nth=1),
             Rule(stall(MiB, 60), method="GET", path=r"/obj")]
    spans, fetched, summary = _kill_then_resume(fault_cluster, tmp_path, bucket, "obj", data, rules,
                                                _is_503("HEAD", "partNumber=1"), concurrency=2)
    assert spans == []
    assert fetched <= SIZE
    assert summary["checksum"]["verified"] is True


def test_killed_mid_way(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = _put_full_object(fault_cluster, bucket, "obj")
    # One request at a time: GETs 1-4 pass, the 5th gets a 503, every later one is held.
    rules = [Rule(throttle(1e12), method="GET", path=r"/obj", times=4),
             Rule(respond(503, "SlowDown"), method="GET", path=r"/obj", nth=5),
             Rule(stall(0, 60), method="GET", path=r"/obj")]
    spans, fetched, summary = _kill_then_resume(fault_cluster, tmp_path, bucket, "obj", data, rules,
                                                _is_503("GET", "/obj"), concurrency=1)
    assert 2 <= len(spans) <= 4
    journaled = sum(s["len"] for s in spans)
    assert fetched <= SIZE - journaled
    assert summary["checksum"]["verified"] is True


def test_killed_after_the_last_range_before_the_rename(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """A COMPOSITE object is checked once every range is in, with a HEAD ?partNumber=1:
    holding that HEAD holds the process between its last range and the rename."""
    from test_composite import put_multipart

    bucket = fault_cluster.make_bucket()
    parts = [os.urandom(PART) for _ in range(RANGES)]
    data = b"".join(parts)
    put_multipart(fault_cluster.moto, bucket, "obj", parts)
    # HEAD ?partNumber=1 #1 plans the ranges; #2 is the check after the last range: a 503,
    # then its retry is held.
    rules = [Rule(respond(503, "SlowDown"), method="HEAD", path=r"partNumber=1", nth=2),
             Rule(latency(60), method="HEAD", path=r"partNumber=1", nth=3)]
    spans, fetched, summary = _kill_then_resume(fault_cluster, tmp_path, bucket, "obj", data, rules,
                                                _is_503("HEAD", "partNumber=1"), concurrency=4)
    assert sum(s["len"] for s in spans) == SIZE  # every range was journaled before the kill
    assert fetched == 0
    assert summary["checksum"]["verified"] is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_keeps_the_partial_file_and_says_how_to_resume(fault_cluster: FaultCluster, tmp_path: Path,
                                                                     sig: signal.Signals) -> None:
    bucket = fault_cluster.make_bucket()
    data = _put_full_object(fault_cluster, bucket, "obj")
    dest, state = tmp_path / "out.bin", tmp_path / "state"
    fault_cluster.add_rule(Rule(throttle(1e12), method="GET", path=r"/obj", times=2))
    fault_cluster.add_rule(Rule(respond(503, "SlowDown"), method="GET", path=r"/obj", nth=3))
    fault_cluster.add_rule(Rule(stall(0, 60), method="GET", path=r"/obj"))
    proc = start_cli(fault_cluster, *_cp(fault_cluster, bucket, "obj", dest, state, 1))
    try:
        fault_cluster.wait_for_requests(_is_503("GET", "/obj"), timeout=90)
        proc.send_signal(sig)
    finally:
        code, _, err = finish(proc)
    assert code == 128 + sig, err
    lines = err.decode().strip().splitlines()
    partial = str(dest) + ".s3fast-partial"
    assert len(lines) == 2 and partial in lines[0] and "run the same command again" in lines[0], lines
    assert lines[1] == f"s3fast: interrupted by {sig.name}"
    spans = _spans(state, bucket, "obj", dest)
    assert os.path.exists(partial) and len(spans) >= 1
    # `s3fast resume ls` names the kept download and where it goes.
    code, out, err = finish(start_cli(fault_cluster, "resume", "ls", "--state-dir", str(state)))
    assert code == 0, err
    listed = out.decode().strip().splitlines()
    assert len(listed) == 1 and listed[0].startswith("download") and f"s3://{bucket}/obj -> {dest}" in listed[0]
    assert listed[0].endswith("resumable"), listed
    fault_cluster.clear_rules()
    before = _accepted(fault_cluster)
    code, out, err = finish(start_cli(fault_cluster, *_cp(fault_cluster, bucket, "obj", dest, state, 4)))
    assert code == 0, err
    assert dest.read_bytes() == data
    journaled = sum(s["len"] for s in spans)
    assert _get_bytes(fault_cluster, before) <= SIZE - journaled
    summary = json.loads(out)
    assert summary["resumed"] is True and summary["parts_skipped"] == len(spans)
    assert summary["bytes_sent"] <= SIZE - journaled


def test_object_overwritten_before_the_rerun_starts_over_with_one_line(fault_cluster: FaultCluster,
                                                                       tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    _put_full_object(fault_cluster, bucket, "obj")
    dest, state = tmp_path / "out.bin", tmp_path / "state"
    fault_cluster.add_rule(Rule(throttle(1e12), method="GET", path=r"/obj", times=3))
    fault_cluster.add_rule(Rule(respond(503, "SlowDown"), method="GET", path=r"/obj", nth=4))
    fault_cluster.add_rule(Rule(stall(0, 60), method="GET", path=r"/obj"))
    proc = start_cli(fault_cluster, *_cp(fault_cluster, bucket, "obj", dest, state, 1))
    try:
        fault_cluster.wait_for_requests(_is_503("GET", "/obj"), timeout=90)
        proc.send_signal(signal.SIGKILL)
    finally:
        finish(proc)
    fault_cluster.clear_rules()
    new = _put_full_object(fault_cluster, bucket, "obj")
    code, out, err = finish(start_cli(fault_cluster, *_cp(fault_cluster, bucket, "obj", dest, state, 4)))
    assert code == 0, err
    assert dest.read_bytes() == new
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "s3fast: source changed since the interrupted run: starting over"), lines
    assert json.loads(out)["resumed"] is False


@pytest.mark.parametrize("dest", ["-", "/dev/null", "/dev/stdout"])
def test_resumable_to_a_stream_is_a_usage_error(fault_cluster: FaultCluster, tmp_path: Path, dest: str) -> None:
    bucket = fault_cluster.make_bucket()
    code, out, err = finish(start_cli(fault_cluster, "cp", f"s3://{bucket}/obj", dest, "--resumable", "--state-dir",
                                  str(tmp_path)))
    assert code == 2, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "resumable" in lines[0] and b"Traceback" not in err
    assert fault_cluster.requests == []
