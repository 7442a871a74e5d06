"""Resumable downloads through the API (``resumable=True``), against moto behind the fault
proxy: an interrupted download continues from its journal, fetching only what the journal
does not vouch for, and never mixes two versions of an object."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import s3fast
from e2e_helpers import QUICK_RETRY, client_for, run
from s3fast._results import Checksum
from s3fast._events import Notice, TransferFailed
from s3fast.resume._download import STARTING_OVER, download_identity
from s3fast.resume._log import journal_path
from support.faultcluster import FaultCluster
from support.faultrules import Rule, corrupt, respond

MiB = s3fast.MiB
SIZE = 64 * MiB
PART = 8 * MiB
#: one request at a time: which ranges are done when the test stops the download is then
#: decided by the order of requests, not by timing
SERIAL = s3fast.TransferConfig(part_size=PART, multipart_threshold=PART, max_concurrency=1, retry=QUICK_RETRY)


def _put(cluster: FaultCluster, bucket: str, key: str, data: bytes) -> None:
    async def go() -> None:
        async with client_for(cluster.moto, s3fast.TransferConfig(part_size=PART)) as c:
            await c.upload(data, f"s3://{bucket}/{key}")
    run(go())


def _client(cluster: FaultCluster, config: s3fast.TransferConfig, state: Path) -> s3fast.Client:
    return client_for(cluster, config, state_dir=state)


def _journal(state: Path, bucket: str, key: str, dest: Path) -> Path:
    return journal_path(state, "download", download_identity(bucket, key, None, str(dest)))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line.split(" ", 1)[1]) for line in path.read_text().splitlines()]


def _get_bytes(cluster: FaultCluster, before: dict[str, int]) -> int:
    """Payload bytes the proxies sent for GETs on connections accepted after ``before``
    (a later client's: an earlier client's cancelled request may be recorded late)."""
    return sum(r.bytes_down for r in cluster.requests if r.method == "GET" and r.conn_id > before[r.proxy])


class _Heard:
    """A subscriber keeping the notices and how the transfer failed."""

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.failed: list[TransferFailed] = []

    def __call__(self, event: object) -> None:
        if isinstance(event, Notice):
            self.notices.append(event.message)
        elif isinstance(event, TransferFailed):
            self.failed.append(event)


def _interrupt_after(cluster: FaultCluster, bucket: str, key: str, dest: Path, state: Path, ranges: int,
                     config: s3fast.TransferConfig = SERIAL) -> _Heard:
    """Start a resumable download and cancel it once ``ranges`` ranges are done (a Ctrl-C in
    the API's terms); return what its subscriber heard."""
    heard = _Heard()

    async def go() -> None:
        async with _client(cluster, config, state) as c:
            done = 0
            task: asyncio.Task[Any] | None = None

            def on_part(event: Any) -> None:
                nonlocal done
                done += 1
                if done == ranges and task is not None:
                    task.cancel()

            task = asyncio.ensure_future(c.download(f"s3://{bucket}/{key}", dest, resumable=True,
                                                    on_part=on_part, subscribers=[heard]))
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    return heard


def _resume(cluster: FaultCluster, bucket: str, key: str, dest: Path, state: Path,
            config: s3fast.TransferConfig = SERIAL) -> tuple[s3fast.TransferResult, list[str]]:
    heard = _Heard()

    async def go() -> s3fast.TransferResult:
        async with _client(cluster, config, state) as c:
            return await c.download(f"s3://{bucket}/{key}", dest, resumable=True, subscribers=[heard])

    return run(go()), heard.notices


def _count_requests(cluster: FaultCluster) -> dict[str, int]:
    """Connections accepted so far, per proxy (to tell a later client's requests)."""
    return {ip: proxy.connections_accepted for ip, proxy in cluster.proxies.items()}


def test_interrupted_download_resumes_fetching_only_what_the_journal_lacks(fault_cluster: FaultCluster,
                                                                         tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "big", data)
    dest, state = tmp_path / "big.bin", tmp_path / "state"
    heard = _interrupt_after(fault_cluster, bucket, "big", dest, state, ranges=3)
    partial = Path(str(dest) + ".s3fast-partial")
    journal = _journal(state, bucket, "big", dest)
    assert not dest.exists() and partial.exists() and journal.exists()
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    assert [f.resumable for f in heard.failed] == [True] and heard.notices == []
    spans = [r for r in _records(journal) if r["t"] == "range"]
    assert 3 <= len(spans) < SIZE // PART
    journaled = sum(r["len"] for r in spans)

    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "big", dest, state)
    assert dest.read_bytes() == data
    assert result.checksum_verified and result.checksum is not None and result.checksum.algorithm == "crc64nvme"
    # The second run fetched at most what the journal did not vouch for.
    assert _get_bytes(fault_cluster, before) <= SIZE - journaled
    assert not partial.exists() and not journal.exists()
    assert notices == []
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~_umask()
    assert result.resumed and result.parts_skipped == len(spans)
    assert result.bytes_sent is not None and result.bytes_sent <= SIZE - journaled


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_object_overwritten_between_runs_starts_over(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    _put(fault_cluster, bucket, "obj", os.urandom(SIZE))
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=2)
    new = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", new)
    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "obj", dest, state)
    assert dest.read_bytes() == new  # never a mix of the two versions
    assert result.checksum_verified
    assert [n for n in notices if n.startswith(STARTING_OVER)] and len(notices) == 1, notices
    assert _get_bytes(fault_cluster, before) >= SIZE  # everything fetched again
    assert not Path(str(dest) + ".s3fast-partial").exists()


def test_partial_file_tampered_with_is_detected_and_refetched(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=3)
    partial = Path(str(dest) + ".s3fast-partial")
    spans = [r for r in _records(_journal(state, bucket, "obj", dest)) if r["t"] == "range"]
    victim = spans[1]
    with open(partial, "r+b") as f:  # one byte inside a journaled range
        f.seek(victim["off"] + 12345)
        byte = f.read(1)
        f.seek(victim["off"] + 12345)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "obj", dest, state)
    assert dest.read_bytes() == data and result.checksum_verified
    assert any("do not match the partial file" in n for n in notices), notices
    journaled = sum(r["len"] for r in spans)
    assert _get_bytes(fault_cluster, before) <= SIZE - journaled + victim["len"]


@pytest.mark.parametrize("damage", ["torn-tail", "corrupt-middle", "corrupt-plan", "garbage"])
def test_damaged_journal_resumes_from_what_is_intact_or_starts_over(fault_cluster: FaultCluster, tmp_path: Path,
                                                                   damage: str) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=4)
    journal = _journal(state, bucket, "obj", dest)
    lines = journal.read_bytes().splitlines(keepends=True)
    if damage == "torn-tail":
        lines[-1] = lines[-1][:len(lines[-1]) // 2]
    elif damage == "corrupt-middle":
        lines[2] = lines[2].replace(b'"len"', b'"lEn"')
    elif damage == "corrupt-plan":
        lines[0] = lines[0].replace(b'"size"', b'"sIze"')
    else:
        lines = [b"\x00\xffnot a journal at all\n" * 3]
    journal.write_bytes(b"".join(lines))
    intact = {"torn-tail": len(lines) - 2, "corrupt-middle": 1, "corrupt-plan": 0, "garbage": 0}[damage]
    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "obj", dest, state)
    assert dest.read_bytes() == data and result.checksum_verified
    fetched = _get_bytes(fault_cluster, before)
    if intact:
        assert fetched <= SIZE - intact * PART
    else:  # a fresh start (whose first GET may overfetch into socket buffers)
        assert fetched >= SIZE and any("no usable plan" in n for n in notices), notices
    assert not journal.exists()


def test_object_changing_during_the_resumed_run_starts_over_once(fault_cluster: FaultCluster,
                                                                 tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=2)
    # The object "changes" after the rerun's HEAD: its first range gets 412 (If-Match failed).
    rule = fault_cluster.add_rule(Rule(respond(412, "PreconditionFailed"), method="GET", path=r"/obj", nth=1))
    result, notices = _resume(fault_cluster, bucket, "obj", dest, state)
    assert rule.fired == 1
    assert dest.read_bytes() == data and result.checksum_verified
    assert any(n.startswith(STARTING_OVER) for n in notices), notices


def test_a_restart_after_a_412_counts_each_byte_once(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """Progress after a rerun meets a 412 and starts over: the bytes of the abandoned attempt
    are withdrawn, so what the subscribers summed is the object's size, not more."""
    from s3fast._events import BytesMoved, TransferStarted
    from s3fast.cli._progress import Progress

    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=2)
    # The rerun's first range lands (8 MiB counted), its second gets 412: a fresh start.
    rule = fault_cluster.add_rule(Rule(respond(412, "PreconditionFailed"), method="GET", path=r"/obj", nth=2))
    moved: list[int] = []
    skipped: list[int] = []

    def count(event: object) -> None:
        if isinstance(event, BytesMoved):
            moved.append(event.n)
        elif isinstance(event, TransferStarted):
            skipped.append(event.skipped_bytes)

    async def go() -> s3fast.TransferResult:
        async with _client(fault_cluster, SERIAL, state) as c:
            return await c.download(f"s3://{bucket}/obj", dest, resumable=True,
                                    subscribers=[count, shown.on_event])

    shown = Progress(SIZE, None, mode="log")  # what `s3fast cp` shows, fed the same events
    result = run(go())
    assert rule.fired == 1 and dest.read_bytes() == data
    assert skipped == [2 * PART, 0]  # the resumed start, then the fresh one
    assert sum(moved) == SIZE  # each byte of the object counted once
    assert result.bytes_sent is not None and result.bytes_sent >= SIZE + PART  # the network did carry more
    assert shown.done == SIZE


def test_changed_during_a_fresh_run_leaves_nothing(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    _put(fault_cluster, bucket, "obj", os.urandom(SIZE))
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    fault_cluster.add_rule(Rule(respond(412, "PreconditionFailed"), method="GET", path=r"/obj", nth=3))

    async def go() -> None:
        async with _client(fault_cluster, SERIAL, state) as c:
            with pytest.raises(s3fast.PreconditionFailed, match="changed during the download"):
                await c.download(f"s3://{bucket}/obj", dest, resumable=True)

    run(go())
    assert list(tmp_path.iterdir()) == [state] and not _journal(state, bucket, "obj", dest).exists()


def test_checksum_mismatch_keeps_nothing(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    _put(fault_cluster, bucket, "obj", os.urandom(SIZE))
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    fault_cluster.add_rule(Rule(corrupt(777), method="GET", path=r"/obj", nth=2))

    async def go() -> None:
        async with _client(fault_cluster, SERIAL, state) as c:
            with pytest.raises(s3fast.ChecksumMismatch):
                await c.download(f"s3://{bucket}/obj", dest, resumable=True)

    run(go())
    assert list(tmp_path.iterdir()) == [state] and not _journal(state, bucket, "obj", dest).exists()


def test_a_link_planted_at_the_partial_name_is_not_followed(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(3 * PART + 5)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    os.symlink(target, str(dest) + ".s3fast-partial")
    result, _ = _resume(fault_cluster, bucket, "obj", dest, state)
    assert dest.read_bytes() == data and result.checksum_verified
    assert target.read_bytes() == b"keep me"
    assert not os.path.lexists(str(dest) + ".s3fast-partial")


def test_resumable_needs_a_regular_file_destination(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    _put(fault_cluster, bucket, "obj", b"x" * 100)

    async def go() -> None:
        async with _client(fault_cluster, SERIAL, tmp_path) as c:
            for dest in (bytearray(), "/dev/null"):
                with pytest.raises(s3fast.ConfigError, match="resumable"):
                    await c.download(f"s3://{bucket}/obj", dest, resumable=True)

    before = _count_requests(fault_cluster)
    run(go())
    assert _count_requests(fault_cluster) == before  # refused before anything was sent


def test_small_object_and_notices_through_the_logger(fault_cluster: FaultCluster, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    bucket = fault_cluster.make_bucket()
    _put(fault_cluster, bucket, "small", b"tiny")
    dest, state = tmp_path / "small.bin", tmp_path / "state"
    # A journal left by a run that never got to a plan: unusable, so a fresh start, said once.
    journal = _journal(state, bucket, "small", dest)
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"garbage\n")

    async def go() -> s3fast.TransferResult:
        async with _client(fault_cluster, SERIAL, state) as c:
            return await c.download(f"s3://{bucket}/small", dest, resumable=True)

    with caplog.at_level(logging.INFO, logger="s3fast.resume"):
        result = run(go())
    assert dest.read_bytes() == b"tiny" and result.bytes == 4
    assert any("no usable plan" in r.getMessage() for r in caplog.records)
    assert not journal.exists() and not os.path.lexists(str(dest) + ".s3fast-partial")


def test_composite_object_resumes_and_is_verified_from_the_landed_file(fault_cluster: FaultCluster,
                                                                       tmp_path: Path) -> None:
    """An object another client uploaded with CRC32 part checksums (COMPOSITE): the ranges
    are journaled with CRC32C, and the check reads the whole landed file at the end."""
    from test_composite import put_multipart

    bucket = fault_cluster.make_bucket()
    parts = [os.urandom(PART) for _ in range(SIZE // PART)]
    data = b"".join(parts)
    stored = put_multipart(fault_cluster.moto, bucket, "comp", parts)
    dest, state = tmp_path / "comp.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "comp", dest, state, ranges=3)
    plan = _records(_journal(state, bucket, "comp", dest))[0]
    assert plan["crc"] == "crc32c" and plan["checksum"][2] == "COMPOSITE"
    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "comp", dest, state)
    assert notices == [] and dest.read_bytes() == data
    assert result.checksum == Checksum("crc32", stored, "COMPOSITE") and result.checksum_verified
    assert _get_bytes(fault_cluster, before) <= SIZE - 3 * PART


def test_a_rerun_failing_before_it_fetches_keeps_what_it_found(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "obj", data)
    dest, state = tmp_path / "obj.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "obj", dest, state, ranges=3)
    journal = _journal(state, bucket, "obj", dest)
    spans = [r for r in _records(journal) if r["t"] == "range"]
    # The rerun's HEAD is refused: the journal and the partial file stay as they were.
    rule = fault_cluster.add_rule(Rule(respond(403, "AccessDenied"), method="HEAD", path=r"/obj"))
    heard = _Heard()

    async def go() -> None:
        async with _client(fault_cluster, SERIAL, state) as c:
            with pytest.raises(s3fast.S3Error):
                await c.download(f"s3://{bucket}/obj", dest, resumable=True, subscribers=[heard])

    run(go())
    assert rule.fired >= 1 and [f.resumable for f in heard.failed] == [True]
    assert [r for r in _records(journal) if r["t"] == "range"] == spans
    fault_cluster.clear_rules()
    before = _count_requests(fault_cluster)
    result, _ = _resume(fault_cluster, bucket, "obj", dest, state)
    assert dest.read_bytes() == data and result.resumed
    assert _get_bytes(fault_cluster, before) <= SIZE - sum(r["len"] for r in spans)


def test_resume_ls_and_clean_judge_download_journals(fault_cluster: FaultCluster, tmp_path: Path) -> None:
    """A kept download is stale when its partial file is gone, or its object is gone or
    changed in S3; `resume clean` removes those journals with their partial files, and
    leaves the resumable one alone."""
    from e2e_helpers import cluster_cli

    bucket = fault_cluster.make_bucket()
    state = tmp_path / "state"
    for name in ("same", "changed", "gone", "lost"):
        _put(fault_cluster, bucket, name, os.urandom(2 * PART))
        _interrupt_after(fault_cluster, bucket, name, tmp_path / name, state, ranges=1)
        assert Path(f"{tmp_path / name}.s3fast-partial").exists()
    _put(fault_cluster, bucket, "changed", os.urandom(2 * PART))
    fault_cluster.moto.boto3_client().delete_object(Bucket=bucket, Key="gone")
    os.unlink(f"{tmp_path / 'lost'}.s3fast-partial")

    code, out, err = cluster_cli(fault_cluster, "resume", "ls", "--json", "--state-dir", str(state))
    assert code == 0, err
    stale = {e["key"]: e["stale"] for e in map(json.loads, out.splitlines())}
    assert stale["same"] is None
    assert stale["changed"].startswith("object changed in S3 (ETag ")
    assert stale["gone"] == "object gone from S3"
    assert stale["lost"] == "partial file gone"

    code, out, err = cluster_cli(fault_cluster, "resume", "clean", "--state-dir", str(state))
    assert code == 0, err
    assert sorted(line.split()[3].rsplit("/", 1)[-1] for line in out.decode().splitlines()) == \
        ["changed", "gone", "lost"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".s3fast-partial")] == ["same.s3fast-partial"]
    assert len(list((state / "journals").iterdir())) == 1
    code, out, err = cluster_cli(fault_cluster, "resume", "ls", "--state-dir", str(state))
    assert code == 0 and out.decode().strip().endswith("resumable"), (out, err)


def test_killed_after_the_last_range_resumes_to_the_check_and_the_rename(fault_cluster: FaultCluster,
                                                                          tmp_path: Path) -> None:
    """Interrupted once every range has landed, before the full-object check and the rename
    (a FULL_OBJECT CRC64NVME object, as s3fast uploads them): the rerun fetches nothing,
    checks the stored checksum against the landed file and renames it."""
    bucket = fault_cluster.make_bucket()
    data = os.urandom(SIZE)
    _put(fault_cluster, bucket, "whole", data)
    dest, state = tmp_path / "whole.bin", tmp_path / "state"
    _interrupt_after(fault_cluster, bucket, "whole", dest, state, ranges=SIZE // PART)
    journal = _journal(state, bucket, "whole", dest)
    plan = _records(journal)[0]
    assert plan["checksum"][2] == "FULL_OBJECT", plan
    assert not dest.exists() and journal.exists()
    assert sum(r["len"] for r in _records(journal) if r["t"] == "range") == SIZE

    before = _count_requests(fault_cluster)
    result, notices = _resume(fault_cluster, bucket, "whole", dest, state)
    assert dest.read_bytes() == data and notices == []
    assert result.checksum_verified and result.checksum is not None
    assert result.checksum.algorithm == "crc64nvme" and result.checksum.type == "FULL_OBJECT"
    assert _get_bytes(fault_cluster, before) == 0
    assert result.resumed and result.parts_skipped == SIZE // PART and result.bytes_sent == 0
    assert not journal.exists() and not Path(str(dest) + ".s3fast-partial").exists()
