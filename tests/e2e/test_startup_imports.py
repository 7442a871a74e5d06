"""Start-up imports only what is used: ``import s3fast``, ``s3fast --version``, ``--help``, every
command's ``--help`` and a usage error load none of the transfer machinery (event loop,
TLS, sockets, worker processes, the client, awscrt, botocore); a command loads its own
module only; keys from the environment or ``anonymous=True`` never load botocore when no
AWS config file exists; the public surface is unchanged."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import s3fast

HEAVY = ("awscrt", "botocore", "aiobotocore", "s3fast._client", "s3fast._transport", "s3fast.net",
         "s3fast.tree._engine", "s3fast.transfer._localfs", "asyncio", "ssl", "socket", "multiprocessing",
         "concurrent.futures", "uvloop")


def _child(code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter (in ``env``, else ours); it prints one JSON value
    as its last line."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=os.environ.copy() if env is None else env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_import_s3fast_loads_no_transfer_machinery() -> None:
    loaded = _child(f"""
        import json, sys
        import s3fast
        s3fast.MiB, s3fast.__version__, s3fast.TransferConfig
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert loaded == []


def test_version_command_loads_no_transfer_machinery() -> None:
    out = _child(f"""
        import contextlib, io, json, sys
        import s3fast.cli
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                s3fast.cli.main(["--version"])
            except SystemExit:
                pass
        print(json.dumps([buf.getvalue(), [m for m in {HEAVY!r} if m in sys.modules]]))
    """)
    assert out[0].startswith(f"s3fast {s3fast.__version__} (")
    assert out[1] == []


_CLI = """
    import contextlib, io, json, sys
    import s3fast.cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = s3fast.cli.main({argv!r})
        except SystemExit as exc:
            code = exc.code
    print(json.dumps([code, out.getvalue(), err.getvalue(), sorted(m for m in sys.modules if m.startswith(("s3fast", *{heavy!r})))]))
"""


def _cli(argv: list[str]) -> tuple[int, str, str, list[str]]:
    code, out, err, loaded = _child(_CLI.format(argv=argv, heavy=HEAVY))
    return code, out, err, loaded


@pytest.mark.parametrize("argv", [["--help"], ["cp", "--help"], ["sync", "--help"], ["mv", "--help"],
                                  ["rm", "--help"], ["ls", "--help"], ["cat", "--help"], ["mpu", "abort", "--help"],
                                  ["resume", "--help"], ["cp", "s3://b/k", "out", "--part-size", "lots"], []])
def test_help_and_usage_errors_load_no_transfer_machinery(argv: list[str]) -> None:
    code, out, err, loaded = _cli(argv)
    assert code == (0 if "--help" in argv else 2), err
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_a_command_loads_its_own_module_only() -> None:
    modules = {"._cp", "._ls", "._cat", "._mpu", "._resume"}
    code, out, _, loaded = _cli(["cp", "--help"])
    assert code == 0 and "--part-size" in out
    assert [m for m in ("s3fast.cli" + m for m in modules) if m in loaded] == ["s3fast.cli._cp"]
    code, out, _, loaded = _cli(["--version"])
    assert code == 0 and out.startswith(f"s3fast {s3fast.__version__} (")
    assert [m for m in ("s3fast.cli" + m for m in modules) if m in loaded] == []


def test_the_stand_in_parsers_list_what_the_full_parser_lists() -> None:
    """``s3fast --help`` (stand-ins for the commands) prints what the parser with every
    command's full parser prints; a command's own parser is the full one."""
    from s3fast.cli._main import build_parser

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    full = build_parser()
    assert build_parser(["--help"]).format_help() == full.format_help()
    for name in commands(full):
        assert commands(build_parser([name]))[name].format_help() == commands(full)[name].format_help()


def test_public_surface_is_unchanged() -> None:
    from s3fast import _client, _config, _errors, _impl, _units

    for name in s3fast.__all__:
        assert hasattr(s3fast, name), name
    assert set(s3fast.__all__) <= set(dir(s3fast))
    assert s3fast.Client is _client.Client
    assert s3fast.TransferConfig is _config.TransferConfig
    assert s3fast.S3Error is _errors.S3Error
    assert s3fast.IMPLEMENTATION == _impl.MODE
    assert s3fast.GiB == _units.GiB
    try:
        s3fast.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("unknown attribute resolved")
    from s3fast import Client, HedgeConfig  # the from-import form too

    assert Client is _client.Client and HedgeConfig is s3fast.HedgeConfig


def test_tune_process_freezes_the_transfer_machinery() -> None:
    """gc.freeze must cover the client's import-time objects, imported lazily now."""
    out = _child("""
        import gc, json, sys
        import s3fast
        before = 's3fast._client' in sys.modules
        s3fast.tune_process()
        print(json.dumps([before, 's3fast._client' in sys.modules, gc.get_freeze_count()]))
    """)
    before, after, frozen = out
    assert before is False and after is True and frozen > 0


_ROUND_TRIP = """
    import json, os, sys
    import s3fast

    async def main():
        async with s3fast.Client(endpoint_url="{url}", resolve={resolve!r}, {kw}) as c:
            if "anonymous" in "{kw}":
                try:  # the bucket is private: what counts is that the request went out
                    await c.get_bytes("s3://{bucket}/k")
                except s3fast.S3Error as exc:
                    return c.region, exc.status
            await c.put_bytes("s3://{bucket}/k", b"x" * 1000)
            data = await c.get_bytes("s3://{bucket}/k")
            return c.region, len(data)

    region, size = s3fast.run(main())
    print(json.dumps([region, size, [m for m in ("botocore", "aiobotocore") if m in sys.modules]]))
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    return {**env, "HOME": str(home), **extra}


def test_keys_from_env_or_anonymous_never_load_botocore(moto_cluster, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = _env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    code = _ROUND_TRIP.format(url=moto_cluster.endpoint_url, resolve=moto_cluster.resolver_map, bucket=bucket, kw="")
    region, size, loaded = _child(code, env)
    assert (region, size, loaded) == ("us-east-1", 1000, [])
    code = _ROUND_TRIP.format(url=moto_cluster.endpoint_url, resolve=moto_cluster.resolver_map, bucket=bucket,
                              kw="anonymous=True")
    region, status, loaded = _child(code, env)
    assert (region, status, loaded) == ("us-east-1", 403, [])


def test_a_config_file_still_names_the_region_through_botocore(moto_cluster, bucket: str,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = eu-west-3\n")
    env = _env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    code = _ROUND_TRIP.format(url=moto_cluster.endpoint_url, resolve=moto_cluster.resolver_map, bucket=bucket, kw="")
    region, size, loaded = _child(code, env)
    assert region == "eu-west-3" and size == 1000 and "botocore" in loaded
