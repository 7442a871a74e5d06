"""Differential fuzz: the compiled core and its pure twins, fed the same random input in one
process, give the same answers (results, or the same exception type and message).

Seeded (``S3FAST_FUZZ_SEED`` picks another seed; the failing seed is in the assertion),
bounded in count. Covers the response-head parser, the head-end finder, the SigV4 head
builder and the receive path fed the same bytes in different splits.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import random
from types import ModuleType
from typing import Any, Callable

from s3fast._py._common import HEAD_BUFFER_SIZE, MAX_HEAD_SIZE

from support.twins import both

SEED = int(os.environ.get("S3FAST_FUZZ_SEED", "20261203"))


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the point is to compare whatever happens
        return ("error", type(exc), str(exc))


# -- response heads ----------------------------------------------------------------------
NAMES = [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"ETag", b"x-amz-meta-a", b"X-Amz-Meta-A",
         b"Transfer-Encoding", b"Connection", b"x-\xe9", b"\xc0ABC", b"a", b"", b" lead", b"trail ", b"t\tab"]
VALUES = [b"", b"0", b"10", b"007", b"-5", b"+5", b"5_0", b" 12 ", b"\t3\t", b"1e3", b"\xb2", b"12345678901234567890",
          b"9223372036854775807", b"9223372036854775808", b"chunked", b"close", b'"abc"', b"a:b", b"x\ry",
          b"caf\xe9", b"  in  side  "]
STATUS = [b"HTTP/1.1 200 OK", b"HTTP/1.1 206 Partial Content", b"HTTP/1.0 404", b"HTTP/1.1 200 ", b"HTTP/1.x 200 OK",
          b"HTTP/1.11 200", b"HTTP/1.1  200", b"HTTP/1.1 2x0", b"HTTP/2 200", b"HTTP/1.1 200\tOK", b"HTTP/1.1 \xb200 A",
          b"", b"HTTP/1.1 999 \xff\xfe", b"http/1.1 200 OK"]


def random_head(rng: random.Random) -> bytes:
    lines = [rng.choice(STATUS)]
    for _ in range(rng.randrange(0, 12)):
        kind = rng.random()
        if kind < 0.8:
            lines.append(rng.choice(NAMES) + rng.choice([b":", b": ", b":\t", b" : ", b""]) + rng.choice(VALUES))
        elif kind < 0.9:
            lines.append(b"")
        else:
            lines.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
    sep = rng.choice([b"\r\n"] * 8 + [b"\n", b"\r"])
    head = sep.join(lines)
    if rng.random() < 0.1:
        head += b"\r\n"
    return head


def test_parse_head_twins_agree_on_random_heads() -> None:
    pure, native = both("_http")
    rng = random.Random(SEED)
    for i in range(3000):
        head = random_head(rng)
        for wrap in (bytes, bytearray, memoryview):
            got = outcome(native.parse_head, wrap(head))
            want = outcome(pure.parse_head, wrap(head))
            assert got == want, (SEED, i, head)


def test_find_head_end_twins_agree_on_random_receives() -> None:
    pure, native = both("_http")
    rng = random.Random(SEED + 1)
    for i in range(400):
        size = rng.choice([40, 300, 5000, MAX_HEAD_SIZE - 3, MAX_HEAD_SIZE + 2000])
        buf = bytearray(rng.choice(b"ab\r\n") for _ in range(min(size, 64)))
        buf += b"x" * (size - len(buf))
        for _ in range(rng.randrange(0, 3)):
            at = rng.randrange(0, size)
            buf[at:at + 4] = b"\r\n\r\n"[: len(buf) - at]
        start = 0
        while start < size:
            end = min(size, start + rng.randrange(1, 9000))
            got = outcome(native.find_head_end, buf, start, end)
            want = outcome(pure.find_head_end, buf, start, end)
            assert got == want, (SEED, i, start, end)
            if got[0] == "error" or got[1] >= 0:
                break
            start = end


# -- SigV4 heads -------------------------------------------------------------------------
class Key:
    def hexdigest(self, msg: bytes) -> str:
        return hmac.new(b"secret-key", msg, hashlib.sha256).hexdigest()


PIECES = ["a", "Z", "0", "-", " ", "  ", "\t", "\x0b", "=", "&", "?", "/", "%2F", "\xe9", "\u20ac", "\r", "\n", "\0", ";"]


def piece(rng: random.Random, bad: float) -> str:
    out = []
    for _ in range(rng.randrange(0, 8)):
        p = rng.choice(PIECES)
        if p in ("\r", "\n", "\0", "\u20ac") and rng.random() > bad:
            p = "x"
        out.append(p)
    return "".join(out)


def test_signed_head_twins_agree_on_random_requests() -> None:
    pure, native = both("_sigv4")
    rng = random.Random(SEED + 2)
    key = Key()
    for i in range(2000):
        bad = 0.0 if rng.random() < 0.6 else 0.3
        n = rng.choice([0, 1, 3, 8, 33, 40])
        headers = [(rng.choice(["host", "x-amz-meta-", "range", "content-type"]) + piece(rng, bad / 4), piece(rng, bad))
                   for _ in range(n)]
        query = "&".join(piece(rng, 0) for _ in range(rng.choice([0, 1, 5, 41])))
        target = "/b/" + piece(rng, bad / 4).replace(" ", "") + ("?" + query if query or rng.random() < 0.2 else "")
        args = (rng.choice(["GET", "PUT", "HEAD", "G ET"]), target, headers, "s3fast/" + piece(rng, bad / 4),
                "UNSIGNED-PAYLOAD", "20261203T120000Z", "20261203/us-east-1/s3/aws4_request", "AKID",
                rng.choice([None, "", "token/+=", "tok" + piece(rng, bad)]), key)
        got = outcome(native.signed_head, *args)
        want = outcome(pure.signed_head, *args)
        assert got == want, (SEED, i, args[:4])


# -- the receive path, fed the same bytes in different splits ----------------------------
class Harness:
    """A minimal connection over a Receiver: parses the head with the same twin's parser,
    then receives the body into a view (large) or the head buffer (small), and logs every
    hook call with what the receiver held at the time."""

    http: ModuleType

    def _setup(self, body_view: int) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.body = bytearray(body_view)
        self.expect_head()

    def _head_done(self, end: int) -> None:
        res = outcome(self.http.parse_head, self.head_view[:end - 4])
        self.log.append(("head", end, self.head_length, res))
        if res[0] == "error":
            self.hold()
            return
        length = int(res[1][2].get("content-length", "0"))
        self.set_remaining(length)
        got = self.head_length - end
        if end + length <= HEAD_BUFFER_SIZE:
            if got < length:
                self.stash_until(end + length)
            else:
                self.hold()
                self.log.append(("held", bytes(self.head_view[end:self.head_length])))
            return
        self.set_remaining(length - got)
        self.receive_into(memoryview(self.body)[:min(len(self.body), length - got)])

    def _stash_done(self) -> None:
        self.log.append(("stash", self.head_length, bytes(self.head_view[:self.head_length])))
        self.hold()

    def _view_done(self) -> None:
        self.log.append(("view", self.view_filled(), self.remaining, bytes(self.body[:self.view_filled()])))
        self.hold()

    def _file_done(self) -> None:  # pragma: no cover - no file mode here
        self.log.append(("file",))

    def _unexpected_data(self) -> None:
        self.log.append(("unexpected", self.mode, self.head_length))
        self.set_idle()


def run_receiver(recv: ModuleType, http: ModuleType, stream: bytes, splits: list[int]) -> list[tuple[Any, ...]]:
    cls = type("H", (Harness, recv.Receiver), {"http": http})
    r = cls(lambda: 1.0)
    r._setup(300_000)
    pos = 0
    for n in splits:
        if pos >= len(stream) or r.mode in (0, 2):
            break
        buf = r.get_buffer(-1)
        k = min(n, len(buf), len(stream) - pos)
        buf[:k] = stream[pos:pos + k]
        pos += k
        r.buffer_updated(k)
    r.log.append(("end", pos, r.mode, r.rx_bytes))
    return r.log


def random_response(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.1:
        return b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * (MAX_HEAD_SIZE + rng.randrange(0, 5000))
    length = rng.choice([0, 1, 100, 5000, HEAD_BUFFER_SIZE - 200, HEAD_BUFFER_SIZE + 10, 200_000])
    head = random_head(rng) if kind < 0.3 else b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: %d" % length
    body = bytes(rng.randrange(256) for _ in range(64)) * (length // 64 + 1)
    return head + b"\r\n\r\n" + body[:length] + b"extra" * rng.randrange(0, 2)


def test_receiver_twins_agree_on_the_same_byte_splits() -> None:
    pure_recv, native_recv = both("_recv")
    pure_http, native_http = both("_http")
    rng = random.Random(SEED + 3)
    for i in range(150):
        stream = random_response(rng)
        splits = [rng.choice([1, 3, 7, 100, 1460, 16384, 65536]) for _ in range(4000)]
        got = run_receiver(native_recv, native_http, stream, splits)
        want = run_receiver(pure_recv, pure_http, stream, splits)
        assert got == want, (SEED, i, stream[:200])


# -- the Receiver's public API: what the connection may use, the same in both twins -------------
RECEIVER_API = {
    # state changes
    "expect_head", "hold", "set_idle", "set_remaining", "take", "receive_into", "stash_until", "begin_file",
    "end_file", "begin_external", "external_received",
    # read-only state
    "mode", "remaining", "head_length", "head_view", "stash_target", "view_filled",
    # counters
    "rx_bytes", "last_rx", "file_written", "file_crc", "file_error",
    # the asyncio.BufferedProtocol half
    "get_buffer", "buffer_updated",
}


def test_receiver_public_api_is_the_same_in_both_twins_and_the_state_is_private() -> None:
    pure, native = both("_recv")
    for mod in (pure, native):
        r = mod.Receiver(lambda: 1.0)
        public = {n for n in dir(r) if not n.startswith("_")}
        assert public == RECEIVER_API, (mod.__name__, public ^ RECEIVER_API)
    # The compiled state is C fields the connection cannot write by accident: an assignment
    # to an old private name would only shadow it.
    r = native.Receiver(lambda: 1.0)
    for name in ("_mode", "_remaining", "_hlen", "_headview", "_stash_target", "_view"):
        assert not hasattr(r, name), name


def test_connection_uses_only_the_receiver_public_api() -> None:
    """No module outside the receiver touches its private fields (grep, as the review does)."""
    import pathlib
    import re

    import s3fast

    private = re.compile(r"\.(_headbuf|_headview|_hlen|_mode|_view|_vpos|_vlen|_remaining|_partial|_stash_target"
                         r"|_foff|_fleft|_fbufobj|_fheld|_fcrc_fn|_fon_progress|_funreported"
                         r"|_set_view|_set_stash|_view_filled|_set_file|_clear_file)\b")
    root = pathlib.Path(s3fast.__file__).parent
    offenders = [f"{path.relative_to(root)}:{i}" for path in root.rglob("*.py") if path.name != "_recv.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if private.search(line) and not line.lstrip().startswith(("from ", "import "))]
    assert offenders == []


def test_receiver_api_twins_agree_step_by_step() -> None:
    pure, native = both("_recv")

    def walk(mod: ModuleType) -> list[Any]:
        r = mod.Receiver(lambda: 2.0)
        out: list[Any] = [r.mode, r.remaining, r.head_length]
        r.expect_head()
        buf = r.get_buffer(-1)
        buf[:8] = b"HTTP/1.1"
        r.buffer_updated(8)
        out += [r.mode, r.head_length, bytes(r.head_view[:r.head_length]), r.last_rx]
        r.set_remaining(100)
        r.take(10)
        r.external_received(30)
        out += [r.remaining, r.rx_bytes]
        r.set_remaining(-1)  # until close: counted as received, nothing to count down
        r.external_received(5)
        r.take(5)
        out += [r.remaining, r.rx_bytes]
        r.begin_external()
        out.append(r.mode)
        r.stash_until(50)
        out += [r.mode, r.stash_target]
        body = bytearray(20)
        r.receive_into(memoryview(body), True)
        out += [r.mode, r.view_filled()]
        r.hold()
        out.append(r.mode)
        r.set_idle()
        out += [r.mode, r.head_length]
        return out

    assert walk(native) == walk(pure)
