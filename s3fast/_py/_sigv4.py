"""SigV4 for S3 request heads, pure Python (twin of ``native/_sigv4.pyx``).

``signed_head`` returns the whole request head, signed: what the transport writes before
a body. The compiled twin builds the canonical request and the head in one C buffer
(one allocation, no list of tuples, no f-strings per header); in place, building and
signing a head in Python cost ~36 µs of a ~90 µs small GET here, several times what a
micro-benchmark of it says (the caches are cold between requests).

The rules (S3 flavour of SigV4): the path is signed as sent (already URI-encoded once,
never normalised, no double encoding); query parameters are sorted by name then value,
a bare name signed as ``name=``; every header the request carries is signed, names
lower-case and values trimmed with inner runs of spaces collapsed.

Nothing malformed reaches the wire: a header name or value (or the method, target or
User-Agent) with CR, LF or NUL, or that is not latin-1, raises ``ConfigError``
(``_common.check_request``) in both twins, whatever validated it before.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from ._common import check_request

ALGORITHM = "AWS4-HMAC-SHA256"


class Mac(Protocol):
    def hexdigest(self, msg: bytes) -> str: ...


def canonical_query(query: str) -> str:
    if not query:
        return ""
    params = []
    for p in query.split("&"):
        k, eq, v = p.partition("=")
        params.append((k, v))
    if len(params) > 1:
        params.sort()
    return "&".join(f"{k}={v}" for k, v in params)


def trim(value: str) -> str:
    value = value.strip()
    return " ".join(value.split()) if "  " in value else value


def sign_headers(method: str, target: str, headers: Sequence[tuple[str, str]], payload: str, amz_date: str,
                 scope: str, access_key: str, token: str | None, key: Mac) -> list[tuple[str, str]]:
    """``headers`` (names lower-case) plus x-amz-content-sha256, x-amz-date, the session
    token (if any) and Authorization."""
    out = list(headers)
    out.append(("x-amz-content-sha256", payload))
    out.append(("x-amz-date", amz_date))
    if token:
        out.append(("x-amz-security-token", token))
    signed = sorted(out)
    keys = [k for k, _ in signed]
    names = ";".join(keys)
    if len(set(keys)) == len(keys):
        canonical_headers = "".join([f"{k}:{v.strip() if '  ' not in v else trim(v)}\n" for k, v in signed])
    else:  # a repeated name: one line, values joined
        merged: dict[str, list[str]] = {}
        for k, v in signed:
            merged.setdefault(k, []).append(trim(v))
        names = ";".join(merged)
        canonical_headers = "".join(f"{k}:{','.join(vs)}\n" for k, vs in merged.items())
    path, _, query = target.partition("?")
    if query:
        query = canonical_query(query)
    canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{names}\n{payload}"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = key.hexdigest(to_sign.encode())
    out.append(("authorization", f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"))
    return out


def plain_head(method: str, target: str, headers: Sequence[tuple[str, str]], user_agent: str) -> bytes:
    """An unsigned request head."""
    text = (f"{method} {target} HTTP/1.1\r\nUser-Agent: {user_agent}\r\n"
            + "".join([f"{k}: {v}\r\n" for k, v in headers]) + "\r\n")
    # One line per header, the request line, User-Agent and the empty line: a CR or LF
    # anywhere else (or a NUL, or a space splitting the request line) is an injection.
    lines = len(headers) + 3
    if (text.count("\n") != lines or text.count("\r") != lines or "\0" in text
            or " " in method or " " in target):
        check_request(method, target, headers, user_agent)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        check_request(method, target, headers, user_agent)
        raise


def signed_head(method: str, target: str, headers: Sequence[tuple[str, str]], user_agent: str, payload: str,
                amz_date: str, scope: str, access_key: str, token: str | None, key: Mac) -> bytes:
    """The request head with ``headers`` (names lower-case), signed: the headers in their
    order, then x-amz-content-sha256, x-amz-date, the token (if any) and Authorization."""
    return plain_head(method, target,
                      sign_headers(method, target, headers, payload, amz_date, scope, access_key, token, key),
                      user_agent)
