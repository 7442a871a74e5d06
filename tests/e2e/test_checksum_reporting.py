"""What a download says about the checksum it checked: the algorithm and whether it was
verified, or that S3 stored none (never silence that looks like a verified copy)."""
from __future__ import annotations

import os
from pathlib import Path

from e2e_helpers import MiB, cli, client_for, run

import s3fast


def _args(cluster) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]


def _env(cluster) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"AWS_ENDPOINT_URL": cluster.endpoint_url}


def test_cli_summary_says_checksum_none(moto_cluster, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(MiB))
    for key, algo in (("plain", "none"), ("summed", "crc64nvme")):
        up = cli("cp", str(src), f"s3://{bucket}/{key}", "--checksum", algo, *_args(moto_cluster),
                 env=_env(moto_cluster))
        assert up.returncode == 0, up.stderr
    down = cli("cp", f"s3://{bucket}/plain", str(tmp_path / "p.bin"), *_args(moto_cluster), env=_env(moto_cluster))
    assert down.returncode == 0, down.stderr
    assert down.stdout.rstrip().endswith(b"checksum: none"), down.stdout
    down = cli("cp", f"s3://{bucket}/summed", str(tmp_path / "s.bin"), *_args(moto_cluster), env=_env(moto_cluster))
    assert down.returncode == 0, down.stderr
    assert down.stdout.rstrip().endswith(b"checksum: crc64nvme verified"), down.stdout


def test_result_of_a_download_without_stored_checksum(moto_cluster, bucket: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with client_for(moto_cluster, s3fast.TransferConfig(checksum="none")) as c:
            await c.put_bytes(f"s3://{bucket}/k", b"abc")
            for dest in (bytearray(), tmp_path / "k"):
                r = await c.download(f"s3://{bucket}/k", dest)
                assert r.checksum is None and r.checksum_algorithm is None
                assert r.checksum_verified is False and r.checksum_summary == "none"

    run(go())
