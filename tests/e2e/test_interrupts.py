"""Ctrl-C ends a transfer promptly whatever a reader thread is doing, and a multipart
upload in progress is aborted first."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from e2e_helpers import MiB


def test_ctrl_c_on_an_idle_stdin_upload_exits_and_aborts(fault_cluster) -> None:
    """stdin stays open and idle after the first part: SIGINT must not wait for it."""
    bucket = fault_cluster.moto.make_bucket()
    proc = subprocess.Popen(
        [sys.executable, "-m", "s3fast.cli", "cp", "-", f"s3://{bucket}/from-stdin", "--part-size", "5MiB",
         "--resolve", f"{fault_cluster.host}:{','.join(fault_cluster.ips)}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "AWS_ENDPOINT_URL": fault_cluster.endpoint_url})
    assert proc.stdin is not None
    try:
        proc.stdin.write(os.urandom(5 * MiB + 1000))  # one whole part and the start of the next
        proc.stdin.flush()
        # The first part is in S3: the multipart upload exists and s3fast waits on stdin.
        fault_cluster.wait_for_requests(
            lambda rs: any(r.method == "PUT" and "partNumber=1" in r.target and r.status == 200 for r in rs),
            timeout=60)
        proc.send_signal(signal.SIGINT)
        # A failure guard, not a timing assertion: without the fix the process waits on stdin forever.
        code = proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
    assert code == 130, err
    assert b"interrupted" in err and b"Traceback" not in err and b"Fatal" not in err
    assert fault_cluster.moto.list_multipart_uploads(bucket) == []
    assert any(r.method == "DELETE" and "uploadId=" in r.target for r in fault_cluster.requests)
