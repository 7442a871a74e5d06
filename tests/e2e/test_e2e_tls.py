"""HTTPS: certificates are checked against the hostname (never the IP), with a private CA."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import MiB, SMALL, run

import s3fast
from s3fast import _checksum
from support.tlsrelay import TlsRelay, make_cert


@pytest.fixture
def tls(moto_cluster, tmp_path: Path) -> Iterator[tuple[TlsRelay, Path]]:  # type: ignore[no-untyped-def]
    cert, key = make_cert(tmp_path, moto_cluster.host)
    with TlsRelay(cert, key, upstream=(moto_cluster.ips[0], moto_cluster.port)) as relay:
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


def _client(moto_cluster, relay: TlsRelay, ca: Path, config: s3fast.TransferConfig = SMALL) -> s3fast.Client:  # type: ignore[no-untyped-def]
    return s3fast.Client(endpoint_url=f"https://{moto_cluster.host}:{relay.port}",
                         resolve={moto_cluster.host: [relay.ip]}, ca_bundle=str(ca), config=config)


def _source(tmp_path: Path, size: int) -> tuple[bytes, Path]:
    """``size`` random bytes, and a file holding them."""
    data = os.urandom(size)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    return data, path


def _requests(stream: bytes) -> list[tuple[bytes, dict[str, str], bytes]]:
    """Split what a client sent on one connection into (request line, headers, body)."""
    out = []
    while stream:
        end = stream.index(b"\r\n\r\n")
        line, *fields = stream[:end].split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.decode().partition(":") for f in fields)}
        n = int(headers.get("content-length", "0"))
        out.append((line, headers, stream[end + 4:end + 4 + n]))
        stream = stream[end + 4 + n:]
    return out


def _dechunk(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Decode an aws-chunked body: its data and its trailer."""
    data = bytearray()
    while True:
        end = body.index(b"\r\n")
        n = int(body[:end], 16)
        if n == 0:
            trailer = body[end + 2:]
            assert trailer.endswith(b"\r\n\r\n"), trailer
            fields = trailer[:-4].decode().split("\r\n")
            return bytes(data), {k: v for k, _, v in (f.partition(":") for f in fields)}
        data += body[end + 2:end + 2 + n]
        assert body[end + 2 + n:end + 4 + n] == b"\r\n"
        body = body[end + 4 + n:]


@pytest.mark.parametrize("source", ["file", "memory"])
def test_https_upload_sends_each_checksum_in_a_trailer(moto_cluster, bucket: str, tls, tmp_path: Path,
                                                       source: str) -> None:  # type: ignore[no-untyped-def]
    """Over TLS the part checksums ride in aws-chunked trailers, computed as the bytes go out:
    the wire carries exactly the data, framed, with the right CRC, and S3 ends up with the
    object's full CRC64NVME."""
    relay, ca = tls
    relay.record_limit = 64 * MiB
    data, path = _source(tmp_path, 11 * MiB + 12345)  # three parts of 5 MiB, the last one short

    async def go() -> None:
        async with _client(moto_cluster, relay, ca) as c:
            result = await c.upload(str(path) if source == "file" else data, f"s3://{bucket}/trailer")
            assert result.parts == 3
            assert result.checksum == s3fast.Checksum("crc64nvme", _checksum.ALGORITHMS["crc64nvme"].encode(
                _checksum.ALGORITHMS["crc64nvme"].of(data)))
            info = await c.head(f"s3://{bucket}/trailer")
            assert info.checksum is not None and info.checksum == result.checksum
            assert await c.get_bytes(f"s3://{bucket}/trailer") == data

    run(go())
    algo = _checksum.ALGORITHMS["crc64nvme"]
    parts = {}
    for stream in relay.sent:
        for line, headers, body in _requests(bytes(stream)):
            if line.startswith(b"PUT ") and b"partNumber=" in line:
                assert headers["content-encoding"] == "aws-chunked"
                assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
                assert headers["x-amz-trailer"] == algo.header
                assert len(body) == int(headers["content-length"])
                plain, trailer = _dechunk(body)
                assert len(plain) == int(headers["x-amz-decoded-content-length"])
                assert trailer == {algo.header: algo.encode(algo.of(plain))}
                number = int(line.split(b"partNumber=")[1].split(b"&")[0])
                parts[number] = plain
    assert b"".join(parts[n] for n in sorted(parts)) == data


def test_https_upload_can_send_checksums_as_headers(moto_cluster, bucket: str, tls, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """checksum_trailer=False, for servers without aws-chunked: plain bodies, checksum headers."""
    relay, ca = tls
    relay.record_limit = 64 * MiB
    data, path = _source(tmp_path, 6 * MiB)

    async def go() -> None:
        async with _client(moto_cluster, relay, ca, SMALL.replace(checksum_trailer=False)) as c:
            result = await c.upload(str(path), f"s3://{bucket}/header")
            assert result.parts == 2
            assert await c.get_bytes(f"s3://{bucket}/header") == data

    run(go())
    puts = [(line, headers, body) for stream in relay.sent for line, headers, body in _requests(bytes(stream))
            if line.startswith(b"PUT ")]
    assert len(puts) == 2
    for _, headers, body in puts:
        assert "content-encoding" not in headers and headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
        assert headers["x-amz-checksum-crc64nvme"] == _checksum.ALGORITHMS["crc64nvme"].encode(
            _checksum.ALGORITHMS["crc64nvme"].of(body))


def test_https_single_put_of_a_file_uses_a_trailer(moto_cluster, bucket: str, tls, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    relay, ca = tls
    relay.record_limit = 8 * MiB
    data, path = _source(tmp_path, 3 * MiB + 7)  # below SMALL's multipart threshold, above the small-file read

    async def go() -> None:
        async with _client(moto_cluster, relay, ca) as c:
            result = await c.upload(str(path), f"s3://{bucket}/one")
            assert not result.multipart
            algo = _checksum.ALGORITHMS["crc64nvme"]
            assert result.checksum == s3fast.Checksum("crc64nvme", algo.encode(algo.of(data)))
            assert await c.get_bytes(f"s3://{bucket}/one") == data

    run(go())
    (put,) = [(line, headers, body) for stream in relay.sent for line, headers, body in _requests(bytes(stream))
              if line.startswith(b"PUT ")]
    assert put[1]["content-encoding"] == "aws-chunked"
    assert _dechunk(put[2])[0] == data


def test_https_upload_part_cut_mid_body_is_resent_with_its_trailer(moto_cluster, bucket: str, tls,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A part whose connection is reset mid-body is sent again from its first byte, its
    checksum computed again from zero: the retry carries the right trailer."""
    relay, ca = tls
    relay.reset_put_after = 2 * MiB
    data, path = _source(tmp_path, 10 * MiB)

    async def go() -> None:
        async with _client(moto_cluster, relay, ca, SMALL.replace(max_concurrency=1)) as c:
            result = await c.upload(str(path), f"s3://{bucket}/cut")
            assert result.retries >= 1
            algo = _checksum.ALGORITHMS["crc64nvme"]
            assert result.checksum == s3fast.Checksum("crc64nvme", algo.encode(algo.of(data)))
            assert await c.get_bytes(f"s3://{bucket}/cut") == data

    run(go())
    assert relay.resets == 1
