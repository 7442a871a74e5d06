"""Hostile input at the compiled core and its pure twins, both imported in this process.

What a broken or hostile server sends (Content-Length values, oversized heads, too many
headers) and what a caller must never get onto the wire or the disk (CR/LF/NUL in request
heads, a NUL in a local path) is refused the same way, with the same exception, by both
implementations of each module. The connection-level tests at the end go through the
real ``Connection`` against a responder on 127.0.0.1 (the active twin in each pass).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from s3fast._config import Timeouts
from s3fast._errors import ConfigError, NetworkError, NoSuchKey
from s3fast._py import _common
from s3fast._py._common import HEAD_BUFFER_SIZE, MAX_HEAD_SIZE, MAX_HEADERS, HeadError
from s3fast.net._pool import open_connection

from e2e_helpers import SMALL, client_for, run
from support.responder import responder
from support.twins import params

HTTP = params("_http")
RECV = params("_recv")
SIGV4 = params("_sigv4")
FILES = params("_files")


# -- Content-Length --------------------------------------------------------------------
BAD_LENGTHS = ["-5", "+5", "5_000", "0x10", "1e3", "5.0", "", "5, 5", "\xb2", "\u0665".encode().decode("latin-1"),
               "1 2", str(2**63), str(2**64), "9" * 400, "0" * 20 + "1"]


@pytest.mark.parametrize("http", HTTP)
@pytest.mark.parametrize("value", BAD_LENGTHS)
def test_a_content_length_that_is_not_plain_digits_is_refused(http: ModuleType, value: str) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: " + value.encode("latin-1")
    with pytest.raises(HeadError, match="Content-Length"):
        http.parse_head(head)


@pytest.mark.parametrize("http", HTTP)
def test_content_lengths_up_to_the_largest_signed_64_bit_value_are_taken(http: ModuleType) -> None:
    for value in ["0", "007", str(2**40), str(2**63 - 1), " 12\t"]:
        _, _, headers = http.parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: " + value.encode())
        assert int(headers["content-length"]) == int(value)
        assert http.parse_content_length(headers["content-length"]) == int(value)


def test_one_head_error_class_for_both_twins() -> None:
    assert {m.values[0].HeadError for m in HTTP} == {HeadError}
    assert issubclass(HeadError, ValueError)


# -- head bounds -----------------------------------------------------------------------
@pytest.mark.parametrize("http", HTTP)
def test_head_end_finder_refuses_a_head_over_the_limit_as_bytes_arrive(http: ModuleType) -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\n" + b"x" * (MAX_HEAD_SIZE + 4096))
    step = 1000
    # Fed in receives: no answer before the limit, then an error at the receive crossing it.
    for end in range(step, MAX_HEAD_SIZE, step):
        assert http.find_head_end(buf, end - step, end) == -1
    with pytest.raises(HeadError, match="larger than"):
        http.find_head_end(buf, MAX_HEAD_SIZE - 10, MAX_HEAD_SIZE + 10)


@pytest.mark.parametrize("http", HTTP)
def test_head_of_exactly_the_limit_is_taken_one_byte_more_is_not(http: ModuleType) -> None:
    def head_of(total: int) -> bytearray:
        start = b"HTTP/1.1 200 OK\r\nx-pad: "
        return bytearray(start + b"a" * (total - len(start) - 4) + b"\r\n\r\n" + b"body")

    ok = head_of(MAX_HEAD_SIZE)
    assert http.find_head_end(ok, 0, len(ok)) == MAX_HEAD_SIZE
    assert http.parse_head(ok[:MAX_HEAD_SIZE - 4])[0] == 200
    big = head_of(MAX_HEAD_SIZE + 1)
    with pytest.raises(HeadError):
        http.find_head_end(big, 0, len(big))
    with pytest.raises(HeadError):
        http.parse_head(big[:MAX_HEAD_SIZE + 1])


@pytest.mark.parametrize("http", HTTP)
def test_header_count_is_bounded(http: ModuleType) -> None:
    def head_with(n: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(n))

    assert len(http.parse_head(head_with(MAX_HEADERS))[2]) == MAX_HEADERS
    with pytest.raises(HeadError, match="header lines"):
        http.parse_head(head_with(MAX_HEADERS + 1))


class Probe:
    """Records which Receiver hook fired."""

    def _init_probe(self) -> None:
        self.events: list[str] = []

    def _head_done(self, end: int) -> None:
        self.events.append(f"head {end}")

    def _unexpected_data(self) -> None:
        self.events.append("unexpected")

    def _view_done(self) -> None:
        self.events.append("view")

    def _stash_done(self) -> None:
        self.events.append("stash")

    def _file_done(self) -> None:
        self.events.append("file")


def probe(recv: ModuleType) -> Any:
    cls = type("P", (Probe, recv.Receiver), {})
    r = cls(lambda: 0.0)
    r._init_probe()
    return r


@pytest.mark.parametrize("recv", RECV)
def test_receiver_stops_an_endless_head_at_the_limit(recv: ModuleType) -> None:
    r = probe(recv)
    r.expect_head()
    data = b"HTTP/1.1 200 OK\r\n" + b"x" * (2 * HEAD_BUFFER_SIZE)
    fed = 0
    while not r.events:
        buf = r.get_buffer(-1)
        n = min(len(buf), 4096)
        buf[:n] = data[fed:fed + n]
        fed += n
        r.buffer_updated(n)
    # Refused at the receive that crossed the head limit, not when the buffer ran out.
    assert r.events == ["unexpected"]
    assert MAX_HEAD_SIZE <= fed < MAX_HEAD_SIZE + 4096 < HEAD_BUFFER_SIZE


@pytest.mark.parametrize("recv", RECV)
def test_receiver_never_stashes_beyond_its_buffer(recv: ModuleType) -> None:
    r = probe(recv)
    with pytest.raises(ValueError, match="stash target"):
        r.stash_until(HEAD_BUFFER_SIZE + 1)
    r.stash_until(HEAD_BUFFER_SIZE)
    assert r.mode == recv.MODE_STASH


def test_receive_constants_are_defined_once() -> None:
    for recv in RECV:
        m = recv.values[0]
        assert (m.MODE_IDLE, m.MODE_HEAD, m.MODE_HELD, m.MODE_BODY, m.MODE_FILE, m.MODE_STASH) == (0, 1, 2, 3, 4, 5)
        assert m.HEAD_BUFFER_SIZE == _common.HEAD_BUFFER_SIZE
        assert m.FILE_PROGRESS_STEP == _common.FILE_PROGRESS_STEP
    for files in FILES:
        m = files.values[0]
        assert (m.OPEN, m.WRITE, m.NAME) == (_common.OPEN, _common.WRITE, _common.NAME)


# -- NUL in a local path ---------------------------------------------------------------
@pytest.mark.parametrize("files", FILES)
@pytest.mark.parametrize("proc", [True, False], ids=["tmpfile", "named-tmp"])
def test_nul_in_a_path_is_refused_before_any_file_of_the_batch_is_written(
        files: ModuleType, proc: bool, tmp_path: Path) -> None:
    from s3fast.transfer._download import proc_fd

    d = os.fsencode(tmp_path)
    good = (d, d + b"/first", d + b"/.first.tmp", b"data")
    bad = (d, d + b"/report.pdf\0.txt", d + b"/.report.tmp", b"data")
    with pytest.raises(ConfigError) as info:
        files.write_files([good, bad], proc_fd() if proc else -1)
    message = str(info.value)
    assert message == "local path contains a NUL byte: " + repr(os.fsdecode(tmp_path) + "/report.pdf\0.txt")
    assert "\n" not in message and "\\x00" in message
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("files", FILES)
def test_special_refuses_a_nul_in_a_path(files: ModuleType) -> None:
    for path in ("/dev/null\0x", b"/dev/null\0x", "report.pdf\0.txt"):
        with pytest.raises(ConfigError, match=r"NUL byte: .*\\x00"):
            files.special(path)


# -- request heads ---------------------------------------------------------------------
class Key:
    def hexdigest(self, msg: bytes) -> str:
        return hmac.new(b"k" * 32, msg, hashlib.sha256).hexdigest()


ARGS: dict[str, Any] = dict(method="PUT", target="/b/k?uploads", headers=[("host", "h"), ("content-type", "a/b")],
                            user_agent="s3fast/t", payload="UNSIGNED-PAYLOAD", amz_date="20261119T075320Z",
                            scope="20261119/us-east-1/s3/aws4_request", access_key="AKID", token="tok", key=Key())
INJECTIONS = ["a\r\nX-Injected: yes", "a\nb", "a\rb", "a\0b", "caf\u20ac"]


def _signed(sigv4: ModuleType, **change: Any) -> bytes:
    a = {**ARGS, **change}
    return sigv4.signed_head(a["method"], a["target"], a["headers"], a["user_agent"], a["payload"], a["amz_date"],
                             a["scope"], a["access_key"], a["token"], a["key"])


def _cases(bad: str) -> list[dict[str, Any]]:
    return [
        {"headers": [("host", "h"), ("content-type", bad)]},
        {"headers": [("host", "h"), ("x-amz-meta-" + bad, "v")]},
        {"headers": [(bad, "v")] + [("x-amz-meta-%d" % i, "v") for i in range(40)]},  # beyond the C path's 32
        {"method": "PUT" + bad},
        {"target": "/b/" + bad},
        {"user_agent": "ua/" + bad},
        {"token": "tok" + bad},
        {"access_key": "AK" + bad},
        {"scope": "20261119/" + bad},
    ]


@pytest.mark.parametrize("sigv4", SIGV4)
@pytest.mark.parametrize("bad", INJECTIONS)
def test_signed_head_refuses_what_would_break_the_head(sigv4: ModuleType, bad: str) -> None:
    for change in _cases(bad):
        with pytest.raises(ConfigError) as info:
            _signed(sigv4, **change)
        assert "\n" not in str(info.value) and "\r" not in str(info.value), change


@pytest.mark.parametrize("sigv4", SIGV4)
def test_a_space_in_method_or_target_is_refused(sigv4: ModuleType) -> None:
    for change in ({"method": "GET /x HTTP/1.1"}, {"target": "/b/k HTTP/1.0"}):
        with pytest.raises(ConfigError, match="contains a space"):
            _signed(sigv4, **change)


@pytest.mark.parametrize("sigv4", SIGV4)
@pytest.mark.parametrize("bad", INJECTIONS)
def test_plain_head_refuses_what_would_break_the_head(sigv4: ModuleType, bad: str) -> None:
    for args in (("GET", "/b/k", [("content-type", bad)], "ua"), ("GET", "/b/k", [(bad, "v")], "ua"),
                 ("GET", "/" + bad, [], "ua"), ("GET", "/b/k", [], bad)):
        with pytest.raises(ConfigError):
            sigv4.plain_head(*args)


@pytest.mark.parametrize("sigv4", SIGV4)
def test_latin_1_values_and_tabs_still_pass(sigv4: ModuleType) -> None:
    head = _signed(sigv4, headers=[("host", "h"), ("x-amz-meta-a", "caf\u00e9\tcr\u00e8me")])
    assert b"x-amz-meta-a: caf\xe9\tcr\xe8me\r\n" in head
    assert head.count(b"\r\n") == 2 + 2 + 3 + 1 + 1  # request line, UA, 2 given + 3 added + auth, end


def test_both_twins_refuse_with_the_same_message() -> None:
    pure, native = (m.values[0] for m in SIGV4) if len(SIGV4) == 2 else pytest.skip("no compiled core")
    for bad in INJECTIONS:
        for change in _cases(bad):
            messages = []
            for sigv4 in (pure, native):
                with pytest.raises(ConfigError) as info:
                    _signed(sigv4, **change)
                messages.append(str(info.value))
            assert messages[0] == messages[1]


# -- through the connection (the active twin) -------------------------------------------
TIMEOUTS = Timeouts(connect=5.0, first_byte=5.0, idle=5.0, low_speed_bytes_per_s=1, low_speed_seconds=5.0)


async def _answer(head: bytes) -> NetworkError:
    async def respond(writer: asyncio.StreamWriter) -> bool:
        writer.write(head)
        await writer.drain()
        return True

    async with responder(respond) as port:
        conn = await open_connection("127.0.0.1", port, "localhost", TIMEOUTS, None)
        try:
            await conn.send_request(b"GET /o HTTP/1.1\r\nHost: localhost\r\n\r\n", None)
            with pytest.raises(NetworkError) as info:
                head = await conn.read_head()
                buf = bytearray(16)
                await conn.read_into(memoryview(buf))
                pytest.fail(f"accepted: {head}")
            return info.value
        finally:
            conn.close()


@pytest.mark.parametrize("value", [str(2**64), str(2**63), "-5", "+5", "5_000", "0x10"])
def test_connection_refuses_a_hostile_content_length(value: str) -> None:
    exc = asyncio.run(_answer(b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\nhello" % value.encode()))
    assert exc.kind == "protocol" and "Content-Length" in str(exc)


def test_connection_refuses_an_endless_head() -> None:
    exc = asyncio.run(_answer(b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * (MAX_HEAD_SIZE + 1000)))
    assert exc.kind == "protocol"


def test_connection_refuses_too_many_headers() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n"
    exc = asyncio.run(_answer(head))
    assert exc.kind == "protocol" and "header lines" in str(exc)


@pytest.mark.parametrize("recv", RECV)
def test_receiver_state_changes_for_the_connection(recv: ModuleType) -> None:
    r = probe(recv)
    _feed_partial_head(r)
    r.expect_head()
    assert (r.mode, r.head_length, r.remaining) == (recv.MODE_HEAD, 0, -1)
    r.set_remaining(2**63 - 1)
    assert r.remaining == 2**63 - 1
    for bad in (2**63, -2, 2**64):
        with pytest.raises(ValueError, match="out of range"):
            r.set_remaining(bad)
    assert r.remaining == 2**63 - 1
    r.set_remaining(10)
    r.take(4)
    assert r.remaining == 6
    r.set_remaining(-1)
    r.take(4)  # until close: nothing to count down
    assert r.remaining == -1
    r.hold()
    assert r.mode == recv.MODE_HELD
    _feed_partial_head(r)
    r.set_idle()
    assert (r.mode, r.head_length) == (recv.MODE_IDLE, 0)


def _feed_partial_head(r: Any) -> None:
    """Put a few bytes of an unfinished head in the buffer, through the receive path."""
    r.expect_head()
    buf = r.get_buffer(-1)
    buf[:8] = b"HTTP/1.1"
    r.buffer_updated(8)
    assert r.head_length == 8


# -- through the client (the active twins), against moto on 127.0.0.1 -------------------
@pytest.mark.parametrize("batch", [True, False], ids=["batcher", "inline"])
def test_download_to_a_path_with_a_nul_is_refused_and_writes_nothing(
        moto_cluster: Any, bucket: str, tmp_path: Path, batch: bool) -> None:
    async def go() -> None:
        async with client_for(moto_cluster, SMALL.replace(batch_small_files=batch)) as c:
            await c.put_bytes(f"s3://{bucket}/small", b"payload")
            with pytest.raises(ConfigError, match=r"NUL byte: .*report\.pdf\\x00\.txt"):
                await c.download(f"s3://{bucket}/small", os.fspath(tmp_path) + "/report.pdf\0.txt")

    run(go())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("resumable", [False, True], ids=["plain", "resumable"])
def test_upload_from_a_path_with_a_nul_is_refused_and_sends_nothing(
        fault_cluster: Any, tmp_path: Path, resumable: bool) -> None:
    """The same clear error as a download's: ``report.pdf`` exists, and a NUL must not make
    the upload read it (the C library would cut the name there)."""
    bucket = fault_cluster.make_bucket()
    (tmp_path / "report.pdf").write_bytes(b"not this one")
    before = len(fault_cluster.requests)

    async def go() -> None:
        async with client_for(fault_cluster, state_dir=tmp_path / "state") as c:
            with pytest.raises(ConfigError, match=r"NUL byte: .*report\.pdf\\x00\.txt"):
                await c.upload(os.fspath(tmp_path) + "/report.pdf\0.txt", f"s3://{bucket}/r", resumable=resumable)
            with pytest.raises(ConfigError, match=r"NUL byte"):
                await c.upload(Path(os.fspath(tmp_path) + "/report.pdf\0.txt"), f"s3://{bucket}/r")

    run(go())
    assert len(fault_cluster.requests) == before


@pytest.mark.parametrize("field", ["content_type", "metadata"])
def test_upload_with_an_injected_header_is_refused(moto_cluster: Any, bucket: str, field: str) -> None:
    bad = "a\r\nX-Injected: yes"
    kwargs: dict[str, Any] = {"content_type": bad} if field == "content_type" else {"metadata": {"k": bad}}

    async def go() -> None:
        async with client_for(moto_cluster) as c:
            with pytest.raises(ConfigError):
                await c.put_bytes(f"s3://{bucket}/k", b"payload", **kwargs)
            with pytest.raises(NoSuchKey):  # nothing was stored under the key
                await c.head(f"s3://{bucket}/k")

    run(go())
