"""s3fast's TLS contexts offer AES-128-GCM first under TLS 1.3, on their own contexts only,
with certificate verification exactly as strict as Python's default context."""
from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import SMALL, run
from support.tlsrelay import TlsRelay, make_cert

import s3fast
from s3fast.net import _tls

AES128 = "TLS_AES_128_GCM_SHA256"
AES256 = "TLS_AES_256_GCM_SHA384"


HOST = "tls.s3.test"


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return make_cert(tmp_path, HOST)


@pytest.fixture
def relay(cert: tuple[Path, Path]) -> Iterator[TlsRelay]:
    with TlsRelay(*cert, ip="127.0.0.23") as r:
        yield r


def test_client_negotiates_aes128_under_tls13_and_default_contexts_are_untouched(
        moto_cluster, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through the real client: every connection s3fast opened took TLS_AES_128_GCM_SHA256
    under TLS 1.3 from a server that allows all suites; a default context made afterwards in
    the same process still gets OpenSSL's own first choice, AES-256."""
    cert, key = make_cert(tmp_path, moto_cluster.host)
    data = os.urandom(6 * s3fast.MiB)
    with TlsRelay(cert, key, upstream=(moto_cluster.ips[0], moto_cluster.port), ip="127.0.0.23") as relay:
        async def go() -> None:
            async with s3fast.Client(endpoint_url=f"https://{moto_cluster.host}:{relay.port}",
                                     resolve={moto_cluster.host: [relay.ip]}, ca_bundle=str(cert),
                                     config=SMALL) as c:
                await c.put_bytes(f"s3://{bucket}/tls", data)
                assert await c.get_bytes(f"s3://{bucket}/tls") == data

        run(go())
        assert relay.handshakes
        assert set(relay.handshakes) == {("TLSv1.3", AES128)}

        default = ssl.create_default_context(cafile=str(cert))
        assert relay.handshake(default, moto_cluster.host) == ("TLSv1.3", AES256)
        assert default.get_ciphers()[0]["name"] == AES256


def test_verification_settings_are_those_of_the_default_context(cert: tuple[Path, Path]) -> None:
    ca = str(cert[0])
    ours = _tls.make_ssl_context(ca, verify=True)
    ref = ssl.create_default_context(cafile=ca)
    assert ours.get_ciphers()[0]["name"] == AES128  # the change happened...
    for attr in ("verify_mode", "check_hostname", "verify_flags", "options", "minimum_version",
                 "maximum_version", "protocol"):
        assert getattr(ours, attr) == getattr(ref, attr), attr  # ...and nothing else changed
    assert ours.get_ca_certs() == ref.get_ca_certs()
    assert ours.cert_store_stats() == ref.cert_store_stats()
    # TLS 1.2 suites are OpenSSL's defaults too.
    tls12 = [c["name"] for c in ours.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert tls12 == [c["name"] for c in ref.get_ciphers() if c["protocol"] != "TLSv1.3"]

    unverified = _tls.make_ssl_context(None, verify=False)
    ref_unverified = ssl._create_unverified_context()
    assert unverified.verify_mode == ref_unverified.verify_mode == ssl.CERT_NONE
    assert unverified.check_hostname is ref_unverified.check_hostname is False


def test_untrusted_or_misnamed_certificates_are_still_refused(relay: TlsRelay, cert: tuple[Path, Path]) -> None:
    ours = _tls.make_ssl_context(str(cert[0]), verify=True)
    assert relay.handshake(ours, HOST) == ("TLSv1.3", AES128)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        relay.handshake(ours, "other.s3.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed|unable to get"):
        relay.handshake(_tls.make_ssl_context(None, verify=True), HOST)


def test_tls12_only_server_still_connects(cert: tuple[Path, Path]) -> None:
    with TlsRelay(*cert, ip="127.0.0.23", max_version=ssl.TLSVersion.TLSv1_2) as relay:
        version, name = relay.handshake(_tls.make_ssl_context(str(cert[0]), verify=True), HOST)
    assert version == "TLSv1.2" and "GCM" in name


def test_a_refused_suite_list_leaves_the_default_order(relay: TlsRelay, cert: tuple[Path, Path]) -> None:
    """Degrades safely: OpenSSL refuses the list, the context keeps its defaults and works."""
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    assert _tls.set_tls13_suites(ctx, "TLS_NO_SUCH_SUITE") is False
    assert relay.handshake(ctx, HOST) == ("TLSv1.3", AES256)
    # The same call with a valid list works on that very context.
    assert _tls.set_tls13_suites(ctx, _tls.AES_FIRST) is True
    assert relay.handshake(ctx, HOST) == ("TLSv1.3", AES128)


def test_suite_order_follows_the_cpu() -> None:
    assert _tls.tls13_suites(frozenset({"sse4_2", "aes", "pclmulqdq"})).startswith(AES128 + ":")
    assert _tls.tls13_suites(None).startswith(AES128 + ":")
    assert _tls.tls13_suites(frozenset({"fp", "asimd"})).startswith("TLS_CHACHA20_POLY1305_SHA256:")
    for suites in (_tls.AES_FIRST, _tls.CHACHA_FIRST):  # every suite stays on offer
        assert sorted(suites.split(":")) == sorted([AES128, AES256, "TLS_CHACHA20_POLY1305_SHA256"])


def test_a_list_whose_first_name_openssl_skips_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """The last check reads Python's own view of the context: what OpenSSL offers first must
    be what was asked for."""
    ctx = ssl.create_default_context()
    with caplog.at_level("WARNING", logger="s3fast.net._tls"):
        assert _tls.set_tls13_suites(ctx, "TLS_NO_SUCH_SUITE:TLS_CHACHA20_POLY1305_SHA256") is False
    assert "offers 'TLS_CHACHA20_POLY1305_SHA256' first" in caplog.text
