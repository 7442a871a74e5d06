"""TLS 1.3 receive cost by suite: OpenSSL's default order (AES-256-GCM negotiated) against
s3fast's context (AES-128-GCM first), alternated, on loopback.

Usage: ``tls_cipher.py [ROUNDS] [MIB]`` (default 6 rounds of 256 MiB each way). Starts its
own ``openssl s_server -WWW`` (another process: its CPU is not counted) on 127.0.0.1 with a
throw-away certificate, and receives the file over HTTP/1.0 into one reused buffer. Prints
per run MB/s and the receiving thread's user+sys CPU-s/GiB, then the best of each variant.
"""
from __future__ import annotations

import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from s3fast.net._tls import make_ssl_context  # noqa: E402

GIB = 1 << 30


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def receive(ctx: ssl.SSLContext, port: int, name: str) -> tuple[str, float, float, int]:
    buf = bytearray(256 << 10)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="probe.test") as s:
        s.sendall(f"GET /{name} HTTP/1.0\r\n\r\n".encode())
        total = 0
        c0, t0 = _cpu(), time.perf_counter()
        while n := s.recv_into(view):
            total += n
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        return str(s.cipher()[0]), wall, cpu, total  # type: ignore[index]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    size = (int(sys.argv[2]) if len(sys.argv) > 2 else 256) << 20
    with tempfile.TemporaryDirectory(prefix="tls-cipher-") as tmp:
        d = Path(tmp)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", d / "key.pem", "-out", d / "cert.pem", "-days", "1",
                        "-subj", "/CN=probe.test", "-addext", "subjectAltName=DNS:probe.test"],
                       check=True, capture_output=True)
        with open(d / "data", "wb") as f:
            f.write(os.urandom(size))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert",
                                   d / "cert.pem", "-key", d / "key.pem", "-WWW"], cwd=d,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):  # bounded wait for the listener
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            ca = str(d / "cert.pem")
            variants = {"default": ssl.create_default_context(cafile=ca), "s3fast": make_ssl_context(ca, True)}
            best: dict[str, tuple[float, float]] = {}
            for i in range(rounds):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for label in order:
                    suite, wall, cpu, total = receive(variants[label], port, "data")
                    assert total >= size, total
                    mbs, cpg = total / wall / 1e6, cpu / (total / GIB)
                    print(f"{label:8s} {suite:24s} {mbs:7.0f} MB/s {cpg:5.2f} CPU-s/GiB")
                    b = best.get(label, (0.0, 1e9))
                    best[label] = (max(b[0], mbs), min(b[1], cpg))
            for label, (mbs, cpg) in best.items():
                print(f"best {label:8s} {mbs:7.0f} MB/s, min {cpg:.2f} CPU-s/GiB ({rounds} runs)")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
