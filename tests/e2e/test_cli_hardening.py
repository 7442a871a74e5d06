"""The CLI's bad-input table (docs/faults.md, "The command line"), its last-resort handler,
and how it names objects and files, as ``aws s3 cp`` does.

Every row: the argv, the exit status, a fragment of the one-line message, never a
traceback. Rows run against the session's moto cluster so that a valid command would
really transfer: a refusal is the option check, not a connection failure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import MiB

from s3fast.cli._runner import run_command

_BIG = "1" * 310


def _cli(cluster: Any, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
         **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    resolve = ["--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]
    if "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run([sys.executable, "-m", "s3fast.cli", *args[:1], *resolve, *args[1:]],
                          input=stdin, timeout=120, check=False,
                          env={**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url, **(env or {})}, **kwargs)


# argv (after "cp"), expected exit status, a fragment of the message, extra environment
BAD_INPUT: list[tuple[list[str], int, str, dict[str, str]]] = [
    (["{f}", "s3://{b}/x", "--max-gbps", "inf"], 2, "--max-gbps: must be > 0 and at most 10000", {}),
    (["{f}", "s3://{b}/x", "--target-gbps", "1e308"], 2, "--target-gbps: must be > 0", {}),
    (["{f}", "s3://{b}/x", "--target-gbps", "nan"], 2, "--target-gbps", {}),
    (["{f}", "s3://{b}/x", "--target-gbps", "-1"], 2, "--target-gbps", {}),
    (["{f}", "s3://{b}/x", "--max-gbps", "fast"], 2, "not a number", {}),
    (["{f}", "s3://{b}/x", "--max-gbps", "\u0661"], 2, "--max-gbps: not a number", {}),
    (["{f}", "s3://{b}/x", "--target-gbps", "1_0"], 2, "--target-gbps: not a number", {}),
    (["{f}", "s3://{b}/x", "--target-gbps", "Infinity"], 2, "--target-gbps: must be > 0", {}),
    (["{f}", "s3://{b}/x", "--concurrency", "\u0663"], 2, "--concurrency: expected a whole number", {}),
    (["{f}", "s3://{b}/x", "--part-size", "\u0668MiB"], 2, "--part-size: not a size", {}),
    (["{f}", "s3://{b}/x", "--memory-limit", "\uff11GiB"], 2, "--memory-limit: not a size", {}),
    (["{f}", "s3://{b}/x", "--part-size", _BIG], 2, "size too large", {}),
    (["{f}", "s3://{b}/x", "--part-size", "-5"], 2, "must not be negative", {}),
    (["{f}", "s3://{b}/x", "--part-size", "0"], 2, "between 5 MiB and 5 GiB", {}),
    (["{f}", "s3://{b}/x", "--part-size", "1MiB"], 2, "between 5 MiB and 5 GiB", {}),
    (["{f}", "s3://{b}/x", "--memory-limit", "0"], 2, "must hold at least one part", {}),
    (["{f}", "s3://{b}/x", "--memory-limit", _BIG], 2, "size too large", {}),
    (["{f}", "s3://{b}/x", "--concurrency", "0"], 2, "--concurrency: expected a whole number", {}),
    (["{f}", "s3://{b}/x", "--concurrency", _BIG], 2, "--concurrency: expected a whole number", {}),
    (["{f}", "s3://{b}/x", "--ca-bundle", "{tmp}/missing.pem"], 2, "--ca-bundle: no such file", {}),
    (["{f}", "s3://{b}/x", "--ca-bundle", "{f}"], 2, "holds no PEM certificate", {}),
    (["{f}", "s3://{b}/x", "--ca-bundle", "{tmp}"], 2, "--ca-bundle: not a file", {}),
    (["{f}", "s3://{b}/x"], 2, "AWS_CA_BUNDLE: no such file", {"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}),
    (["{f}", "s3://{b}/x", "--resolve", "nohost"], 2, "--resolve 'nohost'", {}),
    (["{f}", "s3://{b}/x", "--resolve", "s3.test:not-an-ip"], 2, "--resolve", {}),
    (["{f}", "s3://{b}/x", "--resolve", "s3.test:70000:127.0.0.1"], 2, "--resolve", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1:9000/minio"], 2, "must not have a path", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1:9000/?a=b"], 2, "query or fragment", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1:9000#f"], 2, "query or fragment", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://me:secret@127.0.0.1:9000"], 2, "user:password", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "ftp://127.0.0.1"], 2, "invalid endpoint URL", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1:0"], 2, "invalid port", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1:99999"], 2, "invalid port", {}),
    (["{f}", "s3://{b}/x", "--endpoint-url", "http://127.0.0.1\r\n:9000"], 2, "control or non-ASCII", {}),
    (["{f}", "s3://{b}/x"], 2, "must not have a path", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000/x"}),
    (["{f}", "s3://{b}/x", "--addressing-style", "virtual", "--endpoint-url", "http://127.0.0.1:9"], 2,
     "127.0.0.1 is an IP address", {}),
    (["{f}", "s3://Bad_Bucket/x", "--addressing-style", "virtual"], 2, "'Bad_Bucket' cannot be a host name", {}),
    (["s3://a..b/x", "{tmp}/x", "--addressing-style", "virtual"], 2, "'a..b' cannot be a host name", {}),
    (["{f}", "s3://{b}/x", "--region", "us east"], 2, "invalid region", {}),
    (["{f}", "s3://{b}/x", "--content-type", "a\r\nX-Injected: yes"], 2, "line break", {}),
    (["{f}", "s3://{b}/x", "--checksum", "md5"], 2, "invalid choice", {}),
    (["{f}", "s3://{b}/x", "--profile", "no-such-profile"], 2, "profile not found", {}),
    (["{tmp}/missing.bin", "s3://{b}/x"], 2, "no such file: ", {}),
    (["{tmp}", "s3://{b}/x"], 2, "is a directory", {}),
    (["-", "s3://{b}/"], 2, "needs a key", {}),
    (["s3://{b}/dir/", "{tmp}/"], 2, "ends with '/'", {}),
    (["s3://{b}/x", "{tmp}/no/such/dir/x"], 2, "no such directory", {}),
    (["s3://{b}/x", "{tmp}/no-such-dir/"], 2, "no such directory", {}),
    (["s3:/bad/url", "{tmp}/x"], 2, "must be an S3 URL", {}),
    (["s3://{b}/x", "s3://bad bucket/y"], 2, "invalid bucket name", {}),  # S3 -> S3: the tree path
    (["s3://bad\nbucket/x", "{tmp}/x"], 2, "invalid bucket name", {}),
    (["s3://{b}/x\udcff", "{tmp}/x"], 2, "not valid UTF-8", {}),
    (["{f}", "s3://{b}/" + "k" * 1025], 2, "S3 key too long: 1025 bytes", {}),
    (["{f}", "s3://{b}/" + "\u00e9" * 513], 2, "S3 key too long: 1026 bytes", {}),
    (["{f}", "s3://{b}/" + "d/" * 512], 2, "S3 key too long: 1025 bytes", {}),
    (["s3://{b}/" + "k" * 1025, "{tmp}/x"], 2, "S3 key too long", {}),
    (["s3://{b}/a/..", "{tmp}"], 2, "ends with '..', which names no file", {}),
    (["s3://{b}/.", "{tmp}/"], 2, "ends with '.', which names no file", {}),
    (["s3://{b}/x", "/dev/fd/9"], 2, "/dev/fd/9 names descriptor 9, which", {}),
    (["s3://{b}/x", "/proc/self/fd/99999999999"], 2, "which is not open", {}),
    (["s3://no-such-bucket-zz/x", "{tmp}/x"], 1, "bucket does not exist: no-such-bucket-zz", {}),
    (["s3://{b}/missing", "{tmp}/x"], 1, "no such key: s3://", {}),
]


@pytest.mark.parametrize("args,code,fragment,env", BAD_INPUT,
                         ids=[f"{i}:{' '.join(r[0][2:]) or r[2]}"[:60] for i, r in enumerate(BAD_INPUT)])
def test_bad_input_table(moto_cluster: Any, tmp_path: Path, args: list[str], code: int, fragment: str,
                         env: dict[str, str]) -> None:
    bucket = moto_cluster.make_bucket()
    f = tmp_path / "f"
    f.write_bytes(b"data")
    argv = [a.format(f=f, b=bucket, tmp=tmp_path) for a in args]
    out = _cli(moto_cluster, "cp", *argv, env=env)
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == code, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert err.startswith("s3fast: error: ") and err.count("\n") == 1, err
    assert "secret" not in err  # a password in an endpoint URL is never echoed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # nothing written


# ------------------------------------------------------------------------------- last resort
def _boom(args: argparse.Namespace) -> int:
    raise RuntimeError("deep \x1b[31minside")


def test_last_resort_turns_any_exception_into_one_line(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S3FAST_DEBUG", raising=False)
    assert run_command(_boom, argparse.Namespace(debug=False)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: deep \\x1b[31minside" in err and "\x1b" not in err
    assert "S3FAST_DEBUG=1" in err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_keeps_the_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   how: str) -> None:
    if how == "env":
        monkeypatch.setenv("S3FAST_DEBUG", "1")
    else:
        monkeypatch.delenv("S3FAST_DEBUG", raising=False)
    assert run_command(_boom, argparse.Namespace(debug=how == "flag")) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError" in err


def test_closed_stdout_is_one_line_exit_1(moto_cluster: Any) -> None:
    bucket = moto_cluster.make_bucket()
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="big", Body=os.urandom(24 * MiB))
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_cluster.endpoint_url}
    proc = subprocess.Popen([sys.executable, "-m", "s3fast.cli", "cp", f"s3://{bucket}/big", "-",
                             "--resolve", f"{moto_cluster.host}:{','.join(moto_cluster.ips)}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1, err
    assert err.count(b"\n") == 1 and err.startswith(b"s3fast: error: ") and b"Traceback" not in err


# ------------------------------------------------------------------------------- naming
@pytest.mark.parametrize("dst,key", [("s3://{b}/", "f.bin"), ("s3://{b}", "f.bin"),
                                     ("s3://{b}/dir/", "dir/f.bin"), ("s3://{b}/exact", "exact")])
def test_upload_names_the_key_after_the_file(moto_cluster: Any, tmp_path: Path, dst: str, key: str) -> None:
    bucket = moto_cluster.make_bucket()
    src = tmp_path / "f.bin"
    src.write_bytes(b"payload")
    out = _cli(moto_cluster, "cp", str(src), dst.format(b=bucket))
    assert out.returncode == 0, out.stderr
    body = moto_cluster.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"payload"


@pytest.mark.parametrize("dst", ["{tmp}/d/", "{tmp}/d"])
def test_download_into_a_directory_takes_the_key_name(moto_cluster: Any, tmp_path: Path, dst: str) -> None:
    bucket = moto_cluster.make_bucket()
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="a/b/obj.txt", Body=b"content")
    (tmp_path / "d").mkdir()
    out = _cli(moto_cluster, "cp", f"s3://{bucket}/a/b/obj.txt", dst.format(tmp=tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "obj.txt").read_bytes() == b"content"


# ------------------------------------------------------------------------------- local failures
def test_write_failure_mid_download_is_exit_1(moto_cluster: Any) -> None:
    """/dev/full takes the open and fails every write with ENOSPC: a failed transfer, not bad input."""
    bucket = moto_cluster.make_bucket()
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="obj", Body=os.urandom(6 * MiB))
    out = _cli(moto_cluster, "cp", f"s3://{bucket}/obj", "/dev/full")
    assert out.returncode == 1, out.stderr
    assert b"No space left on device" in out.stderr and b"Traceback" not in out.stderr
    assert out.stderr.count(b"\n") == 1


def test_permission_denied_on_the_destination_is_exit_1(moto_cluster: Any, tmp_path: Path) -> None:
    bucket = moto_cluster.make_bucket()
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="obj", Body=b"x" * 1000)
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Root writes anywhere through CAP_DAC_OVERRIDE: run the command without it, so the
        # directory's mode applies (the same EACCES an ordinary user gets).
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's override capability"
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps, "--"]
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_cluster.endpoint_url}
    out = subprocess.run([*prefix, sys.executable, "-m", "s3fast.cli", "cp", f"s3://{bucket}/obj", str(ro / "obj"),
                          "--resolve", f"{moto_cluster.host}:{','.join(moto_cluster.ips)}"],
                         capture_output=True, timeout=120, check=False, env=env)
    try:
        assert out.returncode == 1, out.stderr
        assert b"ermission denied" in out.stderr and b"Traceback" not in out.stderr
        assert out.stderr.count(b"\n") == 1
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_no_verify_ssl_warns(moto_cluster: Any, tmp_path: Path) -> None:
    bucket = moto_cluster.make_bucket()
    src = tmp_path / "f"
    src.write_bytes(b"x")
    out = _cli(moto_cluster, "cp", str(src), f"s3://{bucket}/f", "--no-verify-ssl", "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(b"s3fast: warning: --no-verify-ssl: TLS certificates are not checked")


# ------------------------------------------------------------------------------- closed std streams
@pytest.mark.parametrize("closed,args,code,fragment", [
    (0, ["-", "s3://{b}/up"], 2, "stdin is closed"),
    (0, ["/dev/stdin", "s3://{b}/up"], 2, "stdin, which is closed"),
    (1, ["s3://{b}/obj", "-"], 2, "stdout is closed"),
    (1, ["s3://{b}/obj", "/dev/stdout"], 2, "stdout, which is closed"),
    (0, ["s3://{b}/obj", "{tmp}/out"], 0, ""),
    (1, ["s3://{b}/obj", "{tmp}/out"], 0, ""),
    (2, ["s3://{b}/obj", "{tmp}/out"], 0, ""),
    (2, ["{tmp}/src", "s3://{b}/up"], 0, ""),
])
def test_closed_standard_descriptor(moto_cluster: Any, tmp_path: Path, closed: int, args: list[str], code: int,
                                    fragment: str) -> None:
    """Started with stdin, stdout or stderr closed (`<&-`, `>&-`, `2>&-`): the event loop's own
    sockets must not take those numbers (libuv aborted the process, exit 134); a stream that
    is closed cannot be the source or destination."""
    bucket = moto_cluster.make_bucket()
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="obj", Body=b"content")
    (tmp_path / "src").write_bytes(b"upload")
    log = tmp_path / "stderr.log"
    argv = [a.format(b=bucket, tmp=tmp_path) for a in args]
    with open(log, "wb") as err_file:
        out = _cli(moto_cluster, "cp", *argv, stderr=err_file, stdout=subprocess.PIPE,
                   preexec_fn=lambda: os.close(closed))
    err = log.read_bytes().decode()
    assert out.returncode == code, err
    if code:
        assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
        return
    if argv[1] == f"{tmp_path}/out":
        assert (tmp_path / "out").read_bytes() == b"content"
    else:
        body = moto_cluster.boto3_client().get_object(Bucket=bucket, Key="up")["Body"].read()
        assert body == b"upload"
