"""TLS on loopback for the tests: a throw-away certificate and a TLS relay that records what
it saw (handshakes, SNI, the decrypted bytes clients sent) and can cut one upload mid-body.

The relay terminates TLS on its own event loop in a thread and, given an upstream (a plain
listener such as moto), relays the decrypted bytes both ways; without one it only
completes handshakes. Like nginx by default it takes the client's order of suites (no server
preference), so what it negotiates is the client's first choice.
"""
from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
from pathlib import Path


def make_cert(tmp: Path, hostname: str) -> tuple[Path, Path]:
    """A self-signed CA certificate for ``hostname`` (its own trust root) and its key."""
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
    """``with TlsRelay(cert, key, upstream=(ip, port)) as relay:`` then connect to ``relay.ip``,
    ``relay.port``.

    Records: ``handshakes`` (version, suite) and ``sni`` per connection; ``sent``, the first
    ``record_limit`` decrypted bytes each client sent (0: nothing kept). ``reset_put_after``:
    abort, once, the first connection that has sent that many bytes of a PUT (``resets``
    counts it), so the client sees a reset mid-body.
    """

    def __init__(self, cert: Path, key: Path, upstream: tuple[str, int] | None = None, *,
                 ip: str = "127.0.0.21", max_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED) -> None:
        self.upstream = upstream
        self.ip = ip
        self.port = 0
        self.handshakes: list[tuple[str, str]] = []
        self.sni: list[str | None] = []
        self.sent: list[bytearray] = []
        self.record_limit = 0
        self.reset_put_after: int | None = None
        self.resets = 0
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        self.ctx.maximum_version = max_version
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[assignment]
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, record: bytearray | None = None,
                    client: asyncio.StreamWriter | None = None) -> None:
        seen = 0
        is_put = False
        try:
            while data := await r.read(1 << 16):
                if record is not None and len(record) < self.record_limit:
                    record += data[:self.record_limit - len(record)]
                if client is not None and self.reset_put_after is not None and not self.resets:
                    is_put = is_put or (seen == 0 and data.startswith(b"PUT "))
                    seen += len(data)
                    if is_put and seen >= self.reset_put_after:
                        self.resets += 1
                        client.transport.abort()  # mid-body: the client sees a reset
                        w.transport.abort()
                        return
                w.write(data)
                await w.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        name, version, _bits = w.get_extra_info("ssl_object").cipher()
        self.handshakes.append((version, name))
        if self.upstream is None:
            w.close()
            return
        ur, uw = await asyncio.open_connection(*self.upstream)
        record = bytearray()
        self.sent.append(record)
        await asyncio.gather(self._pipe(r, uw, record, client=w), self._pipe(ur, w))

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, self.ip, 0, ssl=self.ctx)
            self.port = self.server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> TlsRelay:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            # Connections accepted but not yet served end here, not in a later test's GC.
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def handshake(self, ctx: ssl.SSLContext, hostname: str) -> tuple[str, str]:
        """Connect with ``ctx`` and return what the client side negotiated (version, suite)."""
        with socket.create_connection((self.ip, self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
                name, version, _bits = tls.cipher()  # type: ignore[misc]
                return version, name
