"""A hostile or broken server cannot make the client's memory grow without bound.

The client talks to ``support.hostile.HostileServer`` on 127.0.0.1, which sends heads and
bodies no S3 would: endless heads, thousands of headers, Content-Length values that
``int()`` would take but HTTP does not, chunked bodies declaring a gigabyte, never sending
a CRLF, or trailing endless extensions and trailers. Each case must end in a clear error
while the memory the client allocated stays far below what the server sent (measured with
tracemalloc from just before the hostile request, after a warm-up request on the same
client, so that one-off set-up is not counted).
"""
from __future__ import annotations

import os
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from e2e_helpers import MiB, SMALL, run
from support.hostile import Answer, HostileServer, chain, fixed, repeat, s3_multipart, status

import s3fast
from s3fast.net._limits import MAX_ERROR_BODY, MAX_HEAD_BYTES, MAX_HEADERS, MAX_XML_BODY

#: what each hostile answer sends at most: far above every bound the client keeps
FLOOD = 32 * MiB
JUNK = b"z" * (64 * 1024)
TIMEOUTS = s3fast.Timeouts(connect=5.0, first_byte=10.0, idle=5.0, low_speed_bytes_per_s=1, low_speed_seconds=10.0)
ONE_RETRY = s3fast.RetryConfig(max_attempts=2, backoff_base=0.005, throttle_backoff_base=0.01, backoff_cap=0.05)
CONFIG = SMALL.replace(timeouts=TIMEOUTS, retry=ONE_RETRY)
URL = "s3://bucket/key"


def measure(route: Callable[[str, str], Answer], call: Callable[[s3fast.Client], Awaitable[Any]],
            warm: Callable[[s3fast.Client], Awaitable[Any]] | None = None) -> tuple[BaseException, int, HostileServer]:
    """Run ``call`` against a server answering with ``route``: the exception it ended in and
    the peak of memory allocated while it ran."""

    def routed(method: str, target: str) -> Answer:
        if target.endswith("/warm"):
            return fixed(200, b"", "ETag: \"w\"", "Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT")
        return route(method, target)

    async def go() -> tuple[BaseException, int, HostileServer]:
        async with HostileServer(routed) as srv:
            async with s3fast.Client(endpoint_url=srv.endpoint_url, config=CONFIG) as client:
                await (warm or (lambda c: c.head("s3://bucket/warm")))(client)
                tracemalloc.start()
                try:
                    with pytest.raises(s3fast.S3FastError) as info:
                        await call(client)
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                return info.value, peak, srv

    return run(go())


def always(answer: Answer) -> Callable[[str, str], Answer]:
    return lambda method, target: answer


def chunked(code: int, body: Callable[[], Any]) -> Answer:
    return Answer(status(code, "OK" if code == 200 else "Forbidden", "Transfer-Encoding: chunked"), body)


#: chunked bodies that must not be buffered: each would send FLOOD bytes if let through
HOSTILE_CHUNKED = {
    "gigabyte-chunk": chain(b"40000000\r\n", repeat(JUNK, FLOOD)),
    "no-crlf": repeat(JUNK, FLOOD),
    "endless-extension": chain(b"5;ext=", repeat(JUNK, FLOOD)),
    "endless-trailers": chain(b"0\r\n", repeat(b"x-t: " + b"v" * 1000 + b"\r\n", FLOOD)),
    "endless-trailer-line": chain(b"0\r\nx-t: ", repeat(JUNK, FLOOD)),
    "many-small-chunks": repeat(b"%x\r\n" % len(JUNK) + JUNK + b"\r\n", FLOOD),
}


# -- heads ------------------------------------------------------------------------------------

def test_endless_head_is_refused_at_the_head_limit() -> None:
    err, peak, _ = measure(always(Answer(b"HTTP/1.1 200 OK\r\nX-Junk: ", repeat(JUNK, FLOOD))),
                           lambda c: c.head(URL))
    assert isinstance(err, s3fast.NetworkError) and err.kind == "protocol"
    assert f"larger than {MAX_HEAD_BYTES} bytes" in str(err)
    assert peak < 2 * MiB


def test_head_with_too_many_header_lines_is_refused() -> None:
    head = status(200, "OK", "Content-Length: 0", *(f"h{i}: v" for i in range(MAX_HEADERS + 1)))
    assert len(head) < MAX_HEAD_BYTES
    err, peak, _ = measure(always(Answer(head)), lambda c: c.head(URL))
    assert isinstance(err, s3fast.NetworkError) and err.kind == "protocol"
    assert f"more than {MAX_HEADERS} header lines" in str(err)
    assert peak < 2 * MiB


BAD_LENGTHS = ["+5", "-1", "5, 6", "1_000", "\u0663".encode().decode("latin-1"), str(1 << 63), str(1 << 64), " 0x10"]


@pytest.mark.parametrize("value", BAD_LENGTHS)
def test_head_with_a_bad_content_length_is_refused(value: str) -> None:
    answer = Answer(status(200, "OK", f"Content-Length: {value}", 'ETag: "e"'), close=False)
    err, _, srv = measure(always(answer), lambda c: c.head(URL))
    assert isinstance(err, s3fast.NetworkError) and err.kind == "protocol"
    assert "Content-Length" in str(err)


def test_head_without_a_content_length_is_a_failed_transfer_not_bad_input() -> None:
    # The server's fault: a TransferError (the CLI's exit 1), never the ConfigError of a
    # usage mistake (exit 2), which `s3fast cat` used to answer.
    answer = Answer(status(200, "OK", 'ETag: "e"', "Connection: close"), close=True)
    err, _, _ = measure(always(answer), lambda c: c.head(URL))
    assert isinstance(err, s3fast.TransferError) and not isinstance(err, s3fast.ConfigError), repr(err)
    assert "no Content-Length" in str(err)


@pytest.mark.parametrize("value", BAD_LENGTHS)
def test_get_with_a_bad_content_length_is_refused(value: str) -> None:
    answer = Answer(status(200, "OK", f"Content-Length: {value}", 'ETag: "e"'), repeat(b"x", 64), close=True)
    err, _, _ = measure(always(answer), lambda c: c.get_bytes(URL))
    cause = err if isinstance(err, s3fast.NetworkError) else err.__cause__
    assert isinstance(cause, s3fast.NetworkError) and cause.kind == "protocol", err
    assert "Content-Length" in str(err)


def test_repeated_content_length_is_refused_even_when_equal() -> None:
    # Strict framing: one Content-Length or none (RFC 9112 lets a client refuse repeats).
    answer = Answer(status(200, "OK", "Content-Length: 1000", "Content-Length: 1000", 'ETag: "e"'),
                    lambda: (os.urandom(1000),), close=True)
    err, _, _ = measure(always(answer), lambda c: c.get_bytes(URL))
    assert isinstance(err, s3fast.NetworkError) and err.kind == "protocol"
    assert "Content-Length" in str(err)


# -- bodies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(HOSTILE_CHUNKED))
def test_hostile_chunked_error_body_is_not_buffered(name: str) -> None:
    # The error body is read for its message only up to MAX_ERROR_BODY: the caller still
    # gets the status it answered.
    err, peak, _ = measure(always(chunked(403, HOSTILE_CHUNKED[name])), lambda c: c.get_bytes(URL))
    assert isinstance(err, s3fast.S3Error) and err.status == 403
    assert peak < MAX_ERROR_BODY + 2 * MiB


def test_endless_close_delimited_error_body_is_not_buffered() -> None:
    answer = Answer(status(403, "Forbidden"), repeat(JUNK, FLOOD))
    err, peak, _ = measure(always(answer), lambda c: c.get_bytes(URL))
    assert isinstance(err, s3fast.S3Error) and err.status == 403
    assert peak < MAX_ERROR_BODY + 2 * MiB


@pytest.mark.parametrize("name", list(HOSTILE_CHUNKED))
def test_hostile_chunked_listing_is_refused(name: str) -> None:
    async def listing(client: s3fast.Client) -> None:
        async for _ in client.list("s3://bucket/"):
            pass

    err, peak, _ = measure(always(chunked(200, HOSTILE_CHUNKED[name])), listing)
    assert isinstance(err, s3fast.NetworkError) and err.kind == "protocol", err
    assert "chunked body" in str(err)
    # the decoded body alone may reach the XML limit before "many-small-chunks" is refused
    assert peak < (MAX_XML_BODY + 6 * MiB if name == "many-small-chunks" else 2 * MiB)


@pytest.mark.parametrize("name", ["gigabyte-chunk", "no-crlf", "endless-trailers"])
def test_upload_whose_complete_answer_is_hostile_fails_and_is_aborted(name: str) -> None:
    data = memoryview(os.urandom(12 * MiB))  # three parts

    err, peak, srv = measure(s3_multipart(chunked(200, HOSTILE_CHUNKED[name])),
                             lambda c: c.put_bytes("s3://bucket/up", data))
    cause = err if isinstance(err, s3fast.NetworkError) else err.__cause__
    assert isinstance(cause, s3fast.NetworkError) and cause.kind == "protocol", err
    completes = [t for m, t in srv.requests if m == "POST" and "uploadId=" in t]
    assert len(completes) == ONE_RETRY.max_attempts
    assert srv.requests[-1][0] == "DELETE"  # the upload was aborted, not left behind
    assert peak < 8 * MiB


# -- how often a broken answer is tried again ---------------------------------------------------

PATIENT_RETRY = s3fast.RetryConfig(backoff_base=0.001, throttle_backoff_base=0.001, backoff_cap=0.005)

BROKEN_ANSWERS = {
    "malformed-status-line": Answer(b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n"),
    "not-http": Answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
    "bad-chunk-size": chunked(200, chain(b"zz\r\n", b"x" * 100)),
    "two-content-lengths": Answer(status(200, "OK", "Content-Length: 3", "Content-Length: 4"), lambda: (b"abcd",)),
}


def tries(srv: HostileServer, key: str) -> int:
    return sum(1 for _, target in srv.requests if target.startswith(f"/bucket/{key}"))


@pytest.mark.parametrize("name", list(BROKEN_ANSWERS))
def test_a_server_breaking_http_is_retried_only_a_few_times(name: str) -> None:
    """A malformed answer is a protocol error: retried (on another IP when there is one) at
    most PROTOCOL_MAX_RETRIES times, never the max_attempts (10) that a reset gets."""
    from s3fast._retry import PROTOCOL_MAX_RETRIES

    config = SMALL.replace(timeouts=TIMEOUTS, retry=PATIENT_RETRY)

    async def go() -> tuple[BaseException, HostileServer, int]:
        async with HostileServer(always(BROKEN_ANSWERS[name])) as srv:
            async with s3fast.Client(endpoint_url=srv.endpoint_url, config=config) as client:
                with pytest.raises(s3fast.S3FastError) as info:
                    await client.get_bytes("s3://bucket/broken")
                return info.value, srv, client.stats.retries

    err, srv, retries = run(go())
    cause = err if isinstance(err, s3fast.NetworkError) else err.__cause__
    assert isinstance(cause, s3fast.NetworkError) and cause.kind == "protocol", err
    assert tries(srv, "broken") == 1 + PROTOCOL_MAX_RETRIES
    assert retries == PROTOCOL_MAX_RETRIES
    assert f"after {1 + PROTOCOL_MAX_RETRIES} attempts" in str(err)


def test_one_broken_answer_then_a_good_one_succeeds() -> None:
    answers = iter([BROKEN_ANSWERS["malformed-status-line"], fixed(200, b"hello", 'ETag: "e"')])
    config = SMALL.replace(timeouts=TIMEOUTS, retry=PATIENT_RETRY)

    async def go() -> bytes:
        async with HostileServer(lambda m, t: next(answers)) as srv:
            async with s3fast.Client(endpoint_url=srv.endpoint_url, config=config) as client:
                return await client.get_bytes("s3://bucket/once")

    assert run(go()) == b"hello"


# -- an honest but huge object -----------------------------------------------------------------

HUGE = 1 << 40


def test_get_bytes_refuses_an_object_over_memory_limit_before_allocating_it() -> None:
    # The first GET of a download asks for the whole object: its Content-Length is the size.
    answer = Answer(status(200, "OK", f"Content-Length: {HUGE}", 'ETag: "e"'), repeat(JUNK, FLOOD))
    err, peak, _ = measure(always(answer), lambda c: c.get_bytes(URL))
    assert isinstance(err, s3fast.ConfigError), err
    assert f"the object is {HUGE} bytes" in str(err) and "memory_limit" in str(err)
    assert peak < CONFIG.memory_limit  # no 1 TiB buffer, nor anything near the limit
