"""The in-memory S3 benchmark target (benchmarks/memserver): boto3 round trips, and the body
framings no installed client happened to send in the function check (aws-chunked with
trailers, chunked transfer, 100-continue) spoken by hand."""
from __future__ import annotations

import http.client
import socket

from benchmarks.procs import port_open
from benchmarks.targets.memserver import MemTarget


def _raw(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection and read until the server has answered it all."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        for _ in range(1000):  # bounded: each recv returns data or b"" at the server's close
            got = s.recv(65536)
            if not got:
                break
            out += got
        return out


def test_memserver_round_trips_with_boto3_and_every_body_framing() -> None:
    target = MemTarget(bucket="mem-test")
    ep = target.start()
    port = target.port
    assert port is not None and ep.endpoint_url == f"http://127.0.0.1:{port}"
    try:
        c = target.admin.client
        c.put_object(Bucket="mem-test", Key="a/b c+d.bin", Body=b"0123456789", Metadata={"k": "v"},
                     ChecksumAlgorithm="SHA256")
        head = c.head_object(Bucket="mem-test", Key="a/b c+d.bin", ChecksumMode="ENABLED")
        assert head["ContentLength"] == 10 and head["Metadata"] == {"k": "v"}
        assert head["ETag"].endswith('-1"') and head["ChecksumSHA256"]
        got = c.get_object(Bucket="mem-test", Key="a/b c+d.bin", Range="bytes=-3")
        assert got["Body"].read() == b"789" and got["ContentRange"] == "bytes 7-9/10"
        listed = c.list_objects_v2(Bucket="mem-test", Delimiter="/")
        assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["a/"]
        assert target.admin.list_sizes("a/") == {"a/b c+d.bin": 10}

        # aws-chunked inside chunked transfer, with a signed chunk and a checksum trailer
        inner = (b"5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\n"
                 b"x-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n")
        body = f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n"
        answer = _raw(port, b"PUT /mem-test/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            b"Content-Encoding: aws-chunked\r\nExpect: 100-continue\r\n"
                            b"Connection: close\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        framed = c.head_object(Bucket="mem-test", Key="framed", ChecksumMode="ENABLED")
        assert framed["ContentLength"] == 5 and framed["ChecksumCRC64NVME"] == "AAAAAAAAAAA="
        # two pipelined requests on one connection, the second after a Content-Length body
        answer = _raw(port, b"PUT /mem-test/cl HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                            b"GET /mem-test/cl HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert answer.count(b"HTTP/1.1 200 OK") == 2 and answer.endswith(b"\r\n\r\nabc")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/mem-test/missing")
        r = conn.getresponse()
        assert r.status == 404 and b"<Code>NoSuchKey</Code>" in r.read()
        conn.request("GET", "/mem-test/cl?tagging")
        r = conn.getresponse()
        assert r.status == 501 and b"NotImplemented" in r.read()
        conn.close()
        assert target.check_upload(["a/b c+d.bin"], 10).verified is True
        assert target.admin.list_sizes("a/") == {}
    finally:
        target.stop()
    assert not port_open(port)
