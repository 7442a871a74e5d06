"""The event primitive: one vocabulary for progress, parts, results and tuner updates; an
observer's failure never fails a transfer, a critical subscriber's (the journal's) always does."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import MiB, SMALL, client_for, run

import s3fast
from s3fast._events import (
    BytesMoved,
    Emitter,
    PartDone,
    TransferFailed,
    TransferFinished,
    TransferStarted,
    TunerUpdate,
    emitter,
    part_adapter,
    progress_adapter,
)
from s3fast.transfer import _upload


def test_no_subscriber_means_no_emitter() -> None:
    assert emitter() is None
    assert emitter([None, progress_adapter(None), part_adapter(None)]) is None
    assert emitter([print]) is not None


def test_observer_failure_is_logged_once_and_the_observer_dropped(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    calls = 0

    def broken(event: Any) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("display crashed")

    em = Emitter([broken, seen.append])
    with caplog.at_level(logging.ERROR, logger="s3fast.events"):
        for n in range(3):
            em.emit(BytesMoved(n))
    assert calls == 1
    assert [e.n for e in seen] == [0, 1, 2]  # the others still get every event
    assert sum("display crashed" in (r.exc_text or "") or "failed" in r.getMessage() for r in caplog.records) == 1


def test_critical_subscriber_failure_propagates() -> None:
    seen: list[Any] = []

    def journal(event: Any) -> None:
        raise OSError(28, "No space left on device")

    em = Emitter([seen.append]).with_critical(journal)
    with pytest.raises(OSError, match="No space"):
        em.emit(BytesMoved(1))
    assert seen == []  # critical subscribers go first: nothing is reported that was not recorded


def test_adapters_pick_their_events() -> None:
    moved: list[int] = []
    parts: list[Any] = []
    em = Emitter([progress_adapter(moved.append), part_adapter(parts.append)])  # type: ignore[list-item]
    part = PartDone("upload", "b", "k", 1, 0, 5, etag='"e"')
    em.emit(BytesMoved(7))
    em.emit(part)
    em.emit(TransferStarted("upload", "b", "k", 5, 5, 1))
    assert moved == [7] and parts == [part]


def test_upload_events_in_order(moto_cluster, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    size = 12 * MiB + 123
    src.write_bytes(os.urandom(size))
    events: list[Any] = []
    client_wide: list[Any] = []
    progress: list[int] = []

    async def go() -> s3fast.TransferResult:
        async with client_for(moto_cluster, SMALL, subscribers=[client_wide.append]) as c:
            return await c.upload(src, f"s3://{bucket}/events", subscribers=[events.append], on_progress=progress.append)

    result = run(go())
    kinds = [type(e) for e in events]
    assert kinds[0] is TransferStarted and kinds[-1] is TransferFinished
    started = events[0]
    assert (started.size, started.part_size, started.parts) == (size, 5 * MiB, 3)
    assert started.upload_id and started.upload_id == result.upload_id
    parts = sorted((e for e in events if type(e) is PartDone), key=lambda e: e.number)
    assert [(p.number, p.offset, p.size) for p in parts] == [(1, 0, 5 * MiB), (2, 5 * MiB, 5 * MiB), (3, 10 * MiB, 2 * MiB + 123)]
    assert all(p.etag and p.checksum and p.upload_id == result.upload_id for p in parts)
    assert sum(e.n for e in events if type(e) is BytesMoved) == size == sum(progress)
    assert events[-1].result is result
    # client-wide subscribers see the same transfer events
    assert [e for e in client_wide if type(e) is not TunerUpdate] == events


def test_download_events(moto_cluster, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(11 * MiB)
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="down", Body=data)
    events: list[Any] = []

    async def go() -> s3fast.TransferResult:
        async with client_for(moto_cluster, SMALL) as c:
            return await c.download(f"s3://{bucket}/down", tmp_path / "out.bin", subscribers=[events.append])

    result = run(go())
    assert sum(e.n for e in events if type(e) is BytesMoved) == len(data)
    assert sorted(e.number for e in events if type(e) is PartDone) == [1, 2, 3]
    assert type(events[-1]) is TransferFinished and events[-1].result is result


def test_a_failing_observer_does_not_fail_the_upload(moto_cluster, bucket: str, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(11 * MiB))

    def on_part(event: s3fast.PartEvent) -> None:
        raise RuntimeError("a buggy progress display")

    async def go() -> s3fast.TransferResult:
        async with client_for(moto_cluster, SMALL) as c:
            return await c.upload(src, f"s3://{bucket}/observed", on_part=on_part)

    with caplog.at_level(logging.ERROR, logger="s3fast.events"):
        result = run(go())
    assert result.multipart and result.bytes == 11 * MiB
    assert moto_cluster.boto3_client().head_object(Bucket=bucket, Key="observed")["ContentLength"] == 11 * MiB
    assert any("gets no more events" in r.getMessage() for r in caplog.records)


def test_a_failing_critical_subscriber_fails_and_aborts_the_upload(moto_cluster, bucket: str, tmp_path: Path) -> None:
    """What a journal that cannot write does: the upload stops, and nothing is left behind."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(11 * MiB))
    seen: list[Any] = []

    def journal(event: Any) -> None:
        if type(event) is PartDone:
            raise OSError(28, "No space left on device")

    async def go() -> None:
        async with client_for(moto_cluster, SMALL) as c:
            events = Emitter([seen.append], [journal])
            await _upload.upload(c._ctx, src, bucket, "critical", headers={}, events=events)

    with pytest.raises(OSError, match="No space"):
        run(go())
    assert moto_cluster.list_multipart_uploads(bucket) == []
    assert moto_cluster.boto3_client().list_objects_v2(Bucket=bucket, Prefix="critical").get("KeyCount", 0) == 0
    assert type(seen[-1]) is TransferFailed and isinstance(seen[-1].error, OSError)
