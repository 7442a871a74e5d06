"""``s3://bucket/key`` URLs and the HTTP endpoint a request goes to (pure)."""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ._errors import ConfigError
from ._headers import check_region
from ._results import quick_init

# S3's bucket naming rules, loosely: 3-63 chars of lower-case letters, digits, dots, dashes
# (S3-compatible servers allow more, so only what would break a URL is refused).
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_DNS_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# What can go in front of the endpoint's host name: DNS labels of lower-case letters, digits, '-'.
_VIRTUAL_BUCKET_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@quick_init
@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3_url(text: str) -> bool:
    return text.startswith("s3://")


def check_bucket(bucket: object) -> str:
    """A bucket name that can go into a request line or a host name as is."""
    if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
        raise ConfigError(f"invalid bucket name {bucket!r}")
    return bucket


def parse_s3_url(text: str, *, require_key: bool = True) -> S3Url:
    """``s3://bucket/a/b.bin`` -> S3Url("bucket", "a/b.bin"); clear errors otherwise."""
    if not isinstance(text, str) or not text.startswith("s3://"):
        raise ConfigError(f"not an S3 URL: {text!r} (expected s3://bucket/key)")
    rest = text[5:]
    bucket, sep, key = rest.partition("/")
    if not bucket:
        raise ConfigError(f"S3 URL has no bucket: {text!r} (expected s3://bucket/key)")
    if not _BUCKET_RE.fullmatch(bucket):
        raise ConfigError(f"invalid bucket name {bucket!r} in {text!r}")
    if require_key and not key:
        raise ConfigError(f"S3 URL has no key: {text!r} (expected s3://bucket/key)")
    check_key(key, text)
    return S3Url(bucket, key)


#: S3's limit on a key: 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024


def check_key(key: str, shown: str | None = None) -> str:
    """A key S3 can store: UTF-8 text of at most 1024 bytes (S3 would refuse a longer one
    only after the whole body was sent)."""
    where = shown if shown is not None else key
    try:
        size = len(key.encode("utf-8")) if not key.isascii() else len(key)
    except UnicodeEncodeError:
        # A file name that is not UTF-8 reaches Python as lone surrogates; S3 keys are UTF-8.
        raise ConfigError(f"S3 keys are UTF-8 text; {_show_key(where)} is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise ConfigError(f"S3 key too long: {size} bytes of UTF-8, S3 allows at most {MAX_KEY_BYTES} "
                          f"({_show_key(where)})")
    return key


def _show_key(text: str) -> str:
    shown = repr(text[:80])
    return shown + ("..." if len(text) > 80 else "")


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: scheme, host (for Host/SNI/certificates) and port."""

    scheme: str
    host: str
    port: int
    #: "path" or "virtual"
    addressing_style: str
    #: True when the user gave the endpoint (S3-compatible server, not AWS).
    custom: bool = False

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def host_header(self, bucket: str | None) -> str:
        host = self.host_for(bucket)
        default = 443 if self.tls else 80
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return host if self.port == default else f"{host}:{self.port}"

    def host_for(self, bucket: str | None) -> str:
        if bucket and self.addressing_style == "virtual":
            if not _VIRTUAL_BUCKET_RE.fullmatch(bucket):
                # It would be a host name: upper case, '_' or '..' make one no DNS server answers.
                raise ConfigError(f"bucket {bucket!r} cannot be a host name; virtual-hosted addressing needs "
                                  "lower-case letters, digits, '-' and '.' (use --addressing-style path)")
            return f"{bucket}.{self.host}"
        return self.host

    def target(self, bucket: str | None, key: str | None = None, query: str = "") -> str:
        """The request target (already URI-encoded, as SigV4 wants it for S3)."""
        if bucket is None:
            path = "/"
        elif self.addressing_style == "virtual":
            path = "/" + quote_key(key or "")
        else:
            path = f"/{bucket}/" + quote_key(key or "") if key else f"/{bucket}"
        return f"{path}?{query}" if query else path


def quote_key(key: str) -> str:
    # S3 wants every segment encoded, '/' kept, no dot-segment normalisation.
    return quote(key, safe="/~")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


# A host name as it may appear in a URL (IP literals are checked apart): no spaces, no
# controls, nothing that would end the Host header or the authority early.
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")


def parse_endpoint_url(url: str) -> tuple[str, str, int]:
    """``http(s)://host[:port][/]`` -> (scheme, host, port).

    Everything else is refused rather than silently dropped: a path (``/minio`` behind a
    reverse proxy would need every request prefixed, which s3fast does not do), a query,
    a fragment, and user:password (credentials do not travel in the endpoint; they would
    also be printed in error messages). Controls and spaces are refused before parsing,
    because ``urlsplit`` deletes tabs and line breaks instead of failing.
    """
    shown = _show_url(url)
    if not isinstance(url, str) or not url:
        raise ConfigError(f"invalid endpoint URL {shown} (expected http(s)://host[:port])")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        raise ConfigError(f"invalid endpoint URL {shown}: spaces, control or non-ASCII characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid endpoint URL {shown} (expected http(s)://host[:port])")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError(f"endpoint URL must not carry user:password (use AWS credentials): {shown}")
    if parts.path not in ("", "/"):
        raise ConfigError(f"endpoint URL must not have a path ({parts.path!r}): {shown}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(f"endpoint URL must not have a query or fragment: {shown}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"invalid port in endpoint URL {shown}") from None
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ConfigError(f"invalid port in endpoint URL {shown}")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname
    if not (_is_ip(host) or _HOST_RE.fullmatch(host)) or (":" in host and not parts.netloc.startswith("[")):
        raise ConfigError(f"invalid host {host!r} in endpoint URL {shown}")
    return parts.scheme, host, port


def _show_url(url: object) -> str:
    # The user's own input, but with controls escaped, capped, and never a password.
    text = repr(_USERINFO_RE.sub("//***@", url) if isinstance(url, str) else url)
    return text if len(text) <= 200 else text[:200] + "..."


_USERINFO_RE = re.compile(r"//[^/?#]*@")


def resolve_endpoint(
    endpoint_url: str | None,
    region: str,
    addressing_style: str = "auto",
    *,
    bucket_hint: str | None = None,
) -> Endpoint:
    """Pick the endpoint: the argument, else ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, else AWS.

    The region is validated here because every request's host (AWS) or signature scope
    (any endpoint) is built from it.
    """
    if addressing_style not in ("auto", "path", "virtual"):
        raise ConfigError(f"addressing_style must be auto, path or virtual, got {addressing_style!r}")
    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        scheme, host, port = parse_endpoint_url(url)
        check_region(region, custom_endpoint=True)
        style = addressing_style
        if style == "auto":
            # S3-compatible servers on IPs, localhost or custom ports rarely have wildcard DNS.
            style = "path"
        elif style == "virtual" and _is_ip(host):
            raise ConfigError(f"virtual-hosted addressing puts the bucket in the host name; {host} is an IP "
                              "address (use --addressing-style path)")
        return Endpoint(scheme, host, port, style, custom=True)
    check_region(region, custom_endpoint=False)
    style = addressing_style
    if style == "auto":
        # Dotted bucket names break the wildcard certificate of virtual hosts.
        style = "virtual" if bucket_hint is None or _DNS_BUCKET_RE.fullmatch(bucket_hint) else "path"
    return Endpoint("https", f"s3.{region}.amazonaws.com", 443, style)


__all__ = ["S3Url", "Endpoint", "MAX_KEY_BYTES", "check_bucket", "check_key", "parse_s3_url", "is_s3_url", "resolve_endpoint", "parse_endpoint_url", "quote_key"]
