"""Broken credentials and broken AWS config files: one line naming where they came from.

A control character in a key (a stray newline from ``$(cat keyfile)``) used to surface as
a refused 'authorization' header; a config or credentials file botocore cannot parse was
silently skipped for the region. Now: exit 2, one line naming the variable, argument,
profile or file, never the secret, and nothing reaches the server (``Recorder`` records
every request head it gets).
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from e2e_helpers import cli
from support.recorder import Recorder

import s3fast
from s3fast.auth._credentials import CredentialSource

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: No ambient AWS settings: each case sets exactly what it tests.
CLEAN = {name: "" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                               "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                               "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")}


def run_cli(env: dict[str, str]) -> tuple[int, str, list[bytes]]:
    with Recorder(status=200, body=b"<ListBucketResult></ListBucketResult>") as rec:
        proc = cli("ls", "s3://bucket/", "--endpoint-url", rec.endpoint_url,
                   env={**CLEAN, "AWS_EC2_METADATA_DISABLED": "true", **env})
        return proc.returncode, proc.stderr.decode(), rec.heads


@pytest.mark.parametrize(("env", "named", "what"), [
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE\n", "AWS_SECRET_ACCESS_KEY": SECRET}, "AWS_ACCESS_KEY_ID", "a newline"),
    ({"AWS_ACCESS_KEY_ID": "AKIA\rEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}, "AWS_ACCESS_KEY_ID", "a newline"),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET + "\n"}, "AWS_SECRET_ACCESS_KEY",
     "a newline"),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": "tok\x1b[2J"},
     "AWS_SESSION_TOKEN", "not visible ASCII"),
    ({"AWS_ACCESS_KEY_ID": "AKIA\u00e9", "AWS_SECRET_ACCESS_KEY": SECRET}, "AWS_ACCESS_KEY_ID", "not visible ASCII"),
])
def test_a_bad_character_in_an_environment_credential_names_the_variable(
        env: dict[str, str], named: str, what: str) -> None:
    code, err, heads = run_cli(env)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert named in err and what in err and "authorization" not in err.lower()
    assert SECRET not in err and "EXAMPLE" not in err  # the value is never shown
    assert heads == []


def test_a_bad_character_in_a_profile_credential_names_the_profile(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(f"[work]\naws_access_key_id = AKIA\x07EXAMPLE\naws_secret_access_key = {SECRET}\n")
    code, err, heads = run_cli({"AWS_SHARED_CREDENTIALS_FILE": str(creds),
                                "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_PROFILE": "work",
                                "AWS_REGION": "us-east-1"})
    assert code == 2, err
    assert "access key of the AWS credentials of profile work" in err and "not visible ASCII" in err
    assert "EXAMPLE" not in err and SECRET not in err and heads == []


def test_an_explicit_key_argument_is_checked_too() -> None:
    with pytest.raises(s3fast.CredentialsError, match=r"^aws_secret_access_key contains a newline"):
        CredentialSource(access_key="AKIAEXAMPLE", secret_key=SECRET + "\n")


def test_good_credentials_pass() -> None:
    source = CredentialSource(access_key="AKIAEXAMPLE", secret_key=SECRET, token="FwoGZXIvYXdzEJr//+/=")
    creds = asyncio.run(source.get())
    assert creds is not None and creds.secret_key == SECRET


@pytest.mark.parametrize("which", ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"])
@pytest.mark.parametrize("text", ["[default\nregion = eu-west-1\n", "region = eu-west-1\n"])
def test_a_config_file_that_cannot_be_parsed_is_named(tmp_path: Path, which: str, text: str) -> None:
    broken = tmp_path / "broken"
    broken.write_text(text)
    other = "AWS_SHARED_CREDENTIALS_FILE" if which == "AWS_CONFIG_FILE" else "AWS_CONFIG_FILE"
    # Keys from the environment, region from the files: the files are read for the region.
    code, err, heads = run_cli({which: str(broken), other: str(tmp_path / "none"),
                                "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET})
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"cannot parse the AWS config file {broken}" in err
    assert heads == []


def test_a_broken_credentials_file_is_named_when_the_chain_reads_it(tmp_path: Path) -> None:
    broken = tmp_path / "credentials"
    broken.write_text("[default\naws_access_key_id = AKIAEXAMPLE\n")
    code, err, heads = run_cli({"AWS_SHARED_CREDENTIALS_FILE": str(broken),
                                "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_REGION": "us-east-1"})
    assert code == 2, err
    assert f"cannot parse the AWS config file {broken}" in err and heads == []
    assert os.path.exists(broken)
