"""SIGTERM, SIGHUP and SIGINT stop ``s3fast cp`` like Ctrl-C: the transfer is cancelled, a
multipart upload is aborted on the server, a download leaves no file, exit 128+N, one line.

Synchronisation is on what the fault proxy saw, never on time: the proxy holds every answer
to part 2 (``latency``), and the signal goes once part 1's exchange is recorded, i.e. once
the client has the upload id and is mid-upload.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.faultrules import Rule, latency, throttle

MiB = 1024 * 1024


def _start_cli(cluster, *args: str) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint_url}
    resolve = ["--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]
    return subprocess.Popen([sys.executable, "-m", "s3fast.cli", *args, *resolve], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_upload_aborts_the_multipart_upload(fault_cluster, tmp_path: Path, sig: signal.Signals) -> None:
    bucket = fault_cluster.make_bucket()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * MiB))
    # Part 2 reaches moto but its answer is held: the upload stays mid-way until the signal.
    fault_cluster.add_rule(Rule(latency(60), method="PUT", path=r"partNumber=2&"))
    proc = _start_cli(fault_cluster, "cp", str(src), f"s3://{bucket}/big.bin", "--part-size", "5MiB",
                      "--concurrency", "1", "--progress", "off")
    try:
        fault_cluster.wait_for_requests(
            lambda recs: any(r.method == "PUT" and "partNumber=1&" in r.target and r.status == 200 for r in recs),
            timeout=60)
        assert fault_cluster.list_multipart_uploads(bucket), "the upload should be open now"
        proc.send_signal(sig)
    finally:
        code, err = _finish(proc)
    assert code == 128 + sig, err
    assert b"Traceback" not in err
    assert err.decode().strip().splitlines() == [f"s3fast: interrupted by {sig.name}"]
    assert fault_cluster.list_multipart_uploads(bucket) == []
    assert any(r.method == "DELETE" and "uploadId=" in r.target for r in fault_cluster.requests)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_download_leaves_no_file(fault_cluster, tmp_path: Path, sig: signal.Signals) -> None:
    bucket = fault_cluster.make_bucket()
    fault_cluster.moto.boto3_client().put_object(Bucket=bucket, Key="obj", Body=os.urandom(20 * MiB))
    # The first GET goes through (rule 1 takes it, with a rate far above what is sent); every
    # later GET, the ranges, is held by rule 2: the download cannot finish.
    fault_cluster.add_rule(Rule(throttle(1e12), method="GET", path=r"/obj", nth=1))
    fault_cluster.add_rule(Rule(latency(60), method="GET", path=r"/obj"))
    out = tmp_path / "out"
    out.mkdir()
    proc = _start_cli(fault_cluster, "cp", f"s3://{bucket}/obj", str(out / "obj.bin"), "--part-size", "5MiB",
                      "--progress", "off")
    try:
        # The first GET's exchange ends (the client keeps its first 5 MiB and drops the
        # connection); by then the destination is open and ranges are in flight.
        fault_cluster.wait_for_requests(lambda recs: any(r.method == "GET" for r in recs), timeout=60)
        proc.send_signal(sig)
    finally:
        code, err = _finish(proc)
    assert code == 128 + sig, err
    assert b"Traceback" not in err
    assert err.decode().strip().splitlines() == [f"s3fast: interrupted by {sig.name}"]
    assert list(out.iterdir()) == []


def test_signal_while_stdin_is_idle_ends_promptly(fault_cluster) -> None:  # type: ignore[no-untyped-def]
    """A stdin upload whose producer has gone quiet: a thread is blocked in read(); the
    signal must still end the process (and abort the upload) without waiting for stdin."""
    bucket = fault_cluster.make_bucket()
    env = {**os.environ, "AWS_ENDPOINT_URL": fault_cluster.endpoint_url}
    resolve = ["--resolve", f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"]
    proc = subprocess.Popen([sys.executable, "-m", "s3fast.cli", "cp", "-", f"s3://{bucket}/s", "--part-size",
                             "5MiB", "--progress", "off", *resolve], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        proc.stdin.write(os.urandom(6 * MiB))  # more than one part: the multipart upload starts
        proc.stdin.flush()
        fault_cluster.wait_for_requests(
            lambda recs: any(r.method == "PUT" and "partNumber=1&" in r.target and r.status == 200 for r in recs),
            timeout=60)
        proc.send_signal(signal.SIGTERM)  # stdin stays open and silent (communicate() would close it)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.decode().strip().splitlines() == ["s3fast: interrupted by SIGTERM"]
    assert fault_cluster.list_multipart_uploads(bucket) == []


def test_run_command_gives_the_callers_signal_handlers_back() -> None:
    # In-process callers (this test process, an embedding program) must not keep the CLI's
    # stop-signal handlers: a later SIGTERM would raise inside unrelated code.
    import signal as _signal

    from s3fast.cli._runner import run_command

    before = {sig: _signal.getsignal(sig) for sig in (_signal.SIGTERM, _signal.SIGHUP)}
    assert run_command(lambda args: 0, None) == 0
    assert {sig: _signal.getsignal(sig) for sig in before} == before
