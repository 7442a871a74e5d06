"""``s3fast cp FILE s3://... --resumable`` killed (SIGKILL) or interrupted at chosen points,
then run again: it continues the same multipart upload, sends only what S3 lacks, and
the object is byte-exact with the right full-object CRC64NVME.

Synchronisation is on the fault proxy, never on time: a ``hold`` rule swallows one
request (the server never sees it) and ``wait_fired`` says the client is now waiting on
it; only then is the process killed. Bytes re-sent are counted by the proxy.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.faultrules import Rule, hold

from s3fast import _checksum

MiB = 1024 * 1024
PART = 5 * MiB
CRC64 = _checksum.get("crc64nvme")


def _cmd(cluster: Any, src: Path, url: str, state: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "s3fast.cli", "cp", str(src), url, "--part-size", "5MiB", "--progress", "off",
            "--resumable", "--state-dir", str(state), "--resolve", f"{cluster.host}:{','.join(cluster.ips)}",
            *extra]


def _env(cluster: Any) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url, "AWS_EC2_METADATA_DISABLED": "true"}


def _start(cluster: Any, cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=_env(cluster), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _run(cluster: Any, cmd: list[str]) -> tuple[int, bytes, bytes]:
    return _finish(_start(cluster, cmd))


def _is_part(rec: Any) -> bool:
    return rec.method == "PUT" and "partNumber=" in rec.target


def _acked_bytes(records: list[Any]) -> int:
    return sum(r.bytes_up for r in records if _is_part(r) and r.status == 200)


def _sent_bytes(records: list[Any]) -> int:
    return sum(r.bytes_up for r in records if r.method == "PUT")


def _journals(state: Path) -> list[Path]:
    d = state / "journals"
    return sorted(d.iterdir()) if d.exists() else []


def _kill_at(cluster: Any, rule: Rule, cmd: list[str], sig: int = signal.SIGKILL) -> tuple[int, bytes]:
    """Start the command, wait until ``rule`` holds a request of it, send ``sig``."""
    cluster.add_rule(rule)
    proc = _start(cluster, cmd)
    try:
        rule.wait_fired(1, timeout=90)
        proc.send_signal(sig)
    finally:
        code, _, err = _finish(proc)
    cluster.clear_rules()
    return code, err


def _check_object(cluster: Any, bucket: str, key: str, data: bytes) -> None:
    s3 = cluster.moto.boto3_client()
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert head["ChecksumCRC64NVME"] == CRC64.encode(CRC64.of(data))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert cluster.list_multipart_uploads(bucket) == []


# The point where the first run dies: a hold on the request named, the server never sees it.
POINTS = {
    # every part is held: nothing acknowledged, the journal holds only the plan
    "before-first-part": (24 * MiB, Rule(hold(120), method="PUT", path=r"partNumber=")),
    # part 7 of 13 is held; with 2 requests in flight at least 5 parts are acknowledged
    "mid-way": (64 * MiB, Rule(hold(120), method="PUT", path=r"partNumber=7&")),
    # every part acknowledged, CompleteMultipartUpload held
    "before-complete": (24 * MiB, Rule(hold(120), method="POST", path=r"uploadId=")),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_upload_resumes_byte_exact(fault_cluster, tmp_path: Path, point: str) -> None:
    size, rule = POINTS[point]
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    state = tmp_path / "state"
    cmd = _cmd(fault_cluster, src, f"s3://{bucket}/big.bin", state, "--concurrency", "2", "--json")

    code, err = _kill_at(fault_cluster, rule, cmd)
    assert code == -signal.SIGKILL, err
    first = fault_cluster.requests
    acked = _acked_bytes(first)
    if point == "before-complete":
        assert acked == size
    assert len(_journals(state)) == 1
    assert len(fault_cluster.list_multipart_uploads(bucket)) == 1  # kept for the next run

    for proxy in fault_cluster.proxies.values():
        proxy.reset_stats()
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    summary = json.loads(out)
    second = fault_cluster.requests
    resent = _sent_bytes(second)
    # Bytes re-sent: at most the parts the first run did not get acknowledged.
    assert resent <= size - acked
    assert summary["resumed"] is True
    assert summary["bytes_sent"] == resent
    assert summary["parts_skipped"] * PART >= acked - (acked % PART)
    if point == "before-complete":
        assert resent == 0 and summary["parts_skipped"] == 5
    assert not any(r.method == "POST" and r.target.endswith("?uploads") for r in second)  # same upload
    _check_object(fault_cluster, bucket, "big.bin", data)
    assert _journals(state) == []


def test_sigint_keeps_the_upload_and_says_how_to_resume(fault_cluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    data = os.urandom(24 * MiB)
    src.write_bytes(data)
    state = tmp_path / "state"
    cmd = _cmd(fault_cluster, src, f"s3://{bucket}/big.bin", state, "--concurrency", "1")
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="PUT", path=r"partNumber=3&"), cmd, signal.SIGINT)
    assert code == 130, err
    lines = err.decode().strip().splitlines()
    assert lines == ["s3fast: the upload is kept; run the same command again to resume it",
                     "s3fast: interrupted by SIGINT"]
    assert len(fault_cluster.list_multipart_uploads(bucket)) == 1
    assert not any(r.method == "DELETE" for r in fault_cluster.requests)
    assert len(_journals(state)) == 1

    for proxy in fault_cluster.proxies.values():
        proxy.reset_stats()
    code, _, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert _sent_bytes(fault_cluster.requests) <= 24 * MiB - 2 * PART
    _check_object(fault_cluster, bucket, "big.bin", data)


def test_sigint_without_resumable_still_aborts(fault_cluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(24 * MiB))
    cmd = [c for c in _cmd(fault_cluster, src, f"s3://{bucket}/big.bin", tmp_path / "state", "--concurrency", "1")
           if c != "--resumable"]
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="PUT", path=r"partNumber=3&"), cmd, signal.SIGINT)
    assert code == 130, err
    assert err.decode().strip().splitlines() == ["s3fast: interrupted by SIGINT"]
    assert fault_cluster.list_multipart_uploads(bucket) == []
    assert _journals(tmp_path / "state") == []


def _interrupted(fault_cluster: Any, tmp_path: Path, size: int = 24 * MiB) -> tuple[str, Path, Path, list[str]]:
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(size))
    state = tmp_path / "state"
    cmd = _cmd(fault_cluster, src, f"s3://{bucket}/big.bin", state, "--concurrency", "1", "--json")
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="PUT", path=r"partNumber=4&"), cmd)
    assert code == -signal.SIGKILL, err
    return bucket, src, state, cmd


def test_source_modified_between_runs_starts_over(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (old_upload,) = fault_cluster.list_multipart_uploads(bucket)
    data = os.urandom(24 * MiB)  # same size: only mtime/inode tell
    src.write_bytes(data)
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert "s3fast: source changed since the interrupted run: starting over" in err.decode().splitlines()
    summary = json.loads(out)
    assert summary["resumed"] is False and summary["parts_skipped"] == 0 and summary["bytes_sent"] == len(data)
    _check_object(fault_cluster, bucket, "big.bin", data)  # the old upload was aborted too
    assert old_upload["UploadId"] != summary.get("upload_id")


def test_upload_gone_from_s3_starts_over(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (up,) = fault_cluster.list_multipart_uploads(bucket)
    fault_cluster.moto.boto3_client().abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=up["UploadId"])
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert any("no longer in S3" in line for line in err.decode().splitlines())
    assert json.loads(out)["resumed"] is False
    _check_object(fault_cluster, bucket, "big.bin", src.read_bytes())


def test_torn_journal_tail_resumes_from_the_intact_records(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (journal,) = _journals(state)
    raw = journal.read_bytes()
    assert raw.count(b"\n") >= 2  # the plan and at least one part
    journal.write_bytes(raw[:-7])  # the last part's record torn mid-line
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert "damaged tail" in err.decode()
    summary = json.loads(out)
    # The part whose record was torn is still in S3: ListParts finds it, its bytes are
    # checked against the file, and it is not sent again.
    assert summary["resumed"] is True and summary["parts_skipped"] >= 3
    _check_object(fault_cluster, bucket, "big.bin", src.read_bytes())


def test_corrupt_journal_plan_starts_over(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (journal,) = _journals(state)
    raw = bytearray(journal.read_bytes())
    raw[12] ^= 0x20  # a flipped bit inside the plan record: its CRC fails
    journal.write_bytes(bytes(raw))
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert "damaged" in err.decode()
    assert json.loads(out)["resumed"] is False
    s3 = fault_cluster.moto.boto3_client()
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == src.read_bytes()
