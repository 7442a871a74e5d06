"""User-supplied header values, metadata and regions are checked before anything is sent.

The wire tests point the CLI and the API at a loopback server that records every request
head: an injected header must never arrive, and the refusal is a ConfigError / exit 2.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.recorder import Recorder

import s3fast
from s3fast._errors import ConfigError
from s3fast._headers import (
    MAX_USER_METADATA_BYTES,
    check_header_name,
    check_header_value,
    check_region,
    metadata_headers,
    user_headers,
)

INJECTION = "a\r\nX-Injected: yes"
_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "s3fast.cli", *args], capture_output=True,
                          env={**os.environ, **_ENV, **(env or {})}, timeout=60, check=False)


def _answered_ok() -> Recorder:
    return Recorder(status=200, headers=(("ETag", '"0123456789abcdef0123456789abcdef"'),))


# ---------------------------------------------------------------------------- pure checks
@pytest.mark.parametrize("value", [INJECTION, "a\rb", "a\nb", "a\x00b", "a\x1b[31mb", "a\x7fb", "€uro", "é"])
def test_bad_header_values_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        check_header_value("content-type", value)


@pytest.mark.parametrize("value", ["text/plain; charset=utf-8", "", "a\tb", "x" * 100])
def test_good_header_values_pass(value: str) -> None:
    assert check_header_value("content-type", value) == value


@pytest.mark.parametrize("name", ["", "a b", "a:b", "a\r\nb", "é", "a/b", "(x)"])
def test_bad_header_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        check_header_name(name)


def test_metadata_rules() -> None:
    assert metadata_headers({"Owner": "me", "x-y_z.1": ""}) == {"x-amz-meta-owner": "me", "x-amz-meta-x-y_z.1": ""}
    with pytest.raises(ConfigError, match="differ only in case"):
        metadata_headers({"Owner": "a", "owner": "b"})
    with pytest.raises(ConfigError, match="line break"):
        metadata_headers({"k": INJECTION})
    with pytest.raises(ConfigError, match="metadata key"):
        metadata_headers({"k\r\nX-Injected": "v"})
    with pytest.raises(ConfigError, match="must be a string"):
        metadata_headers({"k": 5})  # type: ignore[dict-item]
    at_limit = {"k": "v" * (MAX_USER_METADATA_BYTES - 1)}
    assert metadata_headers(at_limit)
    with pytest.raises(ConfigError, match="2048"):
        metadata_headers({"k": "v" * MAX_USER_METADATA_BYTES})


def test_user_headers_keep_an_empty_content_type_as_none() -> None:
    assert user_headers("", None) == {} and user_headers(None, None) == {}
    assert user_headers("text/plain", {"a": "b"}) == {"content-type": "text/plain", "x-amz-meta-a": "b"}
    assert user_headers(None, {}) == {}


@pytest.mark.parametrize("content_type,metadata,fragment", [
    (0, None, "content type must be a string, got int"), (b"", None, "content type must be a string, got bytes"),
    (False, None, "content type must be a string, got bool"), (None, [], "metadata must be a mapping"),
    (None, "", "metadata must be a mapping"), (None, 0, "metadata must be a mapping"),
])
def test_user_headers_refuse_falsy_values_of_the_wrong_type(content_type: object, metadata: object,
                                                             fragment: str) -> None:
    """A falsy value of the wrong type is the caller's mistake, not "no header"."""
    with pytest.raises(ConfigError, match=fragment):
        user_headers(content_type, metadata)  # type: ignore[arg-type]


@pytest.mark.parametrize("region,custom,ok", [
    ("us-east-1", False, True), ("us-gov-west-1", False, True), ("eusc-de-east-1", False, True),
    ("auto", True, True), ("garage", True, True), ("auto", False, False),
    ("us-east-1\r\nX-Injected: yes", True, False), ("a/b", True, False), ("a b", True, False), ("", True, False),
    ("us-east-1.evil.com/x", False, False),
])
def test_region_syntax(region: str, custom: bool, ok: bool) -> None:
    if ok:
        assert check_region(region, custom_endpoint=custom) == region
    else:
        with pytest.raises(ConfigError, match="invalid region"):
            check_region(region, custom_endpoint=custom)


# ---------------------------------------------------------------------------- on the wire
def test_cli_content_type_injection_never_reaches_the_wire(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    with _answered_ok() as rec:
        out = _cli("cp", str(src), "s3://b/k", "--endpoint-url", rec.endpoint_url, "--content-type", INJECTION)
        heads = rec.heads
    assert out.returncode == 2, out.stderr
    assert b"line break" in out.stderr and b"Traceback" not in out.stderr
    assert not any(b"x-injected" in h.lower() for h in heads)
    assert heads == []  # refused before anything was sent


@pytest.mark.parametrize("how", ["env", "flag"])
def test_cli_region_injection_never_reaches_the_wire(tmp_path: Path, how: str) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    with _answered_ok() as rec:
        args = ["cp", str(src), "s3://b/k", "--endpoint-url", rec.endpoint_url]
        if how == "env":
            out = _cli(*args, env={"AWS_REGION": INJECTION, "AWS_DEFAULT_REGION": INJECTION})
        else:
            out = _cli(*args, "--region", INJECTION)
        heads = rec.heads
    assert out.returncode == 2, out.stderr
    assert b"invalid region" in out.stderr and b"Traceback" not in out.stderr
    assert not any(b"x-injected" in h.lower() for h in heads)


def test_cli_non_latin1_content_type_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    with _answered_ok() as rec:
        out = _cli("cp", str(src), "s3://b/k", "--endpoint-url", rec.endpoint_url, "--content-type", "text/€")
        assert rec.heads == []
    assert out.returncode == 2
    assert b"non-ASCII" in out.stderr and b"Traceback" not in out.stderr


def _put(rec: Recorder, **kwargs: object) -> None:
    async def go() -> None:
        async with s3fast.Client(endpoint_url=rec.endpoint_url, region="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing") as c:
            await c.put_bytes("s3://b/k", b"hello", **kwargs)

    asyncio.run(go())


@pytest.mark.parametrize("kwargs,message", [
    ({"metadata": {"owner": INJECTION}}, "line break"),
    ({"metadata": {INJECTION: "v"}}, "metadata key"),
    ({"content_type": INJECTION}, "line break"),
    ({"content_type": "text/€"}, "non-ASCII"),
    ({"metadata": {"big": "x" * 4096}}, "2048"),
])
def test_api_refuses_bad_headers_before_sending(kwargs: dict[str, object], message: str) -> None:
    with _answered_ok() as rec:
        with pytest.raises(ConfigError, match=message):
            _put(rec, **kwargs)
        assert rec.heads == []


def test_api_region_injection_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid region"):
        s3fast.Client(endpoint_url="http://127.0.0.1:9", region=INJECTION)


def test_api_good_headers_arrive_as_given() -> None:
    with _answered_ok() as rec:
        _put(rec, content_type="text/plain; charset=utf-8", metadata={"Owner": "me"})
        heads = b"".join(rec.heads).lower()
    assert b"\r\ncontent-type: text/plain; charset=utf-8\r\n" in heads
    assert b"\r\nx-amz-meta-owner: me\r\n" in heads


@pytest.mark.parametrize("bucket", ["b\r\nX-Injected: yes", "b c", "b/../x", ""])
def test_api_create_bucket_refuses_names_that_would_break_the_request_line(bucket: str) -> None:
    async def go() -> None:
        async with s3fast.Client(endpoint_url=rec.endpoint_url, region="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing") as c:
            await c.create_bucket(bucket)

    with _answered_ok() as rec:
        with pytest.raises(ConfigError, match="invalid bucket name"):
            asyncio.run(go())
        assert rec.heads == []


# ------------------------------------------------------------------------------- S3 keys
@pytest.mark.parametrize("key,ok", [("k" * 1024, True), ("k" * 1025, False), ("\u00e9" * 512, True),
                                    ("\u00e9" * 512 + "k", False), ("\U0001f600" * 256, True),
                                    ("\U0001f600" * 256 + "k", False)])
def test_keys_over_1024_utf8_bytes_are_refused(key: str, ok: bool) -> None:
    from s3fast._url import parse_s3_url

    if ok:
        assert parse_s3_url(f"s3://bucket/{key}").key == key
    else:
        with pytest.raises(ConfigError, match="S3 key too long"):
            parse_s3_url(f"s3://bucket/{key}")


# ------------------------------------------------------------------------------- virtual hosts
@pytest.mark.parametrize("bucket", ["Upper", "under_score", "a..b", "-dash", "dash-", "a.-b"])
def test_virtual_addressing_refuses_a_bucket_that_cannot_be_a_host_name(bucket: str) -> None:
    from s3fast._url import resolve_endpoint

    ep = resolve_endpoint("http://s3.test:9000", "us-east-1", "virtual")
    with pytest.raises(ConfigError, match="cannot be a host name"):
        ep.host_for(bucket)
    assert ep.host_for("my.bucket-1") == "my.bucket-1.s3.test"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://[::1]:9000"])
def test_virtual_addressing_refuses_an_ip_endpoint(url: str) -> None:
    from s3fast._url import resolve_endpoint

    with pytest.raises(ConfigError, match="is an IP address"):
        resolve_endpoint(url, "us-east-1", "virtual")
