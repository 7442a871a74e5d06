"""HTTPS: certificates are checked against the hostname (never the IP), with a private CA."""
from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, run

import s3fast


def _make_cert(tmp: Path, hostname: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsRelay:
    """TLS in front of a plain listener, on its own loop in a thread; records the SNI it saw."""

    def __init__(self, upstream: tuple[str, int], cert: Path, key: Path, ip: str = "127.0.0.21") -> None:
        self.upstream = upstream
        self.ip = ip
        self.port = 0
        self.sni: list[str | None] = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[assignment]
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(1 << 16):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                w.close()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            ur, uw = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        async def start() -> None:
            self.server = await asyncio.start_server(handle, self.ip, 0, ssl=self.ctx)
            self.port = self.server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> TlsRelay:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def tls(moto_cluster, tmp_path: Path) -> Iterator[tuple[TlsRelay, Path]]:  # type: ignore[no-untyped-def]
    cert, key = _make_cert(tmp_path, moto_cluster.host)
    with TlsRelay((moto_cluster.ips[0], moto_cluster.port), cert, key) as relay:
        yield relay, cert


def test_https_round_trip_with_private_ca(moto_cluster, bucket: str, tls) -> None:  # type: ignore[no-untyped-def]
    relay, ca = tls
    data = os.urandom(6 * MiB)

    async def go() -> None:
        async with s3fast.Client(endpoint_url=f"https://{moto_cluster.host}:{relay.port}",
                                 resolve={moto_cluster.host: [relay.ip]}, ca_bundle=str(ca), config=SMALL) as c:
            await c.put_bytes(f"s3://{bucket}/tls", data)
            assert await c.get_bytes(f"s3://{bucket}/tls") == data

    run(go())
    # SNI carried the hostname, not the IP the connection went to.
    assert relay.sni and set(relay.sni) == {moto_cluster.host}


def test_untrusted_certificate_fails_without_retries(moto_cluster, bucket: str, tls) -> None:  # type: ignore[no-untyped-def]
    relay, _ = tls

    async def go() -> None:
        async with s3fast.Client(endpoint_url=f"https://{moto_cluster.host}:{relay.port}",
                                 resolve={moto_cluster.host: [relay.ip]}, config=SMALL) as c:
            with pytest.raises(s3fast.NetworkError, match="not trusted"):
                await c.get_bytes(f"s3://{bucket}/tls")
            assert c.stats.retries == 0

    run(go())
