"""The whole harness, small: ``python -m benchmarks run`` against nginx, and EC2 mode with a
local SeaweedFS standing in for S3 and a fake instance metadata service on 127.0.0.1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks._cli import main
from benchmarks.results import read_meta, read_records
from benchmarks.targets.nginx import NginxUnavailable, ensure_nginx
from benchmarks.targets.remote import RemoteTarget
from benchmarks.targets.seaweedfs import SeaweedTarget
from benchmarks.fake_imds import FakeImds
from benchmarks.workloads import load_workloads, select_workloads


def test_run_against_nginx_writes_verified_results_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        ensure_nginx()
    except NginxUnavailable as exc:
        pytest.skip(f"nginx cannot be installed here: {exc}")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    rc = main([
        "run", "--targets", "nginx-http", "--suite", "quick", "--repeat", "1", "--modes", "default",
        "--workloads", "quick-download-1MiB-32x-disk,quick-upload-1MiB-32x-memory",
        "--runners", "awscrt,s5cmd", "--out", str(out), "--tmp-dir", str(tmp), "--no-plots", "--no-settle",
    ])
    assert rc == 0
    records = read_records(out)
    got = sorted((r.workload, r.runner, r.ok, r.verified) for r in records)
    assert got == [
        ("quick-download-1MiB-32x-disk", "awscrt", True, True),
        ("quick-download-1MiB-32x-disk", "s5cmd", True, True),
        ("quick-upload-1MiB-32x-memory", "awscrt", True, None),  # nginx is a sink
    ]
    by_runner = {r.runner: r for r in records if r.direction == "download"}
    assert by_runner["awscrt"].seconds_source == "runner" and by_runner["s5cmd"].seconds_source == "process"
    assert all(r.cpu_s > 0 and r.maxrss_kib > 0 for r in records)
    # Whole process for every runner: the Python runner's process outlives its timed region
    # (interpreter start-up, imports, set-up); the executable's region is its process.
    for r in records:
        m = r.metrics()
        assert r.process_wall_s > 0 and m["mb_per_s_process"] and m["wall_s_process"] == r.process_wall_s
    assert by_runner["awscrt"].process_wall_s > by_runner["awscrt"].seconds  # type: ignore[operator]
    assert by_runner["s5cmd"].process_wall_s == by_runner["s5cmd"].seconds
    meta = read_meta(out)
    assert meta["planned_runs"] == 3 and meta["interrupted"] is False
    assert meta["settings"]["settle"] is False  # a smoke run says so in its results
    assert meta["skipped"] == [{"runner": "s5cmd", "workload": "quick-upload-1MiB-32x-memory",
                                "reason": "s5cmd has no memory mode"}]
    assert meta["versions"]["nginx"] and meta["versions"]["s5cmd"].startswith("v2")
    report = (out / "RESULTS.md").read_text()
    assert "awscrt" in report and "| MB/s whole process median (min–max) | MB/s in region |" in report
    assert list(tmp.iterdir()) == []  # data, scratch, nginx dir: all gone


def test_ec2_mode_with_local_endpoint_and_fake_imds(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # weed's unix sockets live in its work dir: a short parent keeps their paths under the
    # 108-byte sun_path limit (xdist adds a popen-gwN level to every tmp_path).
    seaweed = SeaweedTarget(bucket="bench-ec2-mode", tmp_parent=str(tmp_path_factory.mktemp("weed")))
    ep = seaweed.start()
    try:
        with FakeImds("c5n.9xlarge") as imds:
            assert ep.access_key and ep.secret_key and ep.endpoint_url
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", ep.access_key)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ep.secret_key)
            monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
            monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
            out = tmp_path / "out"
            rc = main([
                "run", "--bucket", "bench-ec2-mode", "--region", "us-east-1",
                "--endpoint-url", ep.endpoint_url, "--suite", "quick", "--repeat", "1",
                "--workloads", "quick-upload-1MiB-32x-disk,quick-download-1MiB-32x-memory",
                "--runners", "boto3", "--modes", "matched", "--matched-concurrency", "4",
                "--matched-part-size", "5MiB", "--out", str(out), "--tmp-dir", str(tmp_path), "--no-plots",
                "--no-settle",
            ])
            assert rc == 0
            assert any(r[1] == "/latest/meta-data/instance-type" for r in imds.requests)
        meta = read_meta(out)
        ec2 = meta["machine"]["ec2"]
        assert ec2["instance_type"] == "c5n.9xlarge" and ec2["advertised_gbps"] == 50
        assert "awscrt_recommended_gbps" not in ec2  # DMI does not say EC2 here
        assert meta["settings"]["matched_concurrency"] == 4
        records = read_records(out)
        assert sorted((r.workload, r.label, r.verified) for r in records) == [
            ("quick-download-1MiB-32x-memory", "boto3@matched", True),
            ("quick-upload-1MiB-32x-disk", "boto3@matched", True),  # listed on the store
        ]
        admin = seaweed.admin
        assert admin.list_sizes("up/") == {}  # upload runs clean up after their check
        seeded = admin.list_sizes("dl/")
        assert len(seeded) == 32 and set(seeded.values()) == {1 << 20}
        # A later run keeps objects that are already there with the right checksum.
        workload = select_workloads(load_workloads(), patterns=["quick-download-1MiB-32x-memory"])[0]
        from benchmarks.dataset import ensure_dataset

        ds = ensure_dataset(tmp_path / "data", "s3fast-bench", workload)
        remote = RemoteTarget(bucket="bench-ec2-mode", region="us-east-1", endpoint_url=ep.endpoint_url)
        remote.start()
        remote.prepare_download(ds)
        assert remote.seeded == {ds.dataset_id: "kept"}
        assert json.loads((out / "meta.json").read_text())["targets"]["ec2"]["server"].startswith("S3-compatible")
    finally:
        seaweed.stop()


def test_ec2_mode_refuses_to_run_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    target = RemoteTarget(bucket="b", region="us-east-1")
    with pytest.raises(RuntimeError, match="allow-instance-credentials"):
        target.start()
