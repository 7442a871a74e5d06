"""Upload resume decisions, as pure functions: what a journal allows, which parts to skip."""
from __future__ import annotations

from s3fast.resume._plan import (
    SETTINGS_CHANGED,
    SOURCE_CHANGED,
    UNREADABLE,
    ListedPart,
    SourceStamp,
    part_record,
    plan_record,
    read_journal,
    reconcile,
)
from s3fast.transfer._planner import Part

MiB = 1024 * 1024
STAMP = SourceStamp(12 * MiB, 1_700_000_000_000_000_000, 42)
PARTS = (Part(1, 0, 5 * MiB), Part(2, 5 * MiB, 5 * MiB), Part(3, 10 * MiB, 2 * MiB))


def _records(*parts: tuple[int, str, str | None], stamp: SourceStamp = STAMP) -> list[dict[str, object]]:
    plan = plan_record("/data/f", "b", "k", stamp, 5 * MiB, "crc64nvme", "UP1")
    return [plan, *(part_record(n, (n - 1) * 5 * MiB, PARTS[n - 1].size, etag, cs) for n, etag, cs in parts)]


def _read(records: list[dict[str, object]], stamp: SourceStamp = STAMP, part_size: int = 5 * MiB,
          checksum: str | None = "crc64nvme"):  # type: ignore[no-untyped-def]
    return read_journal(records, stamp, part_size, checksum, "/data/f", "b", "k")


def test_no_journal_is_a_plain_fresh_start() -> None:
    v = _read([])
    assert v.prior is None and v.reason is None and v.stale_upload_id is None


def test_intact_journal_resumes_its_upload() -> None:
    v = _read(_records((1, '"e1"', "AAAAAAAAAAE="), (2, '"e2"', "AAAAAAAAAAI=")))
    assert v.prior is not None and v.prior.upload_id == "UP1"
    assert sorted(v.prior.parts) == [1, 2] and v.prior.parts[2].etag == '"e2"'


def test_changed_source_starts_over_and_names_the_old_upload() -> None:
    for changed in (SourceStamp(STAMP.size + 1, STAMP.mtime_ns, STAMP.inode),
                    SourceStamp(STAMP.size, STAMP.mtime_ns + 1, STAMP.inode),
                    SourceStamp(STAMP.size, STAMP.mtime_ns, STAMP.inode + 1)):
        v = _read(_records((1, '"e1"', "x")), stamp=changed)
        assert (v.prior, v.reason, v.stale_upload_id) == (None, SOURCE_CHANGED, "UP1")


def test_other_part_size_or_checksum_starts_over() -> None:
    assert _read(_records(), part_size=8 * MiB).reason == SETTINGS_CHANGED
    assert _read(_records(), checksum="crc32c").reason == SETTINGS_CHANGED
    assert _read(_records(), checksum=None).reason == SETTINGS_CHANGED


def test_unknown_first_record_is_unreadable() -> None:
    assert _read([{"t": "part", "n": 1}]).reason == UNREADABLE
    assert _read([{**_records()[0], "v": 99}]).reason == UNREADABLE
    assert _read([{**_records()[0], "key": "other"}]).reason == UNREADABLE


def test_malformed_part_records_are_ignored() -> None:
    records = [*_records((1, '"e1"', "c1")), {"t": "part", "n": -1, "offset": 0, "size": 1, "etag": "x"},
               {"t": "part", "n": 2, "offset": "0", "size": 1, "etag": "x"}]
    v = _read(records)
    assert v.prior is not None and sorted(v.prior.parts) == [1]


def test_reconcile_trusts_s3_and_uses_the_journal_as_a_hint() -> None:
    journal = _read(_records((1, '"e1"', "c1"), (2, '"e2"', "c2"), (3, '"e3"', "c3"))).prior
    assert journal is not None
    listed = {
        1: ListedPart(1, 5 * MiB, "e1", "c1"),                            # same: skipped
        2: ListedPart(2, 4 * MiB, '"e2"', "c2"),                          # other size: sent again
        3: ListedPart(3, 2 * MiB, '"e3"', "other"),                       # other checksum: checked against the file
    }
    rec = reconcile(PARTS, listed, journal.parts, checksums=True)
    assert rec.done == {1: ("e1", "c1")}
    assert [p.number for p in rec.todo] == [2]
    assert [(p.number, h.checksum) for p, h in rec.to_verify] == [(3, "other")]


def test_reconcile_parts_s3_has_but_the_journal_missed() -> None:
    md5 = '"0123456789abcdef0123456789abcdef"'
    listed = {1: ListedPart(1, 5 * MiB, md5, None), 2: ListedPart(2, 5 * MiB, '"kms-etag-1"', None),
              3: ListedPart(3, 2 * MiB, '"x"', "c3")}
    rec = reconcile(PARTS, listed, {}, checksums=True)
    assert rec.done == {}
    # an MD5 ETag or a stored checksum can be checked against the file; an opaque ETag cannot
    assert sorted(p.number for p, _ in rec.to_verify) == [1, 3]
    assert [p.number for p in rec.todo] == [2]


def test_reconcile_nothing_listed_sends_everything() -> None:
    rec = reconcile(PARTS, {}, {}, checksums=True)
    assert rec.todo == list(PARTS) and rec.done == {} and rec.to_verify == []
