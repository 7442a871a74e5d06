"""SigV4 signing for S3, with the per-day signing key cached.

Payloads are not hashed (``UNSIGNED-PAYLOAD``): integrity comes from the CRC64NVME /
CRC32C checksum every upload carries, which S3 verifies, at a fraction of SHA-256's cost.

Why not awscrt's C signer, which this module used first: per request it costs ~30 us
(building an ``HttpRequest``, a future, and iterating the signed headers back out of C),
while what SigV4 needs per request once the signing key is cached is one SHA-256 of the
canonical request and one HMAC, both in C through ``hashlib``/``hmac``. The canonical
request and the head around it are built by ``_sigv4`` (compiled, with its pure twin).
awscrt's signer stays the reference: ``tests/unit/test_signer.py`` checks this one against
it, header for header, on every request shape s3fast sends (paths, queries, session
tokens, clock offsets), through both :meth:`Signer.sign` and :meth:`Signer.head`.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

from .._impl import sigv4_impl
from .._py import _sigv4
from ._credentials import Credentials

_UNSIGNED = "UNSIGNED-PAYLOAD"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


class _Hmac:
    """HMAC-SHA256 under one fixed key, with the padded key's hash states computed once:
    ~1 us a message, against ~4 us for ``hmac.digest`` (which sets OpenSSL's HMAC up anew
    every call)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, msg: bytes) -> str:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Signer:
    def __init__(self, region: str, service: str = "s3", clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self.service = service
        #: seconds to add to the local clock (set from a RequestTimeTooSkewed answer)
        self.clock_offset = 0.0
        self._clock = clock
        self._second = -1
        self._amz_date = ""
        self._day = ""
        # (day, credentials) -> signing key; the key changes at midnight UTC and with the keys
        self._key_for: tuple[str, Credentials] | None = None
        self._key: _Hmac | None = None
        self._scope = ("", "")  # (day, credential scope)

    def __repr__(self) -> str:
        return f"<Signer {self.service}/{self.region} offset={self.clock_offset:+.1f}s>"

    def _now(self) -> None:
        second = int(self._clock() + self.clock_offset)
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._day = self._amz_date[:8]

    def _signing_key(self, creds: Credentials) -> _Hmac:
        day = self._day
        cached = self._key_for
        if self._key is None or cached is None or cached[0] != day or cached[1] is not creds:
            k = _hmac(("AWS4" + creds.secret_key).encode("utf-8"), day)
            k = _hmac(k, self.region)
            k = _hmac(k, self.service)
            self._key = _Hmac(_hmac(k, "aws4_request"))
            self._key_for = (day, creds)
        return self._key

    def sign(self, creds: Credentials, method: str, target: str, headers: Sequence[tuple[str, str]],
             payload: str = _UNSIGNED) -> list[tuple[str, str]]:
        """Return ``headers`` plus x-amz-content-sha256 (``payload``: UNSIGNED-PAYLOAD, or
        STREAMING-UNSIGNED-PAYLOAD-TRAILER for an aws-chunked body with a checksum trailer),
        X-Amz-Date, the session token (if any) and Authorization. Header names in
        ``headers`` must be lower-case."""
        self._now()
        return _sigv4.sign_headers(method, target, headers, payload, self._amz_date, self._scope_now(),
                                   creds.access_key, creds.token, self._signing_key(creds))

    def head(self, creds: Credentials, method: str, target: str, headers: Sequence[tuple[str, str]],
             user_agent: str, payload: str = _UNSIGNED) -> bytes:
        """The whole request head, signed (see :meth:`sign`), as bytes to send; built in C
        by the compiled core."""
        self._now()
        return sigv4_impl.signed_head(method, target, headers, user_agent, payload, self._amz_date,
                                      self._scope_now(), creds.access_key, creds.token, self._signing_key(creds))

    def _scope_now(self) -> str:
        scope = self._scope
        if scope[0] != self._day:
            self._scope = scope = (self._day, f"{self._day}/{self.region}/{self.service}/aws4_request")
        return scope[1]
