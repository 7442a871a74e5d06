"""Pure parts of tree operations: wildcards, filters, key -> path safety, sync verdicts."""
from __future__ import annotations

import os

import pytest

from s3fast.tree._decide import (
    NEEDS_CHECKSUM,
    SKIP_SAME,
    TRANSFER_CHECKSUM,
    TRANSFER_MISSING,
    TRANSFER_NEWER,
    TRANSFER_NO_CHECKSUM,
    TRANSFER_SIZE,
    Entry,
    checksum_verdict,
    decide,
    parse_s3_time,
)
from s3fast.tree._match import Filters, source_pattern
from s3fast.tree._paths import Unsafe, is_dir_marker, join_key, local_path
from s3fast.transfer._xml import BadAnswer, delete_body, parse_copy_result, parse_delete


# -- wildcards ---------------------------------------------------------------------------------
def test_no_wildcard_or_raw_is_literal() -> None:
    assert source_pattern("logs/2024/") is None
    assert source_pattern("logs/*.gz", raw=True) is None


def test_star_stays_in_its_segment_double_star_crosses() -> None:
    p = source_pattern("logs/*.gz")
    assert p is not None and p.base == "logs/"
    assert p.matches("logs/a.gz")
    assert not p.matches("logs/x/a.gz")
    assert not p.matches("other/a.gz")
    q = source_pattern("logs/**.gz")
    assert q is not None and q.matches("logs/x/y/a.gz") and not q.matches("logs/x/a.txt")
    assert q.relative("logs/x/y/a.gz") == "x/y/a.gz"


def test_question_mark_is_one_character_and_specials_are_literal() -> None:
    p = source_pattern("d/a?.[x]+")
    assert p is not None
    assert p.matches("d/ab.[x]+") and not p.matches("d/abc.[x]+") and not p.matches("d/a/.[x]+")


def test_base_is_cut_at_the_last_slash_before_the_first_wildcard() -> None:
    p = source_pattern("a/b/c*/d/*.txt")
    assert p is not None and p.base == "a/b/"
    assert p.matches("a/b/cat/d/x.txt") and p.relative("a/b/cat/d/x.txt") == "cat/d/x.txt"
    top = source_pattern("*.txt")
    assert top is not None and top.base == "" and top.matches("x.txt")


# -- filters (aws CLI order: the last match decides) ---------------------------------------------
def test_filters_last_match_wins() -> None:
    f = Filters.build([("exclude", "*"), ("include", "*.txt")])
    assert f.accepts("a/b.txt") and not f.accepts("a/b.bin")
    g = Filters.build([("include", "*.txt"), ("exclude", "*")])
    assert not g.accepts("a.txt")


def test_filters_default_includes_and_star_crosses_slash() -> None:
    assert Filters().accepts("anything")
    f = Filters.build([("exclude", "tmp/*")])
    assert not f.accepts("tmp/x/y") and f.accepts("keep/tmp/x")


def test_filters_reject_unknown_kind() -> None:
    with pytest.raises(ValueError):
        Filters.build([("ignore", "*")])


# -- key -> path safety --------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["../../x", "/etc/x", "a/../../x", "a/./b", "a\x00b", "a\\..\\x", "a//b", "a/",
                                 "..", ""])
def test_hostile_keys_have_no_path(tmp_path: object, key: str) -> None:
    assert isinstance(local_path(str(tmp_path), key), Unsafe)


def test_ordinary_keys_land_under_the_root(tmp_path: object) -> None:
    root = str(tmp_path)
    p = local_path(root, "a/b c/d..e/.hidden")
    assert isinstance(p, str)
    assert p == os.path.join(root, "a", "b c", "d..e", ".hidden")


def test_dir_marker_and_join_key() -> None:
    assert is_dir_marker("a/", 0) and not is_dir_marker("a/", 3) and not is_dir_marker("a", 0)
    assert join_key("", "x") == "x" and join_key("p", "x") == "p/x" and join_key("p/", "x") == "p/x"


# -- sync verdicts -------------------------------------------------------------------------------
def test_decide_size_mtime() -> None:
    src = Entry("k", 10, 200.0)
    assert decide(src, None, "size-mtime") == TRANSFER_MISSING
    assert decide(src, Entry("k", 11, 300.0), "size-mtime") == TRANSFER_SIZE
    assert decide(src, Entry("k", 10, 100.0), "size-mtime") == TRANSFER_NEWER
    assert decide(src, Entry("k", 10, 300.0), "size-mtime") == SKIP_SAME
    assert decide(Entry("k", 10, 200.9), Entry("k", 10, 200.0), "size-mtime") == SKIP_SAME


def test_decide_size_only_ignores_mtime_and_checksum_asks() -> None:
    src = Entry("k", 10, 900.0)
    assert decide(src, Entry("k", 10, 1.0), "size") == SKIP_SAME
    assert decide(src, Entry("k", 10, 1.0), "checksum") == NEEDS_CHECKSUM
    assert decide(src, Entry("k", 9, 1.0), "checksum") == TRANSFER_SIZE


def test_checksum_verdict() -> None:
    assert checksum_verdict(("crc64nvme", "A"), ("crc64nvme", "A")) == SKIP_SAME
    assert checksum_verdict(("crc64nvme", "A"), ("crc64nvme", "B")) == TRANSFER_CHECKSUM
    assert checksum_verdict(("crc32c", "A"), ("crc64nvme", "A")) == TRANSFER_NO_CHECKSUM
    assert checksum_verdict(None, ("crc64nvme", "A")) == TRANSFER_NO_CHECKSUM


def test_parse_s3_time() -> None:
    assert parse_s3_time("1970-01-01T00:00:10.500Z") == 10.5
    assert parse_s3_time("2024-05-01T12:00:00Z") == 1714564800.0
    assert parse_s3_time("garbage") is None
    assert parse_s3_time("2023-12-31T23:59:59.250Z") == 1704067199.25
    # an offset is applied; no offset at all is UTC, as S3 means it
    assert parse_s3_time("2024-05-01T14:00:00+02:00") == 1714564800.0
    assert parse_s3_time("2024-05-01T12:00:00") == 1714564800.0
    for bad in ("2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01 12:00:00Z",
                "2024-05-01T12:00:0x.000Z", "+024-05-01T12:00:00Z", "\u0662024-05-01T12:00:00Z", ""):
        assert parse_s3_time(bad) is None, bad


# -- XML -------------------------------------------------------------------------------------------
def test_delete_body_escapes_keys() -> None:
    body = delete_body(["a&b", "<x>"]).decode()
    assert "<Key>a&amp;b</Key>" in body and "<Key>&lt;x&gt;</Key>" in body and "<Quiet>true</Quiet>" in body


def test_parse_delete_reports_each_error() -> None:
    doc = (b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>a</Key></Deleted>'
           b"<Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>")
    deleted, errors = parse_delete(doc)
    assert deleted == ["a"]
    assert [(e.key, e.code) for e in errors] == [("b", "AccessDenied")]


def test_copy_answer_with_error_body_is_a_failure() -> None:
    assert parse_copy_result(b"<CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>", "c")["ETag"] == '"e"'
    with pytest.raises(BadAnswer, match="InternalError"):
        parse_copy_result(b"<Error><Code>InternalError</Code><Message>x</Message></Error>", "c")


def test_hostile_xml_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><DeleteResult>&a;</DeleteResult>'
    with pytest.raises(BadAnswer):
        parse_delete(bomb)
    with pytest.raises(BadAnswer):
        parse_delete(b"not xml")
