"""Which incomplete upload a journal with a damaged plan record started (pure decisions)."""
from __future__ import annotations

from s3fast.resume._log import encode
from s3fast.resume._plan import ListedPart, part_record
from s3fast.resume._salvage import CLOCK_SLACK, by_id, by_parts, candidates, initiated_at, salvage

PLAN = encode({"t": "plan", "v": 1, "bucket": "b", "key": "k", "upload_id": "UP-1"})


def _damaged(plan: bytes = PLAN) -> bytes:
    raw = bytearray(plan)
    raw[12] ^= 0x20  # the CRC fails, the text mostly survives
    return bytes(raw) + encode(part_record(1, 0, 5, '"e1"', None)) + encode(part_record(2, 5, 5, '"e2"', None))


def test_salvage_reads_the_upload_id_and_the_intact_part_records() -> None:
    found = salvage(_damaged())
    assert found.upload_ids == ("UP-1",)
    assert found.parts == {1: (5, "e1"), 2: (5, "e2")}


def test_candidates_are_the_key_s_uploads_started_before_the_journal_was_last_written() -> None:
    t = initiated_at("2026-01-01T00:00:00.000Z")
    assert t is not None
    uploads = [("k", "A", "2026-01-01T00:00:00.000Z"), ("k2", "B", "2026-01-01T00:00:00.000Z"),
               ("k", "C", "2026-01-01T02:00:00.000Z"), ("k", "D", "garbled")]
    got = [c.upload_id for c in candidates(uploads, "k", t + 60)]
    assert got == ["A", "D"]  # not another key, not one started long after; unreadable time stays
    assert [c.upload_id for c in candidates(uploads, "k", t + 7200 - CLOCK_SLACK)] == ["A", "C", "D"]


def test_the_named_upload_is_taken_only_when_listed() -> None:
    found = salvage(_damaged())
    cands = candidates([("k", "UP-1", "2026-01-01T00:00:00Z"), ("k", "X", "2026-01-01T00:00:00Z")], "k", 2e9)
    v = by_id(found, cands)
    assert v is not None and v.upload_id == "UP-1"
    assert by_id(found, candidates([("k", "X", "2026-01-01T00:00:00Z")], "k", 2e9)) is None


def test_parts_decide_only_when_exactly_one_upload_holds_them_all() -> None:
    found = salvage(_damaged())
    ours = {1: ListedPart(1, 5, '"e1"', None), 2: ListedPart(2, 5, '"e2"', None), 3: ListedPart(3, 5, '"e3"', None)}
    stranger = {1: ListedPart(1, 5, '"zz"', None)}
    v = by_parts(found, {"A": ours, "B": stranger})
    assert v is not None and v.upload_id == "A"
    assert by_parts(found, {"A": ours, "B": dict(ours)}) is None  # two hold them: not certain
    assert by_parts(found, {"B": stranger}) is None
    assert by_parts(salvage(b"garbage"), {"A": ours}) is None  # no evidence at all
