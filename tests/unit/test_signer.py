"""The SigV4 signer against awscrt's C signer (the reference), on every request shape s3fast
sends: same credentials, same instant, same request -> the same signed headers."""
from __future__ import annotations

import datetime

import pytest
from awscrt import auth as crt_auth
from awscrt import http as crt_http

from s3fast.auth._credentials import Credentials
from s3fast.auth._signer import Signer

NOW = 1_795_000_000.4  # 2026-11-19T..., mid-second on purpose
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
TOKEN = Credentials("ASIAEXAMPLE", "c2VjcmV0L3dpdGgrc2xhc2g=", token="IQoJb3JpZ2luX2VjEH8aCXVzLWVhc3QtMSJHMEUCIQ//token+/=")


def reference(creds: Credentials, region: str, method: str, target: str,
              headers: list[tuple[str, str]], when: float,
              payload: str = crt_auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD) -> dict[str, str]:
    config = crt_auth.AwsSigningConfig(
        algorithm=crt_auth.AwsSigningAlgorithm.V4,
        signature_type=crt_auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=crt_auth.AwsCredentialsProvider.new_static(creds.access_key, creds.secret_key, creds.token),
        region=region, service="s3",
        date=datetime.datetime.fromtimestamp(int(when), datetime.timezone.utc),
        use_double_uri_encode=False, should_normalize_uri_path=False,
        signed_body_value=payload,
        signed_body_header_type=crt_auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
    )
    request = crt_http.HttpRequest(method, target, crt_http.HttpHeaders(list(headers)))
    signed = crt_auth.aws_sign_request(request, config).result()
    return {k.lower(): v for k, v in signed.headers}


def ours(signer: Signer, creds: Credentials, method: str, target: str, headers: list[tuple[str, str]],
         via: str = "sign", payload: str = "UNSIGNED-PAYLOAD") -> dict[str, str]:
    """What we sign: the headers ``Signer.sign`` returns, or (``via="head"``) the head
    ``Signer.head`` builds (compiled in native mode) parsed back off the wire bytes."""
    if via == "sign":
        signed = signer.sign(creds, method, target, headers, payload=payload)
    else:
        head = signer.head(creds, method, target, headers, "s3fast/test", payload=payload)
        request_line, _, rest = head.decode("latin-1").partition("\r\n")
        assert request_line == f"{method} {target} HTTP/1.1" and head.endswith(b"\r\n\r\n")
        lines = rest[:-4].split("\r\n")
        assert lines[0] == "User-Agent: s3fast/test"
        signed = [tuple(line.split(": ", 1)) for line in lines[1:]]  # type: ignore[misc]
        assert [k for k, _ in signed[:len(headers)]] == [k for k, _ in headers]  # order kept
    # Surrounding whitespace is not part of an HTTP field value (RFC 9110 5.5); awscrt's
    # HttpHeaders drops it, the wire does too.
    out: dict[str, str] = {}
    for k, v in signed:
        out[k] = f"{out[k]},{v.strip()}" if k in out else v.strip()
    return out


VIA = pytest.mark.parametrize("via", ["sign", "head"])


CASES = [
    ("GET", "/bucket/key", [("host", "s3.us-east-1.amazonaws.com")]),
    ("GET", "/bucket/dir/a%20b%2Bc~%C3%A9.bin", [("host", "127.0.0.1:9000"), ("x-amz-checksum-mode", "ENABLED")]),
    ("GET", "/bucket/key?versionId=3%2FL4kqtJlcpXroDTDmJ%2Brmsl", [("host", "h"), ("range", "bytes=0-8388607"),
                                                                   ("if-match", '"9b2cf535f27731c974343645a3985328-3"')]),
    ("HEAD", "/bucket/key?partNumber=1", [("host", "h"), ("x-amz-checksum-mode", "ENABLED")]),
    ("PUT", "/bucket/big?partNumber=17&uploadId=VXBsb2FkIElE%2Bwith%2Fslash", [("host", "h"), ("content-length", "8388608"),
                                                                                ("x-amz-checksum-crc64nvme", "AAAAAAAAAAA=")]),
    ("POST", "/bucket/big?uploads", [("host", "h"), ("content-length", "0"), ("x-amz-checksum-algorithm", "CRC64NVME"),
                                     ("x-amz-checksum-type", "FULL_OBJECT"), ("content-type", "application/octet-stream")]),
    ("POST", "/bucket?delete", [("host", "h"), ("content-length", "120"), ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")]),
    ("GET", "/bucket?list-type=2&prefix=a%2Fb&continuation-token=tok%3D%3D&delimiter=%2F&max-keys=1000",
     [("host", "h")]),
    ("GET", "/bucket?a-b=1&a=2&ab=3&a.c=4", [("host", "h")]),  # names that sort differently as "k=v" strings
    ("PUT", "/bucket/k", [("host", "bucket.s3.eu-west-1.amazonaws.com"), ("content-length", "5"),
                          ("x-amz-meta-note", "  two  spaces   inside  "), ("cache-control", "no-cache")]),
    ("DELETE", "/bucket/key?uploadId=abc", [("host", "h")]),
    ("GET", "/", [("host", "h")]),
]


@VIA
@pytest.mark.parametrize("creds", [CREDS, TOKEN], ids=["keys", "session-token"])
@pytest.mark.parametrize("method,target,headers", CASES)
def test_matches_awscrt(creds: Credentials, method: str, target: str, headers: list[tuple[str, str]], via: str) -> None:
    signed = ours(Signer("us-east-1", clock=lambda: NOW), creds, method, target, headers, via)
    assert signed == reference(creds, "us-east-1", method, target, headers, NOW)


@VIA
@pytest.mark.parametrize("creds", [CREDS, TOKEN], ids=["keys", "session-token"])
def test_streaming_trailer_payload_matches_awscrt(creds: Credentials, via: str) -> None:
    # An UploadPart over HTTPS: aws-chunked body, its CRC in a trailer.
    headers = [("host", "h"), ("content-length", "8388711"), ("content-encoding", "aws-chunked"),
               ("x-amz-decoded-content-length", "8388608"), ("x-amz-trailer", "x-amz-checksum-crc64nvme"),
               ("x-amz-sdk-checksum-algorithm", "CRC64NVME")]
    target = "/bucket/big?partNumber=2&uploadId=abc"
    payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    signed = ours(Signer("us-east-1", clock=lambda: NOW), creds, "PUT", target, headers, via, payload=payload)
    assert signed["x-amz-content-sha256"] == payload
    assert signed == reference(creds, "us-east-1", "PUT", target, headers, NOW, payload=payload)


@VIA
def test_clock_offset_and_region(via: str) -> None:
    signer = Signer("eu-west-1", clock=lambda: NOW)
    signer.clock_offset = -901.0  # RequestTimeTooSkewed: sign with the server's clock
    headers = [("host", "h"), ("range", "bytes=5-9")]
    assert ours(signer, CREDS, "GET", "/b/k", headers, via) == reference(CREDS, "eu-west-1", "GET", "/b/k", headers, NOW - 901.0)


@VIA
def test_signing_key_follows_day_and_credentials(via: str) -> None:
    now = [NOW]
    signer = Signer("us-east-1", clock=lambda: now[0])
    for when, creds in [(NOW, CREDS), (NOW + 86_400, CREDS), (NOW + 86_400, TOKEN), (NOW + 86_401, CREDS)]:
        now[0] = when
        assert ours(signer, creds, "GET", "/b/k", [("host", "h")], via) == reference(creds, "us-east-1", "GET", "/b/k", [("host", "h")], when)


@VIA
def test_repeated_header_names_are_joined(via: str) -> None:
    headers = [("host", "h"), ("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")]
    signed = ours(Signer("us-east-1", clock=lambda: NOW), CREDS, "GET", "/b/k", headers, via)
    assert signed["authorization"] == reference(CREDS, "us-east-1", "GET", "/b/k", headers, NOW)["authorization"]


# Whitespace the canonical form trims or collapses, in every position; a non-ASCII value
# (the compiled core hands those to the pure code); more query parameters than headers.
EDGE_HEADERS = [
    [("host", "h"), ("x-amz-meta-a", "\t lead and trail \x0b "), ("x-amz-meta-b", "in  side\tand\x1f  more")],
    [("host", "h"), ("x-amz-meta-c", "  only-ends  "), ("x-amz-meta-d", ""), ("x-amz-meta-e", "a \t b")],
    [("host", "h"), ("x-amz-meta-f", "caf\u00e9  au  lait")],
]
EDGE_TARGETS = ["/b/k", "/b/k?", "/b/k?z=1&a&m=&a=0&&b=2", "/b/k?" + "&".join(f"p{i}={i}" for i in range(45))]


@pytest.mark.parametrize("headers", EDGE_HEADERS)
@pytest.mark.parametrize("target", EDGE_TARGETS)
def test_compiled_head_is_the_pure_head_byte_for_byte(headers: list[tuple[str, str]], target: str) -> None:
    from support.twins import both

    pure, sigv4_impl = both("_sigv4")

    signer = Signer("us-east-1", clock=lambda: NOW)
    for creds in (CREDS, TOKEN):
        args = ("PUT", target, headers, "s3fast/test", "UNSIGNED-PAYLOAD", "20261119T075320Z",
                "20261119/us-east-1/s3/aws4_request", creds.access_key, creds.token, signer._signing_key(creds))
        assert sigv4_impl.signed_head(*args) == pure.signed_head(*args)

