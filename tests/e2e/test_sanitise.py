"""What a server sends is shown only through ``printable``: no raw control characters,
escape sequences or bidi overrides reach a terminal, and the length is capped."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest
from support.recorder import Recorder

import s3fast
from s3fast._errors import MAX_SHOWN, printable

# ESC (CSI, OSC), BEL, a bare CR that rewrites the line, the one-byte C1 CSI, a bidi override.
_HOSTILE = "\x1b[2J\x1b[31mred\x1b]0;owned\x07 \rover \x9b31m \u202eevil\u202c \x00"
_RAW = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]")


def _no_raw_controls(text: bytes) -> bool:
    # The one line ends with a newline: every other control byte is forbidden.
    return _RAW.search(text.rstrip(b"\n")) is None


def test_printable_escapes_controls_and_keeps_text() -> None:
    shown = printable(_HOSTILE)
    assert shown.isprintable()
    assert "\\x1b[2J" in shown and "\\x07" in shown and "\\r" not in shown and "\\x0d" in shown
    assert "\\x9b" in shown and "\\u202e" in shown and "\\x00" in shown
    assert printable("naïve café ü") == "naïve café ü"
    assert printable("\udcff") == "\\udcff"  # a lone surrogate (undecodable file name) cannot be encoded raw
    long = printable("x" * 10_000)
    assert len(long) < MAX_SHOWN + 40 and long.endswith(f"({10_000 - MAX_SHOWN} more characters)")


def _error_xml(code: str, message: str) -> bytes:
    return (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>\u009b1;1H\u202eid</RequestId></Error>").encode()


_XML_SAFE_HOSTILE = "\u009b2J\u009b31mred \u202eevil\u202c " + "A" * 50_000  # what XML 1.0 can carry


@pytest.mark.parametrize("answer", [
    {"status": 403, "body": _error_xml("Access\u009b31mDenied", _XML_SAFE_HOSTILE)},
    {"status": 403, "body": (_HOSTILE * 50).encode("utf-8")},  # not XML: the body text is shown
    {"status": 403, "reason": "Forbidden\x1b[31m\x1b]0;owned\x07", "body": b""},
])
def test_hostile_error_text_is_escaped_in_the_exception(answer: dict[str, object]) -> None:
    async def go() -> str:
        async with s3fast.Client(endpoint_url=rec.endpoint_url, aws_access_key_id="testing",
                                 aws_secret_access_key="testing", region="us-east-1") as c:
            with pytest.raises(s3fast.S3Error) as info:
                await c.get_bytes("s3://b/k")
            return str(info.value)

    with Recorder(**answer) as rec:  # type: ignore[arg-type]
        text = asyncio.run(go())
    assert text.isprintable(), text
    assert len(text) < 4 * MAX_SHOWN


@pytest.mark.parametrize("body,reason", [
    (_error_xml("Access\u009b31mDenied", _XML_SAFE_HOSTILE), "Forbidden"),
    ((_HOSTILE * 50).encode("utf-8"), "Forbidden"),
    (b"", "Forbidden\x1b[31m\x1b]0;owned\x07"),
])
def test_cli_shows_hostile_error_text_escaped(tmp_path, body: bytes, reason: str) -> None:  # type: ignore[no-untyped-def]
    with Recorder(status=403, reason=reason, body=body) as rec:
        out = subprocess.run([sys.executable, "-m", "s3fast.cli", "cp", "s3://b/k", str(tmp_path / "k"),
                              "--endpoint-url", rec.endpoint_url],
                             capture_output=True, timeout=60, check=False,
                             env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(b"s3fast: error: ") and out.stderr.count(b"\n") == 1, out.stderr
    assert _no_raw_controls(out.stderr), out.stderr
    assert len(out.stderr) < 4096
    assert b"Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []
