"""The resume journal's log: what any crash leaves behind replays to a consistent prefix."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from s3fast.resume import _log
from s3fast.resume._log import JournalError, RecordLog, decode, encode, journal_path, list_journals, state_dir

RECORDS = [
    {"type": "plan", "size": 123456789, "etag": '"abc"', "part_size": 8388608, "key": "dir/ü ñ"},
    {"type": "part", "number": 1, "crc": "AAAAAAAAAAA=", "etag": '"e1"'},
    {"type": "part", "number": 2, "crc": "BBBBBBBBBBB=", "etag": '"e2"'},
]


def _write(path: Path, records: list[dict[str, object]]) -> bytes:
    log, replay = RecordLog.open(path, fresh=True)
    assert replay.records == []
    for r in records:
        log.append(r)
    log.close()
    return path.read_bytes()


def test_round_trip_keeps_order_and_values(tmp_path: Path) -> None:
    p = tmp_path / "j" / "a.log"
    _write(p, RECORDS)
    log, replay = RecordLog.open(p)
    log.close()
    assert replay.records == RECORDS
    assert replay.dropped_bytes == 0
    assert oct(p.stat().st_mode & 0o777) == oct(0o600)
    assert oct(p.parent.stat().st_mode & 0o777) == oct(0o700)


def test_every_torn_prefix_replays_to_the_whole_records_before_it(tmp_path: Path) -> None:
    """A kill at any byte of any append leaves a prefix of the file: replay keeps exactly the
    records that were complete, cuts the rest off, and new records follow them."""
    p = tmp_path / "a.log"
    data = _write(p, RECORDS)
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    for cut in range(len(data) + 1):
        p.write_bytes(data[:cut])
        log, replay = RecordLog.open(p)
        whole = sum(1 for e in ends if e <= cut)
        assert replay.records == RECORDS[:whole], cut
        good = max([0] + [e for e in ends if e <= cut])
        assert replay.dropped_bytes == cut - good
        log.append({"type": "after"})
        log.close()
        log, again = RecordLog.open(p)
        log.close()
        assert again.records == RECORDS[:whole] + [{"type": "after"}]
        assert again.dropped_bytes == 0


@pytest.mark.parametrize("damage", ["flip", "crc", "notjson", "list", "noseparator"])
def test_a_corrupt_record_ends_the_replay(tmp_path: Path, damage: str) -> None:
    p = tmp_path / "a.log"
    data = bytearray(_write(p, RECORDS))
    second = data.index(b"\n") + 1
    if damage == "flip":
        data[second + 20] ^= 0x01
    elif damage == "crc":
        data[second] = ord("f") if data[second] != ord("f") else ord("e")
    elif damage == "notjson":
        body = b"{not json"
        data[second:data.index(b"\n", second) + 1] = b"%08x %s\n" % (__import__("zlib").crc32(body), body)
    elif damage == "list":
        body = b"[1,2]"
        data[second:data.index(b"\n", second) + 1] = b"%08x %s\n" % (__import__("zlib").crc32(body), body)
    else:
        data[second + 8] = ord("x")
    p.write_bytes(bytes(data))
    log, replay = RecordLog.open(p)
    log.close()
    assert replay.records == RECORDS[:1]
    assert replay.dropped_bytes == len(data) - second
    assert p.stat().st_size == second


def test_a_second_opener_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    first, _ = RecordLog.open(p)
    with pytest.raises(JournalError, match="in use by another s3fast"):
        RecordLog.open(p)
    first.close()
    second, _ = RecordLog.open(p)  # released on close
    second.close()


def test_a_killed_holder_releases_the_lock_and_its_records_survive(tmp_path: Path) -> None:
    """kill -9 after append returned: the record is there and the lock is gone."""
    p = tmp_path / "a.log"
    code = (
        "import sys, os\n"
        "from s3fast.resume._log import RecordLog\n"
        "log, _ = RecordLog.open(sys.argv[1])\n"
        "for i in range(50): log.append({'n': i})\n"
        "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(p)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    log, replay = RecordLog.open(p)
    log.close()
    assert replay.records == [{"n": i} for i in range(50)]


def test_fresh_starts_empty_and_discard_removes(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    _write(p, RECORDS)
    log, replay = RecordLog.open(p, fresh=True)
    assert replay.records == [] and p.stat().st_size == 0
    log.append({"x": 1})
    log.discard()
    assert not p.exists()
    with pytest.raises(JournalError, match="closed"):
        log.append({"x": 2})


def test_bounds_are_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(JournalError, match="bound"):
        encode({"x": "a" * _log.MAX_RECORD})
    p = tmp_path / "a.log"
    _write(p, RECORDS)
    monkeypatch.setattr(_log, "MAX_FILE", 10)
    with pytest.raises(JournalError, match="over the 10-byte bound"):
        RecordLog.open(p)
    # an over-long line with no newline within the bound ends the replay
    records, good = decode(encode({"a": 1}) + b"0" * (_log.MAX_RECORD + 10))
    assert records == [{"a": 1}] and good == len(encode({"a": 1}))


def test_a_symlinked_journal_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    link = tmp_path / "a.log"
    link.symlink_to(target)
    with pytest.raises(JournalError, match="cannot open"):
        RecordLog.open(link)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


def test_state_dir_precedence(tmp_path: Path) -> None:
    assert state_dir({"S3FAST_STATE_DIR": "/x/y", "XDG_STATE_HOME": "/z", "HOME": "/h"}) == Path("/x/y")
    assert state_dir({"XDG_STATE_HOME": "/z", "HOME": "/h"}) == Path("/z/s3fast")
    assert state_dir({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path("/h/.local/state/s3fast")
    assert state_dir({"HOME": "/h"}) == Path("/h/.local/state/s3fast")


def test_journal_paths_are_stable_distinct_and_listed(tmp_path: Path) -> None:
    a = journal_path(tmp_path, "upload", "/src/a\0b\0k")
    assert a == journal_path(tmp_path, "upload", "/src/a\0b\0k")
    assert a != journal_path(tmp_path, "upload", "/src/a\0b\0k2")
    d = journal_path(tmp_path, "download", "/src/a\0b\0k")
    assert a.parent == d.parent == tmp_path / "journals"
    assert "/" not in a.name and a.name.startswith("upload-")
    with pytest.raises(ValueError):
        journal_path(tmp_path, "other", "x")
    assert list_journals(tmp_path) == []
    for p in (a, d):
        RecordLog.open(p)[0].close()
    (tmp_path / "journals" / "unrelated.txt").write_text("x")
    assert list_journals(tmp_path) == sorted([a, d])
