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


def ours(signer: Signer, creds: Credentials, method: str, target: str, headers: list[tuple[str, str]]) -> dict[str, str]:
    # Surrounding whitespace is not part of an HTTP field value (RFC 9110 5.5); awscrt's
    # HttpHeaders drops it, the wire does too.
    return {k: v.strip() for k, v in signer.sign(creds, method, target, headers)}


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


@pytest.mark.parametrize("creds", [CREDS, TOKEN], ids=["keys", "session-token"])
@pytest.mark.parametrize("method,target,headers", CASES)
def test_matches_awscrt(creds: Credentials, method: str, target: str, headers: list[tuple[str, str]]) -> None:
    signed = ours(Signer("us-east-1", clock=lambda: NOW), creds, method, target, headers)
    assert signed == reference(creds, "us-east-1", method, target, headers, NOW)


@pytest.mark.parametrize("creds", [CREDS, TOKEN], ids=["keys", "session-token"])
def test_streaming_trailer_payload_matches_awscrt(creds: Credentials) -> None:
    # An UploadPart over HTTPS: aws-chunked body, its CRC in a trailer.
    headers = [("host", "h"), ("content-length", "8388711"), ("content-encoding", "aws-chunked"),
               ("x-amz-decoded-content-length", "8388608"), ("x-amz-trailer", "x-amz-checksum-crc64nvme"),
               ("x-amz-sdk-checksum-algorithm", "CRC64NVME")]
    target = "/bucket/big?partNumber=2&uploadId=abc"
    payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    signed = ours_payload = {k: v.strip() for k, v in Signer("us-east-1", clock=lambda: NOW).sign(
        creds, "PUT", target, headers, payload=payload)}
    assert ours_payload["x-amz-content-sha256"] == payload
    assert signed == reference(creds, "us-east-1", "PUT", target, headers, NOW, payload=payload)


def test_clock_offset_and_region() -> None:
    signer = Signer("eu-west-1", clock=lambda: NOW)
    signer.clock_offset = -901.0  # RequestTimeTooSkewed: sign with the server's clock
    headers = [("host", "h"), ("range", "bytes=5-9")]
    assert ours(signer, CREDS, "GET", "/b/k", headers) == reference(CREDS, "eu-west-1", "GET", "/b/k", headers, NOW - 901.0)


def test_signing_key_follows_day_and_credentials() -> None:
    now = [NOW]
    signer = Signer("us-east-1", clock=lambda: now[0])
    for when, creds in [(NOW, CREDS), (NOW + 86_400, CREDS), (NOW + 86_400, TOKEN), (NOW + 86_401, CREDS)]:
        now[0] = when
        assert ours(signer, creds, "GET", "/b/k", [("host", "h")]) == reference(creds, "us-east-1", "GET", "/b/k", [("host", "h")], when)


def test_repeated_header_names_are_joined() -> None:
    headers = [("host", "h"), ("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")]
    signed = ours(Signer("us-east-1", clock=lambda: NOW), CREDS, "GET", "/b/k", headers)
    assert signed["authorization"] == reference(CREDS, "us-east-1", "GET", "/b/k", headers, NOW)["authorization"]
