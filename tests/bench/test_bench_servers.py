"""The harness's local targets: nginx (generated config, HTTP and HTTPS) and SeaweedFS.

Each is started on loopback, spoken to, stopped, and must leave no temp dir behind.
nginx is installed with apt-get when missing; the test skips only if that is impossible.
"""
from __future__ import annotations

import http.client
import re
import ssl
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from benchmarks.dataset import crc64_buffer, ensure_dataset
from benchmarks.procs import port_open
from benchmarks.targets.nginx import NginxConfig, NginxTarget, NginxUnavailable, ensure_nginx, render_nginx_conf
from benchmarks.targets.seaweedfs import SeaweedTarget, WeedLayout, weed_args
from benchmarks.tls import make_loopback_tls
from benchmarks.workloads import Workload


def test_nginx_config_is_loopback_only_and_accepts_any_body(tmp_path: Path) -> None:
    plain = render_nginx_conf(NginxConfig(tmp_path / "root", 18080, tmp_path / "w"))
    assert "listen 127.0.0.1:18080;" in plain and "ssl_certificate" not in plain
    assert "client_max_body_size 0;" in plain and "sendfile on;" in plain
    assert "user root;" in plain and "daemon off;" in plain
    assert f"pid {tmp_path / 'w'}/nginx.pid;" in plain and "access_log off;" in plain
    assert "InitiateMultipartUploadResult" in plain and "<UploadId>$request_id</UploadId>" in plain
    assert "CompleteMultipartUploadResult" in plain and "add_header ETag '\"$request_id\"' always;" in plain
    tls = make_loopback_tls(tmp_path / "tls")
    secure = render_nginx_conf(NginxConfig(tmp_path / "root", 18443, tmp_path / "w", tls=tls, user=None))
    assert "listen 127.0.0.1:18443 ssl;" in secure and str(tls.server_cert) in secure
    assert "user " not in secure.split("events")[0]
    # Every listen directive is loopback.
    assert all(m.startswith("127.0.0.1:") for m in re.findall(r"listen\s+(\S+)", plain + secure))


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    try:
        return ensure_nginx()
    except NginxUnavailable as exc:
        pytest.skip(f"nginx cannot be installed here: {exc}")


def test_generated_nginx_config_passes_nginx_t(tmp_path: Path, nginx_binary: str) -> None:
    work = tmp_path / "w"
    work.mkdir()
    tls = make_loopback_tls(tmp_path / "tls")
    conf = work / "nginx.conf"
    conf.write_text(render_nginx_conf(NginxConfig(tmp_path, 18443, work, tls=tls)))
    result = subprocess.run([nginx_binary, "-t", "-p", str(work), "-c", str(conf), "-e", str(work / "e.log")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _conn(target: NginxTarget, ca: str | None) -> http.client.HTTPConnection:
    assert target.port is not None
    if ca:
        ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the 127.0.0.1 SAN
        return http.client.HTTPSConnection("127.0.0.1", target.port, context=ctx, timeout=10)
    return http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_nginx_target_serves_files_and_fakes_uploads(tmp_path: Path, nginx_binary: str, https: bool) -> None:
    root = tmp_path / "root"
    (root / "bkt" / "dl").mkdir(parents=True)
    payload = bytes(range(256)) * 4096  # 1 MiB
    (root / "bkt" / "dl" / "obj").write_bytes(payload)
    target = NginxTarget(root, https=https, bucket="bkt", tmp_parent=str(tmp_path))
    ep = target.start()
    workdir, port = target.workdir, target.port
    try:
        assert workdir is not None and workdir.is_dir() and port is not None
        assert ep.endpoint_url == f"{'https' if https else 'http'}://127.0.0.1:{port}"
        assert (ep.ca_bundle is not None) == https
        c = _conn(target, ep.ca_bundle)
        c.request("HEAD", "/bkt/dl/obj")
        r = c.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("Content-Length") == str(len(payload)) and r.getheader("ETag")
        c.request("GET", "/bkt/dl/obj?x-id=GetObject", headers={"Range": "bytes=1000-1999"})
        r = c.getresponse()
        assert r.status == 206 and r.read() == payload[1000:2000]
        c.request("POST", "/bkt/up/k?uploads")
        r = c.getresponse()
        body = r.read().decode()
        assert r.status == 200 and "<UploadId>" in body and "<Key>up/k</Key>" in body
        upload_id = re.search(r"<UploadId>(\w+)</UploadId>", body)
        assert upload_id is not None
        c.request("PUT", f"/bkt/up/k?partNumber=1&uploadId={upload_id.group(1)}", body=b"x" * (3 << 20))
        r = c.getresponse()
        r.read()
        assert r.status == 200 and re.fullmatch(r'"\w{32}"', r.getheader("ETag") or "")
        c.request("POST", f"/bkt/up/k?uploadId={upload_id.group(1)}", body=b"<CompleteMultipartUpload/>")
        r = c.getresponse()
        assert r.status == 200 and "CompleteMultipartUploadResult" in r.read().decode()
        c.request("PUT", "/bkt/up/single", body=b"y" * 1000)
        r = c.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("ETag")
        assert not (root / "bkt" / "up").exists()  # uploads are discarded
        c.close()
        assert target.check_upload(["up/single"], 1000).verified is None
    finally:
        target.stop()
    assert not workdir.exists()
    assert not port_open(port)


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedTarget]:
    target = SeaweedTarget(bucket="bench-test", tmp_parent=str(tmp_path_factory.mktemp("weed")))
    target.start()
    try:
        yield target
    finally:
        target.stop()


def test_weed_args_bind_loopback_without_telemetry(tmp_path: Path) -> None:
    ports = {"s3.port": 1, "master.port": 2}
    args = weed_args("weed", WeedLayout(tmp_path, ports, "b"))
    for flag in ("-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false",
                 "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-logtostderr",
                 "-s3.port=1", "-master.port=2", f"-dir={tmp_path / 'data'}", "-bucket=b"):
        assert flag in args
    assert args.index("-logtostderr") < args.index("mini")


def test_seaweedfs_put_get_check_and_stop(seaweed: SeaweedTarget) -> None:
    admin = seaweed.admin
    layout = seaweed.layout
    assert layout is not None
    ep = seaweed.start()  # idempotent while running
    assert ep.endpoint_url == f"http://127.0.0.1:{layout.ports['s3.port']}"
    admin.client.put_object(Bucket="bench-test", Key="up/r1/obj-000000", Body=b"a" * 1000)
    admin.client.put_object(Bucket="bench-test", Key="up/r1/obj-000001", Body=b"b" * 999)
    got = admin.client.get_object(Bucket="bench-test", Key="up/r1/obj-000000")["Body"].read()
    assert got == b"a" * 1000
    check = seaweed.check_upload(["up/r1/obj-000000", "up/r1/obj-000001", "up/r1/obj-000002"], 1000)
    assert check.verified is False and check.missing == ("up/r1/obj-000002",) and "1 of wrong size" in check.detail
    assert admin.list_sizes("up/r1/") == {}  # cleaned up after the check
    admin.client.put_object(Bucket="bench-test", Key="up/r2/obj-000000", Body=b"c" * 10)
    assert seaweed.check_upload(["up/r2/obj-000000"], 10).verified is True


def test_s3fast_signatures_are_checked_and_accepted_by_seaweedfs(seaweed: SeaweedTarget) -> None:
    """s3fast's own SigV4 against a server that verifies signatures: every request shape of
    a multipart upload, ranged download and listing is accepted; a wrong secret is refused."""
    import os

    import s3fast

    ep = seaweed.start()
    data = os.urandom(11 * s3fast.MiB)
    cfg = s3fast.TransferConfig(part_size=5 * s3fast.MiB, multipart_threshold=5 * s3fast.MiB)

    async def go() -> None:
        async with s3fast.Client(endpoint_url=ep.endpoint_url, region="us-east-1", config=cfg,
                                 aws_access_key_id=ep.access_key, aws_secret_access_key=ep.secret_key) as c:
            up = await c.put_bytes("s3://bench-test/sig/a b+c~é.bin", data)  # Create, UploadPart x3, Complete
            assert up.parts == 3
            assert await c.get_bytes("s3://bench-test/sig/a b+c~é.bin") == data  # GET + ranged GETs
            assert [o.key async for o in c.list("s3://bench-test/sig/")] == ["sig/a b+c~é.bin"]
            await c.delete("s3://bench-test/sig/a b+c~é.bin")
        async with s3fast.Client(endpoint_url=ep.endpoint_url, region="us-east-1",
                                 aws_access_key_id=ep.access_key,
                                 aws_secret_access_key=(ep.secret_key or "") + "x") as c:
            try:
                await c.put_bytes("s3://bench-test/sig/denied", b"x")
            except s3fast.S3FastError as exc:
                assert "SignatureDoesNotMatch" in str(exc)
            else:
                raise AssertionError("a wrong secret was accepted")

    s3fast.run(go())


def test_seaweedfs_restarts_fresh_over_its_disk_budget(seaweed: SeaweedTarget, tmp_path: Path) -> None:
    old = seaweed.start()
    workload = Workload("download-64KiB-2x-disk", "quick", "download", 64 << 10, 2, "disk")
    ds = ensure_dataset(tmp_path, "bench-test", workload)
    assert seaweed.prepare_download(ds) is True and seaweed.prepare_download(ds) is False
    seaweed.admin.client.put_object(Bucket="bench-test", Key="up/r3/obj-000000", Body=b"z" * 10)
    seaweed.disk_budget_bytes = 0
    try:
        assert seaweed.check_upload(["up/r3/obj-000000"], 10).verified is True
    finally:
        seaweed.disk_budget_bytes = 12 << 30
    new = seaweed.start()
    assert seaweed.restarts == 1 and new.endpoint_url != old.endpoint_url
    assert new.access_key != old.access_key
    assert seaweed.prepare_download(ds) is True  # a fresh store: the objects are seeded again
    body = seaweed.admin.client.get_object(Bucket="bench-test", Key=ds.key(1))["Body"].read()
    assert crc64_buffer(body) == ds.checksums[1]


def test_seaweedfs_stop_removes_everything(seaweed: SeaweedTarget) -> None:
    # Runs last in this module: stops the shared instance (the fixture's stop is then a no-op).
    layout = seaweed.layout
    assert layout is not None
    s3_port = layout.ports["s3.port"]
    assert port_open(s3_port)
    seaweed.stop()
    assert not layout.workdir.exists() and not port_open(s3_port)
    for port in layout.ports.values():
        assert not list(Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"))
    assert "stopped" in repr(seaweed)
