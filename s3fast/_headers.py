"""Validation of what users put into request heads: header names and values, user metadata,
the region (pure; raises :class:`ConfigError` before anything is sent).

Why each rule:

* A CR or LF in a value ends the header line early: whatever follows becomes a header of
  the user's choosing (or a second request) on the wire. Every other control character is
  refused too (NUL truncates in C code; the rest are not HTTP).
* Values must be ASCII: the head goes on the wire in latin-1 while SigV4 hashes the
  canonical request in UTF-8, so a non-ASCII value could never be signed correctly; S3
  stores and returns user metadata as US-ASCII (other text is RFC 2047-encoded by the
  caller, as the AWS SDKs document).
* Names are RFC 7230 tokens; metadata keys become ``x-amz-meta-<key lower-cased>``, so two
  keys that differ only in case would silently overwrite each other: refused.
* S3 limits user metadata to 2 KB, counted as the UTF-8 bytes of every key (without the
  ``x-amz-meta-`` prefix) and value; larger is refused here rather than by S3 after the
  whole body was sent.
* The region is part of the host name of AWS endpoints and of the SigV4 credential scope
  (``.../<region>/s3/aws4_request``): a ``/``, a space or a line break there breaks the
  signature or the head.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from ._errors import ConfigError

#: S3's limit on user-defined metadata (keys and values, UTF-8 bytes).
MAX_USER_METADATA_BYTES = 2 * 1024
#: A bound on any single header value we send (S3 refuses request heads over 8 KB).
MAX_HEADER_VALUE = 8 * 1024

# Every pattern here is applied with fullmatch: "$" would accept a trailing newline.
# RFC 7230 section 3.2.6: token = 1*tchar.
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Visible ASCII, space and horizontal tab (RFC 7230 field-content without obs-text).
_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")
# AWS regions: us-east-1, us-gov-west-1, eu-isoe-west-1, eusc-de-east-1...
_AWS_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$")
# S3-compatible servers name regions freely (R2 "auto", MinIO any string, Garage "garage"):
# one path segment of the credential scope, no separators, no spaces.
_CUSTOM_REGION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _show(text: str, limit: int = 60) -> str:
    # repr() escapes CR/LF and other controls visibly; cap it so a huge value stays one line.
    shown = repr(text[:limit])
    return shown + ("..." if len(text) > limit else "")


def check_header_name(name: object, *, what: str = "header name") -> str:
    if not isinstance(name, str):
        raise ConfigError(f"{what} must be a string, got {type(name).__name__}")
    if not _TOKEN_RE.fullmatch(name):
        raise ConfigError(f"invalid {what} {_show(name)}: letters, digits and !#$%&'*+-.^_`|~ only (RFC 7230 token)")
    return name


def check_header_value(name: str, value: object, *, what: str | None = None) -> str:
    label = what or name
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be a string, got {type(value).__name__}")
    if len(value) > MAX_HEADER_VALUE:
        raise ConfigError(f"{label} is too long ({len(value)} characters; at most {MAX_HEADER_VALUE})")
    if not _VALUE_RE.fullmatch(value):
        bad = next(c for c in value if not _VALUE_RE.fullmatch(c))
        if bad in "\r\n":
            why = "contains a line break (CR/LF), which would inject headers"
        elif ord(bad) < 0x20 or ord(bad) == 0x7F:
            why = f"contains the control character {bad!r}"
        else:
            why = f"contains the non-ASCII character {bad!r} (header values are ASCII; RFC 2047-encode other text)"
        raise ConfigError(f"invalid {label} {_show(value)}: {why}")
    return value


def user_headers(content_type: str | None = None, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
    """The request headers for an upload's ``content_type`` and ``metadata``, validated."""
    headers: dict[str, str] = {}
    # None or "": S3's default (binary/octet-stream). Any other falsy value (0, b"", False)
    # is a caller's mistake, refused like any non-str rather than silently dropped.
    if content_type is not None and content_type != "":
        headers["content-type"] = check_header_value("content-type", content_type, what="content type")
    if metadata is not None:
        headers.update(metadata_headers(metadata))
    return headers


def metadata_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """``{"Owner": "me"}`` -> ``{"x-amz-meta-owner": "me"}`` under S3's rules (see the module)."""
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"metadata must be a mapping of str to str, got {type(metadata).__name__}")
    out: dict[str, str] = {}
    keys: dict[str, str] = {}
    total = 0
    for key, value in metadata.items():
        check_header_name(key, what="metadata key")
        name = f"x-amz-meta-{key.lower()}"
        if name in keys:
            raise ConfigError(f"metadata keys {keys[name]!r} and {key!r} differ only in case (S3 lower-cases them)")
        keys[name] = key
        out[name] = check_header_value(name, value, what=f"metadata value of {key!r}")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_USER_METADATA_BYTES:
        raise ConfigError(f"user metadata is {total} bytes; S3 allows at most {MAX_USER_METADATA_BYTES} "
                          "(keys and values together)")
    return out


def check_region(region: object, *, custom_endpoint: bool) -> str:
    """The region, if it can go into a host name (AWS) or a credential scope (any endpoint)."""
    if not isinstance(region, str):
        raise ConfigError(f"region must be a string, got {type(region).__name__}")
    pattern = _CUSTOM_REGION_RE if custom_endpoint else _AWS_REGION_RE
    if not pattern.fullmatch(region):
        example = "letters, digits, '.', '_' and '-'" if custom_endpoint else "like us-east-1 or eu-west-2"
        raise ConfigError(f"invalid region {_show(region)} ({example})")
    return region


__all__ = [
    "MAX_USER_METADATA_BYTES",
    "check_header_name",
    "check_header_value",
    "check_region",
    "metadata_headers",
    "user_headers",
]
