"""Resolvers return every address; --resolve parsing (s3fast.net._resolver)."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from s3fast.net._resolver import (
    ResolveError,
    StaticResolver,
    SystemResolver,
    parse_resolve_option,
)

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def _addrinfo(ip: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sockaddr = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


def run_with_getaddrinfo(
    fake: Callable[..., Awaitable[list[tuple[Any, ...]]]],
    call: Callable[[], Awaitable[T]],
) -> T:
    """Run ``call`` with the running loop's getaddrinfo replaced (no real DNS)."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = fake  # type: ignore[method-assign, assignment]
        return await call()

    return asyncio.run(main())


# ------------------------------------------------------------ SystemResolver


def test_system_resolver_localhost_returns_loopback_addresses() -> None:
    ips = run(lambda: SystemResolver().resolve("localhost", 443))
    assert "127.0.0.1" in ips
    assert len(ips) == len(set(ips))
    for ip in ips:
        assert ipaddress.ip_address(ip).is_loopback


def test_system_resolver_family_restricts_to_ipv4() -> None:
    ips = run(lambda: SystemResolver(family=socket.AF_INET).resolve("localhost", 443))
    assert ips and all(ipaddress.ip_address(ip).version == 4 for ip in ips)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.2", "127.0.0.2"), ("::1", "::1"), ("[::1]", "::1"), ("0:0::1", "::1")],
)
def test_system_resolver_ip_literal_needs_no_lookup(host: str, expected: str) -> None:
    async def no_dns(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise AssertionError("an IP literal must not be looked up")

    assert run_with_getaddrinfo(no_dns, lambda: SystemResolver().resolve(host, 80)) == [expected]


def test_system_resolver_returns_all_records_deduplicated_in_order() -> None:
    seen: dict[str, Any] = {}

    async def fake(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        seen.update(kwargs, host=host, port=port)
        # getaddrinfo repeats an address per socket type / protocol.
        return [_addrinfo(ip, port) for ip in ("52.1.1.1", "2600::5", "52.1.1.1", "52.1.1.2", "2600::5")]

    ips = run_with_getaddrinfo(fake, lambda: SystemResolver().resolve("s3.example", 443))
    assert ips == ["52.1.1.1", "2600::5", "52.1.1.2"]
    assert seen["host"] == "s3.example" and seen["port"] == 443
    assert seen["type"] == socket.SOCK_STREAM and seen["family"] == socket.AF_UNSPEC


def test_system_resolver_failure_names_the_host() -> None:
    async def fake(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ResolveError, match=r"s3\.example:443.*not known") as info:
        run_with_getaddrinfo(fake, lambda: SystemResolver().resolve("s3.example", 443))
    assert info.value.host == "s3.example"
    assert isinstance(info.value, OSError)


def test_system_resolver_empty_answer_is_an_error() -> None:
    async def fake(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return []

    with pytest.raises(ResolveError, match="no addresses"):
        run_with_getaddrinfo(fake, lambda: SystemResolver().resolve("s3.example", 443))


# ------------------------------------------------------------ StaticResolver


class CountingResolver:
    def __init__(self, answer: list[str]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return list(self.answer)


def test_static_resolver_overrides_and_falls_back() -> None:
    fallback = CountingResolver(["10.0.0.9"])
    resolver = StaticResolver({"S3.Example.": ["127.0.0.2", "127.0.0.3"]}, fallback)
    assert run(lambda: resolver.resolve("s3.example", 443)) == ["127.0.0.2", "127.0.0.3"]
    assert fallback.calls == []
    assert run(lambda: resolver.resolve("other.example", 443)) == ["10.0.0.9"]
    assert fallback.calls == [("other.example", 443)]


def test_static_resolver_port_specific_entry_wins_for_its_port() -> None:
    resolver = StaticResolver({"h": ["127.0.0.2"], "h:9000": ["127.0.0.3"]})
    assert run(lambda: resolver.resolve("h", 9000)) == ["127.0.0.3"]
    assert run(lambda: resolver.resolve("h", 443)) == ["127.0.0.2"]


def test_static_resolver_without_fallback() -> None:
    resolver = StaticResolver({"h": ["127.0.0.2"]})
    with pytest.raises(ResolveError, match="no --resolve entry"):
        run(lambda: resolver.resolve("other", 443))
    assert run(lambda: resolver.resolve("127.0.0.5", 443)) == ["127.0.0.5"]


def test_static_resolver_normalises_and_validates_at_construction() -> None:
    resolver = StaticResolver({"h": ["::0001", "127.0.0.2", "0:0::1"], "g": "127.0.0.4"})
    assert resolver.mapping == {"h": ["::1", "127.0.0.2"], "g": ["127.0.0.4"]}
    assert "h->::1,127.0.0.2" in repr(resolver)
    with pytest.raises(ValueError, match="'s3.example' is not an IP address"):
        StaticResolver({"h": ["s3.example"]})
    with pytest.raises(ValueError, match="no IP addresses"):
        StaticResolver({"h": []})
    with pytest.raises(ValueError, match="port"):
        StaticResolver({"h:http": ["127.0.0.1"]})


# ------------------------------------------------------- parse_resolve_option


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["s3.example:127.0.0.2"], {"s3.example": ["127.0.0.2"]}),
        (["s3.example:127.0.0.2,127.0.0.3"], {"s3.example": ["127.0.0.2", "127.0.0.3"]}),
        (["S3.Example:127.0.0.2, 127.0.0.3 "], {"s3.example": ["127.0.0.2", "127.0.0.3"]}),
        (["s3.example:443:127.0.0.2"], {"s3.example:443": ["127.0.0.2"]}),
        (["s3.example:443:[::1],127.0.0.2"], {"s3.example:443": ["::1", "127.0.0.2"]}),
        (["s3.example:[2600::1],[::1]"], {"s3.example": ["2600::1", "::1"]}),
        # Unbracketed IPv6: read as an address, not as a port.
        (["s3.example:2600::1"], {"s3.example": ["2600::1"]}),
        (["s3.example:1:2::3"], {"s3.example": ["1:2::3"]}),
        (["s3.example:443:::1"], {"s3.example:443": ["::1"]}),
        # Repeats merge, duplicates drop.
        (
            ["h:127.0.0.2", "h:127.0.0.3,127.0.0.2", "h:80:127.0.0.4"],
            {"h": ["127.0.0.2", "127.0.0.3"], "h:80": ["127.0.0.4"]},
        ),
        ([], {}),
    ],
)
def test_parse_resolve_option(values: list[str], expected: dict[str, list[str]]) -> None:
    assert parse_resolve_option(values) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3.example", "expected HOST:IP"),
        ("s3.example:", "expected HOST:IP"),
        (":127.0.0.1", "'' is not a valid host name"),
        ("[::1]:127.0.0.1", "is not a valid host name"),
        ("bad host:127.0.0.1", "'bad host' is not a valid host name"),
        ("s3.example:notanip", "'notanip' is not an IP address"),
        ("s3.example:127.0.0.1,", "'' is not an IP address"),
        ("s3.example:127.0.0.1,nope", "'nope' is not an IP address"),
        ("s3.example:443", "'443' is not an IP address"),
        ("s3.example:443:", "no IP address after the port"),
        ("s3.example:99999:127.0.0.1", "port '99999'"),
        ("s3.example:0:127.0.0.1", "port '0'"),
        ("s3.example:443:127.0.0.300", "'127.0.0.300' is not an IP address"),
        ("*:443:127.0.0.1", "is not a valid host name"),
    ],
)
def test_parse_resolve_option_errors_name_the_value(value: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_resolve_option(["ok.example:127.0.0.1", value])
    text = str(info.value)
    assert text.startswith(f"--resolve {value!r}")
    assert message in text


def test_parsed_option_feeds_static_resolver() -> None:
    mapping = parse_resolve_option(["s3.example:443:127.0.0.2,[::1]"])
    resolver = StaticResolver(mapping)
    assert run(lambda: resolver.resolve("s3.example", 443)) == ["127.0.0.2", "::1"]


# ------------------------------------------------- a name that does not exist is final


@pytest.mark.parametrize(("code", "permanent"), [
    (socket.EAI_NONAME, True),  # NXDOMAIN: the name does not exist
    (socket.EAI_AGAIN, False),  # no answer from the DNS server: try again
    (socket.EAI_FAIL, False),
])
def test_system_resolver_says_whether_the_failure_is_final(code: int, permanent: bool) -> None:
    async def fake(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(code, "resolver says no")

    with pytest.raises(ResolveError) as info:
        run_with_getaddrinfo(fake, lambda: SystemResolver().resolve("s3.example", 443))
    assert info.value.permanent is permanent


def test_a_host_without_a_resolve_entry_is_final() -> None:
    with pytest.raises(ResolveError) as info:
        run(lambda: StaticResolver({"a.example": ["127.0.0.2"]}).resolve("b.example", 443))
    assert info.value.permanent


class Failing:
    """Answers every lookup with the failure the system resolver reports for ``permanent``."""

    def __init__(self, permanent: bool) -> None:
        self.permanent = permanent
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        detail = "Name or service not known" if self.permanent else "Temporary failure in name resolution"
        raise ResolveError(host, port, detail, permanent=self.permanent)


def lookup_through_client(resolver: Failing) -> tuple[BaseException, int]:
    import s3fast

    quick = s3fast.TransferConfig(retry=s3fast.RetryConfig(backoff_base=0.001, backoff_cap=0.002))

    async def go() -> tuple[BaseException, int]:
        async with s3fast.Client(endpoint_url="http://s3.nxdomain.test:9000", resolver=resolver, config=quick,
                                 aws_access_key_id="k", aws_secret_access_key="s") as client:
            with pytest.raises(s3fast.S3FastError) as info:
                await client.head("s3://bucket/key")
            return info.value, client.stats.retries

    return s3fast.run(go())


def test_nxdomain_fails_at_once_with_one_clear_line() -> None:
    resolver = Failing(permanent=True)
    err, retries = lookup_through_client(resolver)
    assert resolver.calls == 1 and retries == 0
    assert isinstance(err, ConnectionError) and getattr(err, "kind", None) == "resolve"
    assert str(err) == "cannot resolve s3.nxdomain.test:9000: Name or service not known"


def test_a_temporary_dns_failure_is_still_retried() -> None:
    resolver = Failing(permanent=False)
    err, retries = lookup_through_client(resolver)
    assert resolver.calls > 1 and retries == resolver.calls - 1
    assert "Temporary failure" in str(err)
