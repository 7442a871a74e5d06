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
from e2e_helpers import finish
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


def _run(cluster: Any, cmd: list[str]) -> tuple[int, bytes, bytes]:
    return finish(_start(cluster, cmd))


def _is_part(rec: Any) -> bool:
    return rec.method == "PUT" and "partNumber=" in rec.target


def _acked_bytes(records: list[Any]) -> int:
    return sum(r.bytes_up for r in records if _is_part(r) and r.status == 200)


def _sent_bytes(records: list[Any]) -> int:
    """Payload of the distinct parts (or objects) PUT and stored: a retried or hedged
    duplicate of one part (a loaded machine makes some) is one part re-sent, not two, and
    the request the first run's kill left held at the proxy (its record may land after the
    reset) is not this run's."""
    per_target: dict[str, int] = {}
    for r in records:
        if r.method == "PUT" and r.status == 200:
            per_target[r.target] = max(per_target.get(r.target, 0), r.bytes_up)
    return sum(per_target.values())


def _journals(state: Path) -> list[Path]:
    d = state / "journals"
    return sorted(d.iterdir()) if d.exists() else []


def _kill_at(cluster: Any, rule: Rule, cmd: list[str], sig: int = signal.SIGKILL) -> tuple[int, bytes]:
    """Start the command, wait until ``rule`` holds a request of it, send ``sig``."""
    cluster.add_rule(rule)
    proc = _start(cluster, cmd)
    try:
        rule.wait_holding(1, timeout=90)
        proc.send_signal(sig)
    finally:
        code, _, err = finish(proc)
    cluster.clear_rules()
    # End every exchange the dead client left at the proxy now: a record committed later
    # would count as the next run's.
    for proxy in cluster.proxies.values():
        proxy.drop_connections()
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
    # CompleteMultipartUpload done by S3, its answer lost: the rerun finds the object whole
    "answer-of-complete-lost": (24 * MiB, Rule(hold(120, forward=True), method="POST", path=r"uploadId=")),
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
    if point in ("before-complete", "answer-of-complete-lost"):
        assert acked == size
    assert len(_journals(state)) == 1
    # kept for the next run (or completed by S3 when only the answer was lost)
    assert len(fault_cluster.list_multipart_uploads(bucket)) == (point != "answer-of-complete-lost")

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
    assert summary["bytes_sent"] == resent  # the parts this run sent (duplicates not counted)
    assert summary["parts_skipped"] * PART >= acked - (acked % PART)
    if point in ("before-complete", "answer-of-complete-lost"):
        assert resent == 0 and summary["parts_skipped"] == 5
    assert not any(r.method == "POST" and r.target.endswith("?uploads") for r in second)  # same upload
    if point == "answer-of-complete-lost":
        assert not any(r.method == "POST" for r in second)
        assert "s3fast: the interrupted upload had completed: nothing left to send" in err.decode()
    _check_object(fault_cluster, bucket, "big.bin", data)
    assert _journals(state) == []


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_keeps_the_upload_and_says_how_to_resume(fault_cluster, tmp_path: Path, signame: str) -> None:
    sig = getattr(signal, signame)
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    data = os.urandom(24 * MiB)
    src.write_bytes(data)
    state = tmp_path / "state"
    cmd = _cmd(fault_cluster, src, f"s3://{bucket}/big.bin", state, "--concurrency", "1")
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="PUT", path=r"partNumber=3&"), cmd, sig)
    assert code == 128 + sig, err
    lines = err.decode().strip().splitlines()
    assert lines == ["s3fast: the upload is kept; run the same command again to resume it",
                     f"s3fast: interrupted by {signame}"]
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


def _damage_plan(journal: Path, what: bytes) -> str:
    """Flip a bit of the character after ``what`` in the plan record (its CRC then fails);
    returns the upload id the plan held."""
    raw = bytearray(journal.read_bytes())
    plan_end = raw.index(b"\n")
    upload_id = json.loads(bytes(raw[9:plan_end]))["upload_id"]
    at = raw.index(what, 0, plan_end)
    raw[at + len(what)] ^= 0x20
    journal.write_bytes(bytes(raw))
    return str(upload_id)


def test_corrupt_journal_plan_aborts_the_upload_it_names(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (journal,) = _journals(state)
    old = _damage_plan(journal, b'"bucket":"')  # the upload id itself is still readable
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "unreadable" in lines[0] and f"aborted the interrupted run's upload {old}" in lines[0]
    assert json.loads(out)["resumed"] is False
    assert any(r.method == "DELETE" and old in r.target for r in fault_cluster.requests)
    _check_object(fault_cluster, bucket, "big.bin", src.read_bytes())  # no upload left open


def test_corrupt_upload_id_is_found_by_the_parts_the_journal_recorded(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (journal,) = _journals(state)
    # Another writer's upload of the same key (within the clock slack: a candidate): it must survive.
    s3 = fault_cluster.moto.boto3_client()
    other = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    for n in (1, 2, 3):  # parts of the same numbers and sizes as ours: only their ETags differ
        s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=other, PartNumber=n, Body=os.urandom(PART))
    ours = _damage_plan(journal, b'"upload_id":"')  # the id's first character damaged
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert f"aborted the interrupted run's upload {ours}" in err.decode() and "part(s)" in err.decode()
    left = [u["UploadId"] for u in fault_cluster.list_multipart_uploads(bucket)]
    assert left == [other]
    s3.abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=other)
    _check_object(fault_cluster, bucket, "big.bin", src.read_bytes())


def test_corrupt_plan_without_evidence_aborts_nothing_and_says_what_to_run(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    (journal,) = _journals(state)
    ours = _damage_plan(journal, b'"upload_id":"')
    journal.write_bytes(journal.read_bytes().split(b"\n", 1)[0] + b"\n")  # no part record left either
    s3 = fault_cluster.moto.boto3_client()
    other = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    (line,) = err.decode().strip().splitlines()
    assert "none is aborted" in line and f"s3fast mpu abort s3://{bucket}/big.bin --upload-id ID" in line
    assert ours in line and other in line
    assert not any(r.method == "DELETE" for r in fault_cluster.requests if ours in r.target or other in r.target)
    assert {u["UploadId"] for u in fault_cluster.list_multipart_uploads(bucket)} == {ours, other}
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == src.read_bytes()


def _resume_cmd(cluster: Any, state: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "s3fast.cli", "resume", *args, "--state-dir", str(state),
            "--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]


def test_resume_ls_and_clean_report_and_remove_stale_journals(fault_cluster, tmp_path: Path) -> None:
    bucket, src, state, _ = _interrupted(fault_cluster, tmp_path)
    code, out, err = _run(fault_cluster, _resume_cmd(fault_cluster, state, "ls", "--json"))
    assert code == 0, err
    (entry,) = [json.loads(line) for line in out.splitlines()]
    assert entry["stale"] is None and entry["kind"] == "upload" and entry["key"] == "big.bin"
    assert entry["source"] == os.path.realpath(src) and entry["parts"] >= 2

    # Nothing stale: clean leaves the journal and its upload alone.
    code, out, err = _run(fault_cluster, _resume_cmd(fault_cluster, state, "clean"))
    assert code == 0 and out == b"", err
    assert len(_journals(state)) == 1 and len(fault_cluster.list_multipart_uploads(bucket)) == 1

    src.unlink()
    code, out, err = _run(fault_cluster, _resume_cmd(fault_cluster, state, "ls"))
    assert code == 0, err
    assert b"stale: source file gone" in out
    code, out, err = _run(fault_cluster, _resume_cmd(fault_cluster, state, "clean"))
    assert code == 0, err
    assert b"removed upload journal" in out and b"(source file gone)" in out
    assert _journals(state) == []
    assert fault_cluster.list_multipart_uploads(bucket) == []  # its upload aborted too


def test_resume_ls_reports_an_upload_gone_from_s3(fault_cluster, tmp_path: Path) -> None:
    bucket, _, state, _ = _interrupted(fault_cluster, tmp_path)
    (up,) = fault_cluster.list_multipart_uploads(bucket)
    fault_cluster.moto.boto3_client().abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=up["UploadId"])
    code, out, err = _run(fault_cluster, _resume_cmd(fault_cluster, state, "ls"))
    assert code == 0, err
    assert b"stale: upload gone from S3" in out


def test_killed_tree_copy_resumes_without_resending_finished_objects(fault_cluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    tree = tmp_path / "tree"
    tree.mkdir()
    files = {f"f{i}.bin": os.urandom(256 * 1024 + i) for i in range(6)}
    files["big.bin"] = os.urandom(12 * MiB)  # multipart: resumed through its own journal
    for name, data in files.items():
        (tree / name).write_bytes(data)
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "s3fast.cli", "cp", "-r", str(tree), f"s3://{bucket}/t/", "--part-size", "5MiB",
           "--concurrency", "1", "--progress", "off", "--resumable", "--state-dir", str(state),
           "--resolve", f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"]
    # Whatever order the files go in, the first one held is where the run dies.
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="PUT", path=r"/t/f3\.bin|partNumber=2&"), cmd)
    assert code == -signal.SIGKILL, err
    (tree_journal,) = [p for p in _journals(state) if b'"t":"tree"' in p.read_bytes()]
    recorded = [json.loads(line.split(b" ", 1)[1])["path"] for line in tree_journal.read_bytes().splitlines()[1:]]
    assert recorded, "at least the object sent before the held one is recorded"

    for proxy in fault_cluster.proxies.values():
        proxy.reset_stats()
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    resent = {r.target.split("?")[0].rsplit("/", 1)[-1] for r in fault_cluster.requests if r.method == "PUT"}
    finished = {os.path.basename(p) for p in recorded}
    assert not (resent & finished), f"finished objects sent again: {resent & finished}"
    assert f"{len(finished)} skipped" in out.decode()
    s3 = fault_cluster.moto.boto3_client()
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"t/{name}")["Body"].read() == data
    assert fault_cluster.list_multipart_uploads(bucket) == []
    assert _journals(state) == []


def test_interrupt_before_the_resumed_upload_starts_keeps_the_journal(fault_cluster, tmp_path: Path) -> None:
    """Interrupted while asking S3 which parts it holds: the journal is not lost."""
    bucket, src, state, cmd = _interrupted(fault_cluster, tmp_path)
    code, err = _kill_at(fault_cluster, Rule(hold(120), method="GET", path=r"uploadId="), cmd, signal.SIGINT)
    assert code == 130, err
    assert len(_journals(state)) == 1 and len(fault_cluster.list_multipart_uploads(bucket)) == 1
    code, out, err = _run(fault_cluster, cmd)
    assert code == 0, err
    assert json.loads(out)["resumed"] is True
    _check_object(fault_cluster, bucket, "big.bin", src.read_bytes())
