"""Tests of the loopback test infrastructure itself (tests/support)."""
from __future__ import annotations

import asyncio
import http.client
import io
import os
import socket
from typing import Iterator

import pytest
from botocore.exceptions import ClientError

from support.faultcluster import FaultCluster
from support.faultproxy import FaultProxy, RequestRecord
from support.faultrules import (Pacer, Rule, corrupt, elect, error_200, hold, latency, plan_piece,
                                refuse, reset_after, reset_before_response, respond, stall,
                                throttle, truncate_after)
from support.http11 import BufferedStream, Framing, iter_body
from support.motocluster import MotoCluster, default_boto3_config
from support.ports import find_common_free_port

PROXY_IP = "127.0.0.20"
# moto only needs the credential scope to route the request to S3; it does not verify it.
FAKE_AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
             "SignedHeaders=host, Signature=00")
ONE_ATTEMPT = default_boto3_config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def proxy(moto_cluster: MotoCluster) -> Iterator[FaultProxy]:
    """A single proxy in front of the first moto listener; fails on proxy-internal bugs."""
    with FaultProxy(PROXY_IP, 0, upstream=moto_cluster.addresses[0]) as p:
        yield p
        assert p.internal_errors == []


@pytest.fixture
def obj(moto_cluster: MotoCluster, bucket: str) -> tuple[str, bytes]:
    """A 256 KiB object put straight into moto (no proxy): (target, data)."""
    data = os.urandom(256 * 1024)
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="obj", Body=data)
    return f"/{bucket}/obj", data


def http_conn(p: FaultProxy, timeout: float = 5.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(p.host, p.port, timeout=timeout)


def send(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn.request(method, target, body=body,
                 headers={"Host": "s3.test", "Authorization": FAKE_AUTH, **(headers or {})})
    return conn.getresponse()


def read_until_error(resp: http.client.HTTPResponse) -> tuple[bytes, BaseException | None]:
    got = bytearray()
    try:
        while True:
            piece = resp.read1(65536)
            if not piece:
                return bytes(got), None
            got += piece
    except (OSError, http.client.HTTPException) as exc:
        return bytes(got), exc


# --- pass-through -------------------------------------------------------------------

def test_passthrough_put_then_get_is_byte_exact_on_one_keepalive_connection(
        fault_cluster: FaultCluster, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    client = fault_cluster.boto3_client()
    # A file-like body makes botocore send "Expect: 100-continue": the interim response
    # must be relayed before the body flows.
    client.put_object(Bucket=bucket, Key="big", Body=io.BytesIO(data))
    assert client.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    assert fault_cluster.moto.boto3_client().get_object(
        Bucket=bucket, Key="big")["Body"].read() == data
    put, get = fault_cluster.proxies[fault_cluster.ips[0]].requests
    assert (put.method, put.status, put.outcome, put.bytes_up) == ("PUT", 200, "ok", len(data))
    assert (get.method, get.status, get.bytes_down) == ("GET", 200, len(data))
    assert (put.conn_id, put.seq, get.conn_id, get.seq) == (1, 1, 1, 2)
    assert fault_cluster.proxies[fault_cluster.ips[0]].connections_accepted == 1


def test_chunked_request_body_is_relayed(proxy: FaultProxy, bucket: str,
                                         moto_cluster: MotoCluster) -> None:
    data = os.urandom(100_000)
    conn = http_conn(proxy)
    conn.putrequest("PUT", f"/{bucket}/chunked", skip_host=True)
    conn.putheader("Host", "s3.test")
    conn.putheader("Authorization", FAKE_AUTH)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for start in range(0, len(data), 30_000):
        piece = data[start:start + 30_000]
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    assert moto_cluster.boto3_client().get_object(
        Bucket=bucket, Key="chunked")["Body"].read() == data
    assert proxy.requests[0].bytes_up == len(data)


# --- canned answers -----------------------------------------------------------------

def test_respond_503_slowdown_returns_status_and_xml_code(fault_cluster: FaultCluster,
                                                          bucket: str) -> None:
    rule = fault_cluster.add_rule(Rule(respond(503, "SlowDown", "Please reduce your rate")))
    client = fault_cluster.boto3_client(config=ONE_ATTEMPT)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    error = info.value.response
    assert error["Error"]["Code"] == "SlowDown"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["ResponseMetadata"]["RequestId"].startswith("FAULTPROXY")
    assert rule.fired == 1
    # Never forwarded: the object does not exist.
    with pytest.raises(ClientError):
        fault_cluster.moto.boto3_client().head_object(Bucket=bucket, Key="k")


def test_respond_consumes_body_and_keeps_connection(proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    target, data = obj
    proxy.add_rule(Rule(respond(500, "InternalError"), method="PUT"))
    conn = http_conn(proxy)
    resp = send(conn, "PUT", target + "-other", body=b"y" * 50_000)
    body = resp.read()
    assert resp.status == 500 and b"<Code>InternalError</Code>" in body
    resp = send(conn, "GET", target)
    assert resp.read() == data
    first, second = proxy.requests
    assert (first.outcome, first.bytes_up, second.outcome) == ("canned", 50_000, "ok")
    assert proxy.connections_accepted == 1


def test_respond_to_head_has_no_body_and_headers_can_be_overridden(
        proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    skewed = "Mon, 01 Jan 2001 00:00:00 GMT"
    proxy.add_rule(Rule(respond(403, "RequestTimeTooSkewed", headers={"Date": skewed})))
    conn = http_conn(proxy)
    resp = send(conn, "HEAD", obj[0])
    assert resp.status == 403 and resp.read() == b""
    assert resp.getheader("Date") == skewed
    resp = send(conn, "GET", obj[0])  # same connection still in sync: no stray body bytes
    assert resp.status == 403
    assert b"<Code>RequestTimeTooSkewed</Code>" in resp.read()


def test_respond_with_expect_continue_closes_without_reading_body(
        proxy: FaultProxy, bucket: str) -> None:
    proxy.add_rule(Rule(respond(503, "SlowDown")))
    with socket.create_connection(proxy.address, timeout=5) as sock:
        sock.sendall((f"PUT /{bucket}/k HTTP/1.1\r\nHost: s3.test\r\nContent-Length: 10\r\n"
                      "Expect: 100-continue\r\n\r\n").encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close" in reply and b"<Code>SlowDown</Code>" in reply


def test_error_200_on_complete_is_retried_by_boto3(fault_cluster: FaultCluster,
                                                   bucket: str) -> None:
    rule = fault_cluster.add_rule(Rule(error_200("InternalError"), method="POST",
                                       path=r"uploadId=", nth=1))
    client = fault_cluster.boto3_client()
    part = os.urandom(5 * 1024 * 1024)
    upload = client.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1,
                              Body=part)["ETag"]
    client.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload,
                                     MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    assert rule.fired == 1 and rule.matched == 2
    completes = [r for r in fault_cluster.requests if r.method == "POST" and "uploadId=" in r.target]
    assert [(r.status, r.outcome) for r in completes] == [(200, "error_200"), (200, "ok")]
    assert fault_cluster.moto.boto3_client().get_object(
        Bucket=bucket, Key="mpu")["Body"].read() == part


# --- connection faults --------------------------------------------------------------

def test_reset_after_down_delivers_exactly_n_bytes_then_rst(
        proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    proxy.add_rule(Rule(reset_after(100_000), method="GET"))
    resp = send(http_conn(proxy), "GET", obj[0])
    got, error = read_until_error(resp)
    assert isinstance(error, ConnectionResetError)
    assert got == obj[1][:100_000]
    (record,) = proxy.requests
    assert (record.outcome, record.bytes_down, record.rule) == ("reset", 100_000, proxy.rules[0].name)


def test_reset_after_up_cuts_the_upload(proxy: FaultProxy, bucket: str,
                                        moto_cluster: MotoCluster) -> None:
    proxy.add_rule(Rule(reset_after(64 * 1024, direction="up"), method="PUT"))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        send(http_conn(proxy), "PUT", f"/{bucket}/up", body=os.urandom(512 * 1024)).read()
    (record,) = proxy.requests
    assert (record.outcome, record.bytes_up, record.status) == ("reset", 64 * 1024, None)
    with pytest.raises(ClientError):
        moto_cluster.boto3_client().head_object(Bucket=bucket, Key="up")


@pytest.mark.parametrize("forward", [True, False])
def test_reset_before_response_forward_decides_whether_server_did_the_work(
        proxy: FaultProxy, bucket: str, moto_cluster: MotoCluster, forward: bool) -> None:
    proxy.add_rule(Rule(reset_before_response(forward=forward)))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        send(http_conn(proxy), "PUT", f"/{bucket}/rbr", body=b"z" * 1000)
    assert proxy.requests[0].outcome == "reset"
    assert proxy.requests[0].bytes_down == 0
    keys = moto_cluster.boto3_client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [k["Key"] for k in keys] == (["rbr"] if forward else [])


def test_truncate_gives_short_read_with_clean_eof(proxy: FaultProxy,
                                                  obj: tuple[str, bytes]) -> None:
    proxy.add_rule(Rule(truncate_after(70_000)))
    resp = send(http_conn(proxy), "GET", obj[0])
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert info.value.partial == obj[1][:70_000]
    assert proxy.requests[0].outcome == "truncated"


def test_corrupt_flips_exactly_one_byte(proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    offset = 200_001  # beyond the first relay read, so offsets carry across pieces
    proxy.add_rule(Rule(corrupt(offset)))
    got = send(http_conn(proxy), "GET", obj[0]).read()
    data = obj[1]
    assert len(got) == len(data)
    assert [i for i in range(len(data)) if got[i] != data[i]] == [offset]
    assert got[offset] == data[offset] ^ 0xFF


def test_refuse_resets_at_accept_then_nth_lets_later_connections_through(
        proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    rule = proxy.add_rule(Rule(refuse(), nth=1))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        send(http_conn(proxy), "GET", obj[0]).read()
    assert send(http_conn(proxy), "GET", obj[0]).read() == obj[1]
    assert (proxy.connections_accepted, proxy.connections_refused) == (2, 1)
    assert (rule.matched, rule.fired) == (2, 1)
    assert len(proxy.requests) == 1  # the refused connection never carried a request


def test_pause_listening_gives_econnrefused_and_resume_restores(
        proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    kept = http_conn(proxy)
    assert send(kept, "GET", obj[0]).read() == obj[1]
    proxy.pause_listening()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=5)
    assert send(kept, "GET", obj[0]).read() == obj[1]  # open connections live on
    proxy.resume_listening()
    assert send(http_conn(proxy), "GET", obj[0]).read() == obj[1]


def test_drop_connections_resets_idle_keepalive(proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    conn = http_conn(proxy)
    send(conn, "GET", obj[0]).read()
    assert proxy.drop_connections() == 1
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        send(conn, "GET", obj[0]).read()


def test_stall_makes_the_client_time_out(proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    proxy.add_rule(Rule(stall(after_bytes=32 * 1024, seconds=30)))
    conn = http_conn(proxy, timeout=0.3)
    resp = send(conn, "GET", obj[0])
    got, error = read_until_error(resp)
    assert isinstance(error, TimeoutError)
    assert got == obj[1][:32 * 1024]
    resp.close()
    conn.close()  # the proxy notices and ends the stall early
    (record,) = proxy.wait_for_requests(1, timeout=10)
    assert (record.outcome, record.bytes_down) == ("stalled", 32 * 1024)


def test_latency_delays_the_head_past_a_client_timeout(proxy: FaultProxy,
                                                       obj: tuple[str, bytes]) -> None:
    proxy.add_rule(Rule(latency(30), nth=1))
    conn = http_conn(proxy, timeout=0.3)
    with pytest.raises(TimeoutError):
        send(conn, "GET", obj[0])
    conn.close()
    (record,) = proxy.wait_for_requests(1, timeout=10)
    assert (record.outcome, record.status, record.bytes_down) == ("client_gone", None, 0)
    assert send(http_conn(proxy), "GET", obj[0]).read() == obj[1]  # nth=1: only the first


@pytest.mark.parametrize("forward", [True, False])
def test_hold_swallows_the_request_and_says_when_it_holds(
        proxy: FaultProxy, bucket: str, moto_cluster: MotoCluster, forward: bool) -> None:
    rule = proxy.add_rule(Rule(hold(30, forward=forward), method="PUT"))
    conn = http_conn(proxy, timeout=30)
    conn.request("PUT", f"/{bucket}/held", body=b"h" * 100_000,
                 headers={"Host": "s3.test", "Authorization": FAKE_AUTH})
    assert rule.wait_holding(1, timeout=10) == 1  # the whole request is in, nothing answered
    conn.sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()  # the hold ends early when the client goes away
    (record,) = proxy.wait_for_requests(1, timeout=10)
    assert (record.outcome, record.bytes_up, record.bytes_down) == ("client_gone", 100_000, 0)
    keys = moto_cluster.boto3_client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [k["Key"] for k in keys] == (["held"] if forward else [])


def test_unreachable_upstream_answers_502_and_closes() -> None:
    dead = ("127.0.0.21", find_common_free_port(["127.0.0.21"]))  # nothing listens there
    with FaultProxy(PROXY_IP, 0, upstream=dead) as p:
        resp = send(http_conn(p), "GET", "/b/k")
        assert resp.status == 502 and resp.getheader("Connection") == "close"
        assert b"<Code>BadGateway</Code>" in resp.read()
        assert p.requests[0].outcome == "upstream_unreachable"


# --- matching semantics -------------------------------------------------------------

def test_nth_fires_only_on_the_nth_matching_request(proxy: FaultProxy,
                                                    obj: tuple[str, bytes]) -> None:
    rule = proxy.add_rule(Rule(respond(503, "SlowDown"), method="GET", nth=2))
    conn = http_conn(proxy)
    statuses = []
    for method in ("HEAD", "GET", "GET", "GET"):
        resp = send(conn, method, obj[0])
        resp.read()
        statuses.append(resp.status)
    assert statuses == [200, 200, 503, 200]
    assert (rule.matched, rule.fired) == (3, 1)
    assert [r.rule for r in proxy.requests] == [None, None, rule.name, None]


def test_times_fires_on_the_first_k_and_boto3_retries_through(
        fault_cluster: FaultCluster, bucket: str) -> None:
    rule = fault_cluster.add_rule(Rule(respond(503, "SlowDown"), method="PUT",
                                       path=r"/retried$", times=2))
    client = fault_cluster.boto3_client()  # 3 attempts
    client.put_object(Bucket=bucket, Key="retried", Body=b"payload")
    assert (rule.matched, rule.fired) == (3, 2)
    assert [r.status for r in fault_cluster.requests] == [503, 503, 200]
    assert fault_cluster.moto.boto3_client().get_object(
        Bucket=bucket, Key="retried")["Body"].read() == b"payload"


def test_first_firing_rule_wins_and_later_rules_still_count() -> None:
    first = Rule(respond(503, "SlowDown"), times=1)
    second = Rule(respond(500, "InternalError"), nth=1)
    assert elect([first, second], "GET", "/b/k") is first
    assert elect([first, second], "GET", "/b/k") is None  # second's 1st match was request 1
    assert (first.matched, first.fired, second.matched, second.fired) == (2, 1, 2, 0)


def test_probability_is_reproducible_with_a_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        rule = Rule(respond(503, "SlowDown"), probability=0.5, seed=seed)
        return [rule.consider("GET", "/b/k") for _ in range(64)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 10 < sum(pattern(7)) < 54


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        Rule(refuse(), method="GET")
    with pytest.raises(ValueError):
        Rule(respond(503, "SlowDown"), nth=1, times=1)
    with pytest.raises(ValueError):
        stall(0, 0)


# --- throttling (accounting, not wall clock) ----------------------------------------

def test_pacer_charges_bytes_against_rate_with_injected_clock() -> None:
    now = [0.0]
    pacer = Pacer(1000, burst=100, clock=lambda: now[0])
    assert pacer.reserve(100) == 0.0
    assert pacer.reserve(500) == pytest.approx(0.5)
    now[0] = 0.5  # the debt has been paid by now
    assert pacer.reserve(100) == pytest.approx(0.1)
    now[0] = 10.0  # idle time refills at most the burst
    assert pacer.reserve(300) == pytest.approx(0.2)
    assert pacer.total_bytes == 1000


def test_throttle_rule_paces_every_body_byte(proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    proxy.add_rule(Rule(throttle(2 * 1024 * 1024)))
    assert send(http_conn(proxy), "GET", obj[0]).read() == obj[1]
    (record,) = proxy.requests
    assert record.throttled_bytes == len(obj[1])
    # 256 KiB is several times the 50 ms burst: the pacer must have charged some waiting.
    assert record.paced_delay > 0


def test_per_connection_bps_paces_all_responses_on_a_connection(
        proxy: FaultProxy, obj: tuple[str, bytes]) -> None:
    proxy.per_connection_bps = 4 * 1024 * 1024
    conn = http_conn(proxy)
    for _ in range(2):
        assert send(conn, "GET", obj[0]).read() == obj[1]
    assert [r.throttled_bytes for r in proxy.requests] == [len(obj[1])] * 2
    proxy.per_connection_bps = None
    assert send(conn, "GET", obj[0]).read() == obj[1]
    assert proxy.requests[-1].throttled_bytes == 0


# --- framing and planning units -----------------------------------------------------

def test_plan_piece_cuts_only_when_bytes_remain() -> None:
    action = truncate_after(10)
    assert plan_piece(action, "down", 0, b"x" * 10).stop is None
    cut = plan_piece(action, "down", 5, b"y" * 10)
    assert (cut.send, cut.stop) == (b"y" * 5, "truncate")
    assert plan_piece(reset_after(0, "up"), "down", 0, b"abc").stop is None  # other direction


def test_chunked_body_offsets_count_payload_only() -> None:
    async def parts() -> list[tuple[bool, bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT")
        reader.feed_eof()
        stream = BufferedStream(reader)
        out = [p async for p in iter_body(stream, Framing("chunked"))]
        assert await stream.read_some(10) == b"NEXT"  # the next message is untouched
        return out

    result = asyncio.run(parts())
    assert b"".join(d for is_payload, d in result if is_payload) == b"abcde"
    assert b"".join(d for _, d in result) == (b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n"
                                              b"X-Trailer: 1\r\n\r\n")


# --- the clusters -------------------------------------------------------------------

def test_moto_cluster_shares_one_backend_across_ips(moto_cluster: MotoCluster,
                                                    bucket: str) -> None:
    assert moto_cluster.ips == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    assert moto_cluster.endpoint_url == f"http://s3.test:{moto_cluster.port}"
    moto_cluster.boto3_client("127.0.0.4").put_object(Bucket=bucket, Key="k", Body=b"v")
    assert moto_cluster.boto3_client("127.0.0.5").get_object(
        Bucket=bucket, Key="k")["Body"].read() == b"v"
    client = moto_cluster.boto3_client()
    upload = client.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    assert [u["UploadId"] for u in moto_cluster.list_multipart_uploads(bucket)] == [upload]
    client.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload)
    assert moto_cluster.list_multipart_uploads(bucket) == []


def test_fault_cluster_maps_each_proxy_ip_to_its_moto_ip(fault_cluster: FaultCluster,
                                                         bucket: str) -> None:
    assert fault_cluster.ips == ["127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15"]
    assert {p.port for p in fault_cluster.proxies.values()} == {fault_cluster.port}
    assert fault_cluster.endpoint_url == f"http://s3.test:{fault_cluster.port}"
    for ip, moto_ip in zip(fault_cluster.ips, fault_cluster.moto.ips):
        assert fault_cluster.upstream_for(ip) == (moto_ip, fault_cluster.moto.port)
    # One rule object on every proxy counts requests across IPs together.
    rule = fault_cluster.add_rule(Rule(respond(503, "SlowDown"), method="GET", nth=3))
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="k", Body=b"v")
    statuses = []
    for ip in fault_cluster.ips:
        client = fault_cluster.boto3_client(ip, config=ONE_ATTEMPT)
        try:
            client.get_object(Bucket=bucket, Key="k")["Body"].read()
            statuses.append(200)
        except ClientError as exc:
            statuses.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert statuses == [200, 200, 503, 200]
    assert rule.fired == 1
    records: list[RequestRecord] = fault_cluster.requests
    assert [r.proxy for r in records] == fault_cluster.ips
