"""TLS contexts for s3fast's own connections, offering AES-128-GCM first under TLS 1.3.

Why: over HTTPS, decrypting the body is the client's floor, and the server takes the
client's first TLS 1.3 suite it supports (nginx and most S3 fronts do not impose their own
order). OpenSSL's client offers TLS_AES_256_GCM_SHA384 first; AES-128-GCM does the same job
with 10 AES rounds instead of 14 (Go's TLS client makes the same choice on CPUs with AES
instructions, and ChaCha20-Poly1305 first on those without). All three suites stay on
offer, only their order changes, so no server that worked before stops working.

How: Python's :mod:`ssl` has no call for TLS 1.3 suites (``set_ciphers`` reaches TLS 1.2
and below only), and no per-context OpenSSL configuration. OpenSSL's
``SSL_CTX_set_ciphersuites`` is therefore called through :mod:`ctypes`, on the ``SSL_CTX``
of the one context s3fast just made, never process-wide and never on a library user's
context. Each step is checked and any doubt keeps OpenSSL's default order (logged at
debug level): the function is looked up in the very OpenSSL that ``_ssl`` is linked
against (through ``_ssl``'s own handle); that library must report the version
:data:`ssl.OPENSSL_VERSION_NUMBER` names; the ``SSL_CTX`` pointer, read from CPython's
``PySSLContext`` (its first field after the object header, unchanged since Python 3.7),
must give back the context's own options and verification mode before anything is set;
and afterwards :meth:`ssl.SSLContext.get_ciphers` (Python's own view of that context) must
list the chosen suite first. Nothing touches verification: ``verify_mode``, hostname
checking and the CA store stay exactly what ``ssl.create_default_context`` made.
"""
from __future__ import annotations

import ctypes
import logging
import ssl
import sys
from collections.abc import Callable
from functools import lru_cache

logger = logging.getLogger(__name__)

AES_FIRST = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
CHACHA_FIRST = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"

# OpenSSL's SSL_VERIFY_* bits (PEER 1, FAIL_IF_NO_PEER_CERT 2) for each of Python's modes.
_SSL_VERIFY = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}

# CPU feature flags that mean AES instructions: x86's "aes" (AES-NI), arm64's "aes".
_AES_FLAGS = frozenset({"aes"})


def make_ssl_context(ca_bundle: str | None, verify: bool) -> ssl.SSLContext:
    """A client context for S3: the standard verification (or none when ``verify`` is
    False, as asked), HTTP/1.1 by ALPN, and the TLS 1.3 suite order of :func:`tls13_suites`."""
    ctx = ssl.create_default_context(cafile=ca_bundle) if verify else ssl._create_unverified_context()
    # HTTP/1.1 only; S3 does not negotiate h2 for data.
    ctx.set_alpn_protocols(["http/1.1"])
    set_tls13_suites(ctx, tls13_suites(cpu_flags()))
    return ctx


def tls13_suites(flags: frozenset[str] | None) -> str:
    """The TLS 1.3 suites to offer, best first, for a CPU with these feature ``flags``
    (None: unknown, taken as having AES instructions, as every x86-64 and arm64 server
    CPU of the last decade has)."""
    if flags is None or flags & _AES_FLAGS:
        return AES_FIRST
    return CHACHA_FIRST


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """This CPU's feature flags from /proc/cpuinfo (None where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return None


def set_tls13_suites(ctx: ssl.SSLContext, suites: str) -> bool:
    """Offer ``suites`` (OpenSSL's colon-separated TLS 1.3 names) on ``ctx`` alone.

    Returns False when that cannot be done with certainty (see the module docstring), with
    ``ctx`` left at OpenSSL's defaults and the reason in the debug log; or, when OpenSSL
    accepted a list whose first name it skipped, with a warning.
    """
    api = _libssl()
    if api is None:
        return False
    ptr = _ssl_ctx_pointer(ctx)
    if ptr is None:
        logger.debug("TLS 1.3 suites left at OpenSSL's default: no SSL_CTX pointer on %s", type(ctx))
        return False
    if api.get_options(ptr) != int(ctx.options) or api.get_verify_mode(ptr) & 3 != _SSL_VERIFY[ctx.verify_mode]:
        logger.debug("TLS 1.3 suites left at OpenSSL's default: the SSL_CTX read does not match the context")
        return False
    if api.set_ciphersuites(ptr, suites.encode("ascii")) != 1:
        logger.debug("TLS 1.3 suites left at OpenSSL's default: OpenSSL refused %r", suites)
        return False
    offered = ctx.get_ciphers()
    first = offered[0]["name"] if offered else None
    if first != suites.split(":", 1)[0]:
        # OpenSSL took the list yet Python's view of this context disagrees: a name in
        # ``suites`` it skipped, or the wrong SSL_CTX. Worth more than a debug line.
        logger.warning("TLS 1.3 suites set to %r, yet the context offers %r first", suites, first)
        return False
    return True


class _Api:
    """The four libssl calls used, bound to the library ``_ssl`` itself uses."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.set_ciphersuites: Callable[[int, bytes], int] = _fn(lib, "SSL_CTX_set_ciphersuites",
                                                                ctypes.c_int, ctypes.c_char_p)
        self.get_options: Callable[[int], int] = _fn(lib, "SSL_CTX_get_options", ctypes.c_uint64)
        self.get_verify_mode: Callable[[int], int] = _fn(lib, "SSL_CTX_get_verify_mode", ctypes.c_int)


def _fn(lib: ctypes.CDLL, name: str, restype: type, *extra: type) -> Callable[..., int]:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = [ctypes.c_void_p, *extra]
    return fn  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _libssl() -> _Api | None:
    """libssl's calls, looked up through ``_ssl``'s handle so they are the same library's."""
    if sys.implementation.name != "cpython" or not ssl.HAS_TLSv1_3:
        logger.debug("TLS 1.3 suites left at OpenSSL's default: not CPython with TLS 1.3")
        return None
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        version = lib.OpenSSL_version_num
        version.restype = ctypes.c_ulong
        version.argtypes = []
        if version() != ssl.OPENSSL_VERSION_NUMBER:
            logger.debug("TLS 1.3 suites left at OpenSSL's default: libssl %x is not _ssl's %x",
                         version(), ssl.OPENSSL_VERSION_NUMBER)
            return None
        return _Api(lib)
    except (OSError, AttributeError) as exc:
        # _ssl built in or linked statically, or an OpenSSL older than 1.1.1 / LibreSSL
        # without the call.
        logger.debug("TLS 1.3 suites left at OpenSSL's default: %s", exc)
        return None


def _ssl_ctx_pointer(ctx: ssl.SSLContext) -> int | None:
    """The ``SSL_CTX *`` of ``ctx``: CPython's ``PySSLContext`` holds it right after the
    object header."""
    offset = object.__basicsize__
    if not isinstance(ctx, ssl.SSLContext) or ssl.SSLContext.__basicsize__ < offset + ctypes.sizeof(ctypes.c_void_p):
        return None
    value = ctypes.c_void_p.from_address(id(ctx) + offset).value
    return value or None
