"""Name resolution that returns *every* address of a host.

S3 answers each DNS query with several A/AAAA records (multivalue answers, since
Aug 2023) and a different set on the next query. The endpoint table
(``_endpoints.py``) spreads connections over all of them, so a resolver here must
never collapse the answer to one address the way ``socket.create_connection``
does.

- :class:`Resolver` -- the protocol: ``await resolve(host, port) -> [ip, ...]``.
- :class:`SystemResolver` -- the OS resolver via ``loop.getaddrinfo``.
- :class:`StaticResolver` -- user overrides, like curl's ``--resolve``.
- :func:`parse_resolve_option` -- parses CLI ``--resolve`` values.

All resolvers return IP strings in canonical form (``ipaddress`` ``str()``),
deduplicated, in the order the source gave them.
"""
from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from typing import Protocol

__all__ = [
    "ResolveError",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "parse_resolve_option",
]


class ResolveError(OSError):
    """A host could not be resolved to any address.

    An ``OSError`` so that callers treating "cannot reach the endpoint" as one
    family of errors (connect refused, DNS failure) need a single ``except``.
    ``permanent`` says the answer was that the name does not exist (NXDOMAIN,
    no address records, no ``--resolve`` entry): asking again cannot help,
    unlike a lookup that failed for now (EAI_AGAIN: no answer from the server).
    """

    def __init__(self, host: str, port: int, detail: str, *, permanent: bool = False) -> None:
        super().__init__(f"cannot resolve {host}:{port}: {detail}")
        self.host = host
        self.port = port
        self.permanent = permanent


#: getaddrinfo errors that are the DNS's final word on a name: it does not exist, or it has
#: no address. EAI_AGAIN (the server did not answer), EAI_FAIL and EAI_MEMORY may pass.
_PERMANENT_GAI = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None),
                      getattr(socket, "EAI_ADDRFAMILY", None))
    if code is not None
)


class Resolver(Protocol):
    """Anything that maps ``(host, port)`` to all of its IP addresses."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Return every IP address (IPv4 and IPv6) of ``host``, deduplicated,
        in preference order. Raise :class:`ResolveError` (or another
        ``OSError``) when there is none."""
        ...


def ip_literal(value: str) -> str | None:
    """Canonical form of ``value`` if it is an IP address literal, else None.

    Accepts IPv6 in brackets (``[::1]``), as it appears in URLs and ``--resolve``.
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _dedupe(values: Iterable[str]) -> list[str]:
    # dict keeps insertion order: the resolver's preference order survives.
    return list(dict.fromkeys(values))


class SystemResolver:
    """Resolve through the OS (``getaddrinfo`` in the loop's thread pool).

    ``family`` restricts the answer (``socket.AF_INET`` for IPv4 only, e.g. on
    hosts without IPv6 routes); the default ``AF_UNSPEC`` returns A and AAAA
    records in the order the system's address selection (RFC 6724) prefers.
    """

    def __init__(self, *, family: int = socket.AF_UNSPEC) -> None:
        self.family = family

    async def resolve(self, host: str, port: int) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            # No lookup: an IP literal is its own answer (and must not hit DNS).
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, family=self.family, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise ResolveError(host, port, exc.strerror or str(exc),
                               permanent=exc.errno in _PERMANENT_GAI) from exc
        ips = _dedupe(str(info[4][0]) for info in infos)
        if not ips:
            raise ResolveError(host, port, "no addresses returned", permanent=True)
        return ips

    def __repr__(self) -> str:
        return f"<SystemResolver family={socket.AddressFamily(self.family).name}>"


def _normalise_host(host: str) -> str:
    # DNS names are case-insensitive and may carry a trailing root dot.
    return host.strip().rstrip(".").lower()


class StaticResolver:
    """Fixed answers for some hosts, like curl's ``--resolve``.

    ``mapping`` keys are ``"host"`` or ``"host:port"`` (the latter wins for that
    port, as with curl's ``HOST:PORT:ADDR``); values are non-empty lists of IP
    literals. Hosts not in the mapping go to ``fallback``; without a fallback
    they raise :class:`ResolveError` -- except IP literals, which resolve to
    themselves.

    Invalid entries raise ``ValueError`` at construction, not on first use, so a
    typo in a user's ``resolve=`` argument fails fast.
    """

    def __init__(
        self,
        mapping: Mapping[str, Iterable[str]],
        fallback: Resolver | None = None,
    ) -> None:
        table: dict[str, list[str]] = {}
        for key, values in mapping.items():
            host, port = _split_mapping_key(key)
            if isinstance(values, str):
                values = [values]  # resolve={"host": "1.2.3.4"} is an obvious intent
            ips: list[str] = []
            for value in values:
                ip = ip_literal(value)
                if ip is None:
                    raise ValueError(
                        f"resolve entry {key!r}: {value!r} is not an IP address"
                    )
                ips.append(ip)
            if not ips:
                raise ValueError(f"resolve entry {key!r}: no IP addresses given")
            name = host if port is None else f"{host}:{port}"
            table[name] = _dedupe(table.get(name, []) + ips)
        self._table = table
        self.fallback = fallback

    @property
    def mapping(self) -> dict[str, list[str]]:
        """A copy of the normalised table (keys lower-case, IPs canonical)."""
        return {key: list(ips) for key, ips in self._table.items()}

    async def resolve(self, host: str, port: int) -> list[str]:
        name = _normalise_host(host)
        for key in (f"{name}:{port}", name):
            ips = self._table.get(key)
            if ips is not None:
                return list(ips)
        if self.fallback is not None:
            return await self.fallback.resolve(host, port)
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        raise ResolveError(host, port, "no --resolve entry for this host and no fallback", permanent=True)

    def __repr__(self) -> str:
        entries = ", ".join(f"{k}->{','.join(v)}" for k, v in self._table.items())
        return f"<StaticResolver [{entries}] fallback={self.fallback!r}>"


# Letters, digits, '-', '_' and dots; curl's '*' wildcard is not supported.
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def _check_host(host: str, context: str) -> str:
    name = _normalise_host(host)
    if not name or not _HOST_RE.match(name):
        raise ValueError(f"{context}: {host!r} is not a valid host name")
    return name


def _check_port(text: str, context: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"{context}: port {text!r} must be a number in 1-65535")
    return int(text)


def _split_mapping_key(key: str) -> tuple[str, int | None]:
    context = f"resolve entry {key!r}"
    host, sep, port = key.partition(":")
    return _check_host(host, context), (_check_port(port, context) if sep else None)


def _parse_ip_list(text: str, context: str) -> list[str]:
    """Parse ``IP[,IP...]``; ``ValueError`` naming the first bad item."""
    ips: list[str] = []
    for item in text.split(","):
        ip = ip_literal(item)
        if ip is None:
            raise ValueError(f"{context}: {item.strip()!r} is not an IP address")
        ips.append(ip)
    return ips


def parse_resolve_option(values: Iterable[str]) -> dict[str, list[str]]:
    """Parse CLI ``--resolve`` values into a :class:`StaticResolver` mapping.

    Accepted forms (IPv6 addresses may, and where ambiguous must, be bracketed)::

        HOST:IP[,IP...]            s3.amazonaws.com:52.1.2.3,52.1.2.4
        HOST:PORT:IP[,IP...]       s3.amazonaws.com:443:[2600::1],52.1.2.3  (curl)

    The port form yields a ``"host:port"`` key that applies to that port only.
    Repeated options for the same key are merged. ``HOST:1:2::3`` is read as
    host plus the IPv6 address ``1:2::3``; write ``HOST:1:[2::3]`` to mean a
    port. Raises ``ValueError`` naming the offending value.
    """
    result: dict[str, list[str]] = {}
    for raw in values:
        context = f"--resolve {raw!r}"
        host, sep, rest = raw.strip().partition(":")
        if not sep or not rest.strip():
            raise ValueError(
                f"{context}: expected HOST:IP[,IP...] or HOST:PORT:IP[,IP...]"
            )
        key = _check_host(host, context)
        port_text, sep, ip_text = rest.partition(":")
        # "HOST:PORT:..." only when the whole remainder is not already an IP
        # list: an unbracketed IPv6 address also starts with "digits:".
        if sep and port_text.strip().isdigit() and ip_literal(rest.split(",")[0]) is None:
            key = f"{key}:{_check_port(port_text.strip(), context)}"
            if not ip_text.strip():
                raise ValueError(f"{context}: no IP address after the port")
            rest = ip_text
        result[key] = _dedupe(result.get(key, []) + _parse_ip_list(rest, context))
    return result
