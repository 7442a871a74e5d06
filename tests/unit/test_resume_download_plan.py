"""The pure decisions of resumable downloads: what a journal vouches for, what is left to
fetch, and when a rerun must start over."""
from __future__ import annotations

from s3fast._results import Checksum, ObjectHead
from s3fast.resume._download_plan import DownloadPlan, Span, missing, range_crc_name, read_journal
from s3fast.transfer._planner import Part, plan_ranges

MiB = 1 << 20


def _info(**kw: object) -> ObjectHead:
    base: dict[str, object] = dict(bucket="b", key="k", size=64 * MiB, etag='"abc-8"', version_id=None,
                                   checksum=Checksum("crc64nvme", "AAAAAAAAAAA=", "FULL_OBJECT"))
    base.update(kw)
    return ObjectHead(**base)  # type: ignore[arg-type]


def _plan(**kw: object) -> DownloadPlan:
    return DownloadPlan.of(_info(**kw), 8 * MiB, "/tmp/x.s3fast-partial")


def test_plan_round_trips_through_its_record() -> None:
    plan = _plan(version_id="v1")
    assert DownloadPlan.from_record(plan.record()) == plan
    assert plan.crc == "crc64nvme"  # the stored full-object algorithm: range CRCs combine into it


def test_ranges_get_crc32c_when_no_full_object_checksum() -> None:
    assert range_crc_name(_info(checksum=None)) == "crc32c"
    assert range_crc_name(_info(checksum=Checksum("crc32", "AAAAAA==-8", "COMPOSITE"))) == "crc32c"
    assert range_crc_name(_info(), validate=False) == "crc32c"


def test_malformed_plan_records_are_not_plans() -> None:
    good = _plan().record()
    for bad in ({**good, "v": 2}, {**good, "size": -1}, {**good, "size": "5"}, {**good, "etag": None},
                {**good, "crc": "md5"}, {**good, "partial": ""}, {**good, "checksum": ["a", "b"]},
                {**good, "part_size": 0}, {**good, "size": True}, {**good, "t": "range"}):
        assert DownloadPlan.from_record(bad) is None, bad


def test_change_names_what_differs() -> None:
    plan = _plan(version_id="v1")
    assert plan.change(_info(version_id="v1")) is None
    assert "size" in (plan.change(_info(version_id="v1", size=1)) or "")
    assert "ETag" in (plan.change(_info(version_id="v1", etag='"other"')) or "")
    assert "version" in (plan.change(_info(version_id="v2")) or "")
    assert plan.change(_info(version_id="v1", checksum=Checksum("crc64nvme", "BBBBBBBBBBB=", "FULL_OBJECT")))
    comp = _plan(version_id="v1", checksum=Checksum("crc32", "AAAAAA==-8", "COMPOSITE"))
    assert comp.change(_info(version_id="v1", checksum=Checksum("crc32", "AAAAAA==", "COMPOSITE"))) is None
    assert comp.change(_info(version_id="v1", checksum=Checksum("crc32", "AAAAAB==-8", "COMPOSITE")))
    # A store that leaves the checksum out of one answer is not a change.
    assert plan.change(_info(version_id="v1", checksum=None)) is None


def test_read_journal_keeps_good_ranges_and_rejects_the_rest() -> None:
    plan = _plan()
    recs = [plan.record(),
            Span(0, 8 * MiB, 1).record(),
            Span(16 * MiB, 8 * MiB, 2).record(),
            {"t": "range", "off": 60 * MiB, "len": 8 * MiB, "crc": 3},  # past the end
            {"t": "range", "off": 4 * MiB, "len": MiB, "crc": 4},  # overlaps the first
            {"t": "range", "off": "0", "len": 1, "crc": 5},  # malformed
            {"t": "range", "off": 32 * MiB, "len": 0, "crc": 6}]  # empty
    j = read_journal(recs)
    assert j.plan == plan
    assert j.spans == (Span(0, 8 * MiB, 1), Span(16 * MiB, 8 * MiB, 2))
    assert j.rejected == 4


def test_read_journal_without_a_plan_first_is_unusable() -> None:
    assert read_journal([]).plan is None
    j = read_journal([Span(0, 1, 1).record(), _plan().record()])
    assert j.plan is None and j.spans == () and j.rejected == 2


def test_missing_is_the_complement_of_the_spans() -> None:
    parts = plan_ranges(64 * MiB, 8 * MiB)
    spans = [Span(0, 8 * MiB, 0), Span(24 * MiB, 16 * MiB, 0), Span(60 * MiB, 2 * MiB, 0)]
    got = missing(parts, spans, first_number=4)
    assert [(p.offset, p.size) for p in got] == [
        (8 * MiB, 8 * MiB), (16 * MiB, 8 * MiB), (40 * MiB, 8 * MiB), (48 * MiB, 8 * MiB),
        (56 * MiB, 4 * MiB), (62 * MiB, 2 * MiB)]
    assert [p.number for p in got] == [4, 5, 6, 7, 8, 9]
    # Spans and what is missing tile the object exactly, whatever the planned ranges.
    for parts2 in (plan_ranges(64 * MiB, 5 * MiB), plan_ranges(64 * MiB, 64 * MiB)):
        pieces = sorted([(s.offset, s.size) for s in spans] + [(p.offset, p.size) for p in missing(parts2, spans)])
        pos = 0
        for off, size in pieces:
            assert off == pos
            pos += size
        assert pos == 64 * MiB
    assert missing(parts, [Span(0, 64 * MiB, 0)]) == ()
    assert missing((Part(1, 0, 10),), []) == (Part(1, 0, 10),)
