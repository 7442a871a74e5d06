"""A CA bundle is checked once, by what uses it: the command line only looks for PEM blocks
(a system bundle's full parse is tens of ms of CPU on every command, even over plain
HTTP), and a bundle whose certificates OpenSSL cannot parse is still bad input (exit 2, one
line) when the TLS context reads it. No request is sent: the client is refused before it
connects."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def _cp(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    return subprocess.run([sys.executable, "-m", "s3fast.cli", "cp", "s3://bucket/key", str(tmp_path / "out"),
                           "--endpoint-url", "https://127.0.0.1:9", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**base, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", **(env or {})})


@pytest.mark.parametrize("where", ["flag", "env"])
def test_unparsable_certificates_are_bad_input(tmp_path: Path, where: str) -> None:
    bundle = tmp_path / "bad.pem"
    bundle.write_bytes(GARBAGE_PEM)
    if where == "flag":
        proc = _cp(tmp_path, "--ca-bundle", str(bundle))
        origin = "--ca-bundle"
    else:
        proc = _cp(tmp_path, env={"AWS_CA_BUNDLE": str(bundle)})
        origin = "AWS_CA_BUNDLE"
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s3fast: error: {origin}: {bundle} holds no PEM certificate")
    assert not (tmp_path / "out").exists()


def test_a_file_without_pem_blocks_is_refused_before_any_client(tmp_path: Path) -> None:
    bundle = tmp_path / "notes.txt"
    bundle.write_bytes(b"certificates: see the wiki\n" * 100_000)  # past the first read's MiB
    proc = _cp(tmp_path, "--ca-bundle", str(bundle))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"s3fast: error: --ca-bundle: {bundle} holds no PEM certificate"
    # A marker across the boundary of two reads is found.
    bundle.write_bytes(b"x" * ((1 << 20) - 10) + GARBAGE_PEM)
    proc = _cp(tmp_path, "--ca-bundle", str(bundle))
    assert proc.returncode == 2 and "holds no PEM certificate (" in proc.stderr  # OpenSSL's reason: it was parsed
