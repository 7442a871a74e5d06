"""The many-object commands end to end: cp -r, sync, mv, rm, ls, cat (subprocesses on moto)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e_helpers import cli
from support.faultrules import Rule, respond, stall
from test_tree_e2e import make_tree, read_tree


def opts(cluster: Any) -> list[str]:
    return ["--endpoint-url", cluster.endpoint_url, "--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]


def run_json(*args: str) -> tuple[int, dict[str, Any], str]:
    p = cli(*args, "--json")
    lines = p.stdout.decode().strip().splitlines()
    return p.returncode, json.loads(lines[-1]) if lines else {}, p.stderr.decode()


def test_cp_recursive_up_down_ls_rm(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 120)
    o = opts(moto_cluster)
    code, up, err = run_json("cp", "-r", str(src), f"s3://{bucket}/run/", "--progress", "log", *o)
    assert code == 0, err
    assert up["operation"] == "cp" and up["objects"] == 120 and up["failed"] == []
    assert up["bytes"] == sum(len(v) for v in files.values())
    assert {"skipped", "deleted", "seconds", "mb_per_s"} <= up.keys()
    assert "cp: 120/120 objects" in err  # the log-mode progress line at the end

    code, down, err = run_json("cp", "-r", f"s3://{bucket}/run", str(tmp_path / "dst"), *o)
    assert code == 0, err
    assert read_tree(tmp_path / "dst") == files

    assert bucket in cli("ls", *o).stdout.decode().split()  # no URL: the buckets
    top = cli("ls", f"s3://{bucket}/run/", *o).stdout.decode().splitlines()
    assert sorted(line.split()[-1] for line in top) == [f"d{i}/" for i in range(5)]
    assert all(line.split()[0] == "PRE" for line in top)
    keys = [json.loads(x)["key"] for x in cli("ls", "-r", "--json", f"s3://{bucket}/run/", *o).stdout.splitlines()]
    assert sorted(keys) == sorted(f"run/{k}" for k in files)
    summ = cli("ls", "-r", "--summarize", "-H", f"s3://{bucket}/run/d1/", *o).stdout.decode()
    assert f"Total Objects: {sum(1 for k in files if k.startswith('d1/'))}" in summ

    code, rm, err = run_json("rm", "-r", f"s3://{bucket}/run/", "--exclude", "d0/*", *o)
    assert code == 0, err
    assert rm["deleted"] == sum(1 for k in files if not k.startswith("d0/"))
    assert cli("ls", "-r", "--json", f"s3://{bucket}/run/", *o).stdout.count(b"\n") == sum(
        1 for k in files if k.startswith("d0/"))


def test_sync_twice_then_delete(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, 50)
    o = opts(moto_cluster)
    url = f"s3://{bucket}/s/"
    code, first, err = run_json("sync", str(src), url, *o)
    assert code == 0 and first["objects"] == 50, err
    code, second, err = run_json("sync", str(src), url, "--checksum", *o)
    assert code == 0 and second["objects"] == 0 and second["skipped"] == 50, err
    (src / "d0" / "s0" / "f0.bin").unlink()
    dry = cli("sync", str(src), url, "--delete", "--dryrun", *o)
    assert dry.returncode == 0
    assert f"(dryrun) delete: {url}d0/s0/f0.bin" in dry.stdout.decode()
    code, third, err = run_json("sync", str(src), url, "--delete", *o)
    assert code == 0 and third["deleted"] == 1 and third["objects"] == 0, err



def _listing(prefix: str, objects: list[tuple[str, int]]) -> bytes:
    """A ListObjectsV2 answer (one page, URL-encoded keys) of ``objects`` in the order given."""
    rows = b"".join(f"<Contents><Key>{prefix}{k}</Key><LastModified>2099-01-01T00:00:00.000Z</LastModified>"
                    f'<ETag>"x"</ETag><Size>{n}</Size><StorageClass>STANDARD</StorageClass></Contents>'.encode()
                    for k, n in objects)
    return (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>'
            + f"<Prefix>{prefix}</Prefix><KeyCount>{len(objects)}</KeyCount><MaxKeys>1000</MaxKeys>".encode()
            + b"<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>" + rows + b"</ListBucketResult>")


@pytest.mark.parametrize("side", ["destination", "source"])
def test_sync_of_an_unsorted_listing(fault_cluster: Any, tmp_path: Path, side: str) -> None:
    """A store that lists a bucket out of key order (as S3 Express directory buckets do, and
    some S3-compatible servers): sync still pairs each key with its counterpart, so an
    unchanged tree moves nothing and --delete removes exactly what the source lacks."""
    bucket = fault_cluster.moto.make_bucket()
    local = tmp_path / "t"
    names = ["a", "b/x", "b-y", "c", "d/e/f", "z"]
    for n in names:
        (local / n).parent.mkdir(parents=True, exist_ok=True)
        (local / n).write_bytes(n.encode())
    o = opts(fault_cluster)
    assert cli("cp", "-r", str(local), f"s3://{bucket}/u/", *o).returncode == 0
    (local / "gone").write_bytes(b"only local")  # the S3 side lacks it
    shuffled = [(n, len(n)) for n in ["z", "c", "b/x", "a", "d/e/f", "b-y"]]
    fault_cluster.add_rule(Rule(respond(200, "", body=_listing("u/", shuffled)), method="GET", path=r"list-type=2"))
    if side == "destination":  # local -> S3: the S3 listing is the destination's
        code, out, err = run_json("sync", "--size-only", "--delete", str(local), f"s3://{bucket}/u/", *o)
        assert code == 0, err
        assert (out["objects"], out["skipped"], out["deleted"]) == (1, 6, 0), out
    else:  # S3 -> local: the S3 listing is the source's; "gone" is not in it
        code, out, err = run_json("sync", "--size-only", "--delete", f"s3://{bucket}/u/", str(local), *o)
        assert code == 0, err
        assert (out["objects"], out["skipped"], out["deleted"]) == (0, 6, 1), out
        assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == sorted(names)


def test_failed_objects_exit_1_and_are_listed(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 20)
    fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "nope"), method="PUT", path=r"/f(4|9)\.(txt|bin)"))
    code, out, err = run_json("cp", "-r", str(src), f"s3://{bucket}/x/", *opts(fault_cluster))
    assert code == 1
    assert sorted(f["key"].rsplit("/", 1)[-1] for f in out["failed"]) == ["f4.bin", "f9.txt"]
    assert out["objects"] == 18
    assert err.count("s3fast: failed:") == 2 and "Traceback" not in err



def test_rm_reports_each_key_deleteobjects_refused(fault_cluster: Any, tmp_path: Path) -> None:
    """A DeleteObjects answer with per-key <Error>s: those keys are named as failed (stderr
    and JSON), the others counted deleted, exit 1."""
    bucket = fault_cluster.moto.make_bucket()
    body = (b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult>'
            b"<Deleted><Key>k1</Key></Deleted>"
            b"<Error><Key>k2</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            b"<Deleted><Key>k3</Key></Deleted></DeleteResult>")
    fault_cluster.add_rule(Rule(respond(200, "", body=body), method="POST"))
    code, out, err = run_json("rm", *(f"s3://{bucket}/k{i}" for i in (1, 2, 3)), *opts(fault_cluster))
    assert code == 1, err
    assert out["deleted"] == 2 and out["failed"] == [{"key": f"s3://{bucket}/k2", "error": "AccessDenied: Access Denied"}]
    assert f"s3://{bucket}/k2" in err and "AccessDenied" in err and "Traceback" not in err



def test_rm_of_a_prefix_holding_a_key_xml_cannot_carry(moto_cluster: Any, bucket: str) -> None:
    """A key with a NUL or another control character has no XML 1.0 form: it cannot go in a
    DeleteObjects body, and must not take the other keys of its batch down with it."""
    b3 = moto_cluster.boto3_client()
    odd = ["x/n\x00ul", "x/bell\x07", "x/esc\x1b[0m"]
    plain = [f"x/k{i}" for i in range(5)]
    for key in odd + plain:
        b3.put_object(Bucket=bucket, Key=key, Body=b"x")
    code, out, err = run_json("rm", "-r", f"s3://{bucket}/x/", *opts(moto_cluster))
    assert code == 0, err
    assert out["deleted"] == len(odd) + len(plain) and out["failed"] == [], out
    assert b3.list_objects_v2(Bucket=bucket, Prefix="x/").get("KeyCount") == 0


def test_usage_errors_exit_2(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    o = opts(moto_cluster)
    for args, text in [
        (("cp", "-r", str(tmp_path), str(tmp_path / "b")), "must be an S3 URL"),
        (("cp", "-r", str(tmp_path / "missing"), f"s3://{bucket}/x/"), "not a directory"),
        (("rm", f"s3://{bucket}/x/"), "use --recursive"),
        (("sync", "s3://bad bucket/", str(tmp_path)), "invalid bucket"),
        (("cp", f"s3://{bucket}/dir/", f"s3://{bucket}/other/"), "use --recursive"),
    ]:
        p = cli(*args, *o)
        assert p.returncode == 2, (args, p.stderr)
        assert text in p.stderr.decode() and "Traceback" not in p.stderr.decode()
    missing = cli("ls", "s3://no-such-bucket-h8/", *o)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr.decode()



def test_json_summary_is_printed_when_the_listing_fails(moto_cluster: Any, tmp_path: Path) -> None:
    """--json promises one summary object: a listing that fails (no such bucket) is exit 1,
    one error line on stderr, and the summary with the failure in ``failed``."""
    (tmp_path / "f").write_bytes(b"x")
    missing = "s3://no-such-bucket-h41/p/"
    for args in (("sync", str(tmp_path), missing), ("cp", "-r", missing, str(tmp_path / "d")),
                 ("rm", "-r", missing), ("mv", "-r", missing, str(tmp_path / "d"))):
        code, out, err = run_json(*args, *opts(moto_cluster))
        assert code == 1, (args, err)
        assert err.count("\n") == 1 and "NoSuchBucket" in err and "Traceback" not in err, (args, err)
        assert out["operation"] == args[0] and out["objects"] == 0, (args, out)
        assert [f["key"] for f in out["failed"]] == [missing] and "NoSuchBucket" in out["failed"][0]["error"]



@pytest.mark.parametrize("command", ["cp", "mv"])
def test_one_object_to_a_bucket_takes_the_source_name(moto_cluster: Any, bucket: str, tmp_path: Path,
                                                      command: str) -> None:
    """``cp s3://b/dir/k s3://other`` and ``mv f s3://other``: a bucket with no key (with or
    without its '/') names the object after the source, as an upload with cp does."""
    b3 = moto_cluster.boto3_client()
    other = moto_cluster.make_bucket()
    b3.put_object(Bucket=bucket, Key="dir/k1", Body=b"one")
    b3.put_object(Bucket=bucket, Key="dir/k2", Body=b"two")
    (tmp_path / "f3").write_bytes(b"three")
    o = opts(moto_cluster)
    for src, dst in ((f"s3://{bucket}/dir/k1", f"s3://{other}"), (f"s3://{bucket}/dir/k2", f"s3://{other}/"),
                     (str(tmp_path / "f3"), f"s3://{other}")):
        if command == "cp" and not src.startswith("s3://"):
            continue  # a one-object cp upload is not a tree command (covered in test_cli_hardening)
        p = cli(command, src, dst, *o)
        assert p.returncode == 0, (src, dst, p.stderr)
    keys = sorted(o["Key"] for o in b3.list_objects_v2(Bucket=other).get("Contents", []))
    assert keys == (["f3", "k1", "k2"] if command == "mv" else ["k1", "k2"])
    assert b3.get_object(Bucket=other, Key="k1")["Body"].read() == b"one"


def test_mv_cat_and_server_side_copy(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 15)
    o = opts(moto_cluster)
    assert cli("mv", "-r", str(src), f"s3://{bucket}/m/", *o).returncode == 0
    assert read_tree(src) == {}  # every uploaded file removed
    code, cp, err = run_json("cp", f"s3://{bucket}/m/*/s1/*", f"s3://{bucket}/c/", *o)
    assert code == 0 and cp["objects"] == sum(1 for k in files if "/s1/" in k), err
    code, mv, err = run_json("mv", "-r", f"s3://{bucket}/m/", f"s3://{bucket}/n/", *o)
    assert code == 0 and mv["objects"] == 15 and mv["deleted"] == 15, err
    assert cli("ls", "-r", f"s3://{bucket}/m/", *o).stdout == b""
    key = next(iter(files))
    cat = cli("cat", f"s3://{bucket}/n/{key}", *o)
    assert cat.returncode == 0 and cat.stdout == files[key]
    one = cli("cp", f"s3://{bucket}/n/{key}", f"s3://{bucket}/single", *o)
    assert one.returncode == 0, one.stderr
    assert cli("cat", f"s3://{bucket}/single", *o).stdout == files[key]



#: what ``aws s3 cp`` carries over on a copy besides x-amz-meta-*: the standard headers
STANDARD_HEADERS = {"ContentType": "application/x-test", "CacheControl": "max-age=60",
                    "ContentDisposition": "attachment; filename=big.bin", "ContentEncoding": "identity",
                    "ContentLanguage": "fr"}


@pytest.mark.parametrize("recursive", [False, True])
def test_server_side_copy_keeps_the_standard_headers(moto_cluster: Any, bucket: str, recursive: bool) -> None:
    """A multipart (UploadPartCopy) copy, one object or a tree, keeps Content-Type, the
    user metadata and also Cache-Control, Content-Disposition, Content-Encoding and
    Content-Language, as the single CopyObject (metadata directive COPY) does."""
    import os

    b3 = moto_cluster.boto3_client()
    other = moto_cluster.make_bucket()
    data = os.urandom(17 * 1024 * 1024 + 5)
    expires = "Wed, 21 Oct 2037 07:28:00 GMT"
    for key, body in (("hd/big", data), ("hd/small", b"small")):
        b3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"team": "x"}, Expires=expires,
                      **STANDARD_HEADERS)
    o = opts(moto_cluster)
    if recursive:
        p = cli("cp", "-r", f"s3://{bucket}/hd/", f"s3://{other}/hd/", *o)
    else:
        p = cli("cp", f"s3://{bucket}/hd/big", f"s3://{other}/hd/big", *o)
        assert p.returncode == 0, p.stderr
        p = cli("cp", f"s3://{bucket}/hd/small", f"s3://{other}/hd/small", *o)
    assert p.returncode == 0, p.stderr
    for key in ("hd/big", "hd/small"):
        head = b3.head_object(Bucket=other, Key=key)
        got = {k: head.get(k) for k in STANDARD_HEADERS}
        assert got == STANDARD_HEADERS and head["Metadata"] == {"team": "x"}, (key, got)
        assert head.get("ExpiresString", "") == expires, (key, head.get("ExpiresString"))
    assert b3.get_object(Bucket=other, Key="hd/big")["Body"].read() == data



def test_tree_server_side_copy_carries_each_objects_checksum(moto_cluster: Any, bucket: str) -> None:
    """cp -r S3 -> S3 of small objects (CopyObject, the listing standing in for a HEAD) keeps
    each source's checksum algorithm and value instead of replacing it by the default one."""
    b3 = moto_cluster.boto3_client()
    other = moto_cluster.make_bucket()
    for algo in ("CRC32C", "CRC32", "SHA256", "SHA1"):
        b3.put_object(Bucket=bucket, Key=f"cs/{algo}", Body=f"body of {algo}".encode() * 10, ChecksumAlgorithm=algo)
    p = cli("cp", "-r", f"s3://{bucket}/cs/", f"s3://{other}/cs/", *opts(moto_cluster))
    assert p.returncode == 0, p.stderr
    for algo in ("CRC32C", "CRC32", "SHA256", "SHA1"):
        src = b3.head_object(Bucket=bucket, Key=f"cs/{algo}", ChecksumMode="ENABLED")
        dst = b3.head_object(Bucket=other, Key=f"cs/{algo}", ChecksumMode="ENABLED")
        assert dst.get(f"Checksum{algo}") == src[f"Checksum{algo}"], (algo, dst)



@pytest.mark.parametrize("command", ["cp", "sync"])
def test_copy_into_a_prefix_inside_the_source(moto_cluster: Any, bucket: str, tmp_path: Path, command: str) -> None:
    """``cp -r s3://b/p/ s3://b/p/z/``: the listing goes on while the copies are written, and
    later pages list the new copies under p/z/: they must not be copied again (p/z/z/...)."""
    src = tmp_path / "src"
    src.mkdir()
    n = 1100  # more than one listing page
    for i in range(n):
        (src / f"f{i:04d}").write_bytes(b"%d" % i)
    o = opts(moto_cluster)
    assert cli("cp", "-r", str(src), f"s3://{bucket}/p/", *o).returncode == 0
    args = ("cp", "-r") if command == "cp" else ("sync",)
    code, out, err = run_json(*args, f"s3://{bucket}/p/", f"s3://{bucket}/p/z/", *o)
    assert code == 0, err
    assert out["objects"] == n, out
    keys = [json.loads(x)["key"] for x in cli("ls", "-r", "--json", f"s3://{bucket}/p/", *o).stdout.splitlines()]
    assert len(keys) == 2 * n and not any(k.startswith("p/z/z/") for k in keys)
    if command == "sync":  # back the other way: the source (p/z/) inside the destination (p/)
        code, out, err = run_json("sync", "--size-only", "--delete", f"s3://{bucket}/p/z/", f"s3://{bucket}/p/", *o)
        assert code == 0, err
        assert (out["objects"], out["skipped"], out["deleted"]) == (0, n, 0), out  # p/z/* are not extras
        assert cli("ls", "-r", "--json", f"s3://{bucket}/p/", *o).stdout.count(b"\n") == 2 * n


def test_hostile_keys_warn_and_stay_inside(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    b3 = moto_cluster.boto3_client()
    for key in ["h/../../evil", "h/good"]:
        b3.put_object(Bucket=bucket, Key=key, Body=b"x")
    dst = tmp_path / "in" / "dst"
    code, out, err = run_json("cp", "-r", f"s3://{bucket}/h/", str(dst), *opts(moto_cluster))
    assert code == 0 and out["objects"] == 1 and out["skipped"] == 1
    assert "s3fast: warning: skipped" in err and "unsafe key" in err
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["good"]


@pytest.mark.parametrize("workers,signame,group", [
    ("1", "SIGINT", False), ("2", "SIGINT", False),
    ("2", "SIGTERM", False),  # `timeout`, systemd, Kubernetes: the parent alone
    ("2", "SIGINT", True),  # Ctrl-C on a terminal: the parent and its workers at once
    ("2", "SIGHUP", True),  # the terminal closes: the whole foreground group
])
def test_stop_signal_mid_tree_aborts_the_multipart_upload(fault_cluster: Any, tmp_path: Path, workers: str,
                                                          signame: str, group: bool) -> None:
    import os
    import signal
    import subprocess
    import sys

    sig = getattr(signal, signame)
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 10)
    (src / "big.bin").write_bytes(os.urandom(12 << 20))
    # Part 2 never answers: the upload is still open when the interrupt comes.
    fault_cluster.add_rule(Rule(stall(0, 60), method="PUT", path=r"partNumber=2&"))
    p = subprocess.Popen([sys.executable, "-m", "s3fast.cli", "cp", "-r", str(src), f"s3://{bucket}/i/",
                          "--part-size", "5MiB", "--workers", workers, *opts(fault_cluster)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=group)
    try:
        fault_cluster.wait_for_requests(
            lambda recs: any(r.method == "PUT" and "partNumber=1&" in r.target for r in recs), timeout=60)
        if group:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + sig, err
    assert b"Traceback" not in err, err
    left = fault_cluster.list_multipart_uploads(bucket)
    assert left == [], (err, [(r.proxy, r.conn_id, r.method, r.target[:70], r.status, r.outcome)
                              for r in fault_cluster.requests])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(x) for x in (task / "children").read_text().split())
    return found


def test_workers_of_a_killed_parent_stop_and_abort_their_upload(fault_cluster: Any, tmp_path: Path) -> None:
    """kill -9 of the parent alone (an OOM kill, a supervisor's last resort): its workers,
    blocked on the shared queue, stop by themselves and abort the multipart upload they hold."""
    import os
    import select
    import subprocess
    import sys

    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 600)
    (src / "big.bin").write_bytes(os.urandom(12 << 20))
    # Part 2 and one directory's files never answer: the workers' windows fill, the shared
    # queue fills behind them, and the parent is still feeding it when it is killed.
    fault_cluster.add_rule(Rule(stall(0, 60), method="PUT", path=r"partNumber=2&"))
    fault_cluster.add_rule(Rule(stall(0, 60), method="PUT", path=r"/k/d4/"))
    p = subprocess.Popen([sys.executable, "-m", "s3fast.cli", "cp", "-r", str(src), f"s3://{bucket}/k/",
                          "--part-size", "5MiB", "--workers", "2", *opts(fault_cluster)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exits: list[int] = []  # a pidfd per process the parent started: readable once it has ended
    try:
        fault_cluster.wait_for_requests(
            lambda recs: any(r.method == "PUT" and "partNumber=1&" in r.target for r in recs), timeout=60)
        exits = [os.pidfd_open(pid) for pid in _children(p.pid)]
        assert exits, "the parent started no worker process"
        p.kill()
        p.wait()
        poller = select.poll()
        for fd in exits:
            poller.register(fd, select.POLLIN)
        ended: set[int] = set()
        while len(ended) < len(exits):
            events = poller.poll(30_000)  # bounded: a worker that never ends fails the test
            if not events:
                break
            for fd, _ in events:
                ended.add(fd)
                poller.unregister(fd)
        assert len(ended) == len(exits), f"{len(exits) - len(ended)} workers outlived their killed parent"
        assert fault_cluster.list_multipart_uploads(bucket) == []
    finally:
        for fd in exits:
            try:
                signal_pidfd(fd)
            finally:
                os.close(fd)
        if p.poll() is None:
            p.kill()
            p.wait()


def signal_pidfd(fd: int) -> None:
    import signal

    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_server_keys_are_shown_printable(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """A key holding ESC (a terminal's recolour/retitle sequences) is escaped in every text
    line (ls, the dry-run plan, a failure line), and kept exact in --json."""
    key = "e/\x1b]0;owned\x07\x1b[31mred"
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key=key, Body=b"x")
    o = opts(moto_cluster)
    for args in (("ls", f"s3://{bucket}/e/"), ("ls", "-r", f"s3://{bucket}/"),
                 ("cp", "-r", "--dryrun", f"s3://{bucket}/e/", str(tmp_path / "d")),
                 ("rm", "-r", "--dryrun", f"s3://{bucket}/e/")):
        p = cli(*args, *o)
        assert p.returncode == 0, (args, p.stderr)
        assert b"\x1b" not in p.stdout + p.stderr and b"\x07" not in p.stdout, args
        assert b"\\x1b[31mred" in p.stdout, (args, p.stdout)
    assert not (tmp_path / "d").exists()  # --dryrun wrote nothing
    listed = [json.loads(x) for x in cli("ls", "-r", "--json", f"s3://{bucket}/e/", *o).stdout.splitlines()]
    assert [x["key"] for x in listed] == [key]
    # A failure line quotes the key too: a directory stands where the object's file would go.
    (tmp_path / "f" / key.split("/", 1)[1]).mkdir(parents=True)
    p = cli("cp", "-r", f"s3://{bucket}/e/", str(tmp_path / "f"), *o)
    assert p.returncode == 1 and b"s3fast: failed:" in p.stderr, p.stderr
    assert b"\x1b" not in p.stderr and b"Traceback" not in p.stderr


def test_one_object_cp_honours_dryrun_and_no_clobber(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    o = opts(moto_cluster)
    f = tmp_path / "f.txt"
    f.write_bytes(b"new")
    p = cli("cp", "--dryrun", str(f), f"s3://{bucket}/one", *o)
    assert p.returncode == 0 and b"(dryrun) upload:" in p.stdout, p.stderr
    assert cli("ls", f"s3://{bucket}/one", *o).stdout == b""  # nothing uploaded
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="one", Body=b"old")
    code, out, err = run_json("cp", "--no-clobber", str(f), f"s3://{bucket}/one", *o)
    assert code == 0 and out["skipped"] == 1, err
    assert cli("cat", f"s3://{bucket}/one", *o).stdout == b"old"
    p = cli("cp", "-r", "--content-type", "text/plain", str(tmp_path), f"s3://{bucket}/t/", *o)
    assert p.returncode == 2 and b"--content-type" in p.stderr and p.stderr.count(b"\n") == 1, p.stderr


def test_env_ca_bundle_unused_over_plain_http(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """A machine-wide AWS_CA_BUNDLE is not parsed for a plain-HTTP endpoint (nothing reads it
    there, and parsing it is a share of every command's start-up); it must still exist."""
    src = tmp_path / "src"
    files = make_tree(src, 3)
    junk = tmp_path / "not-pem.crt"
    junk.write_bytes(b"not a certificate\n")
    o = opts(moto_cluster)
    p = cli("cp", "-r", str(src), f"s3://{bucket}/ca/", *o, env={"AWS_CA_BUNDLE": str(junk)})
    assert p.returncode == 0, p.stderr.decode()
    code, down, err = run_json("cp", "-r", f"s3://{bucket}/ca/", str(tmp_path / "dst"), *o)
    assert code == 0 and read_tree(tmp_path / "dst") == files, err
    p = cli("cp", "-r", str(src), f"s3://{bucket}/ca/", *o, env={"AWS_CA_BUNDLE": str(tmp_path / "missing.pem")})
    assert p.returncode == 2 and b"AWS_CA_BUNDLE: no such file" in p.stderr


@pytest.mark.parametrize("dst", [".", "./", "sub/..", "sub/../"])
def test_download_into_the_working_directory(moto_cluster: Any, bucket: str, tmp_path: Path, dst: str) -> None:
    """``cp -r s3://b/p/ .`` (the commonest download) writes the keys under the working
    directory: a relative root the keys' paths are checked against must not make every key
    look as if it escaped."""
    import os
    import subprocess
    import sys

    src = tmp_path / "src"
    files = make_tree(src, 12)
    o = opts(moto_cluster)
    assert cli("cp", "-r", str(src), f"s3://{bucket}/dot/", *o).returncode == 0
    here = tmp_path / "here"
    (here / "sub").mkdir(parents=True)
    # The worktree's package, whatever the working directory is.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for args in (("cp", "-r", f"s3://{bucket}/dot/", dst), ("sync", f"s3://{bucket}/dot/", dst)):
        p = subprocess.run([sys.executable, "-m", "s3fast.cli", *args, *o, "--json"], cwd=here, env=env,
                           capture_output=True, timeout=120, check=False)
        assert p.returncode == 0, p.stderr
        assert b"unsafe key" not in p.stderr, p.stderr
        summary = json.loads(p.stdout.decode().strip().splitlines()[-1])
        # cp: every object downloaded; the sync after it: every object unchanged
        assert (summary["objects"], summary["skipped"]) == ((12, 0) if args[0] == "cp" else (0, 12)), summary
        assert read_tree(here) == files



def test_tree_download_onto_a_file_is_a_usage_error(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """Many objects into a path that is a file: one usage line (2) before anything is sent,
    not one failure per object."""
    moto_cluster.boto3_client().put_object(Bucket=bucket, Key="onto/k", Body=b"x")
    target = tmp_path / "file"
    target.write_bytes(b"mine")
    for args in (("cp", "-r", f"s3://{bucket}/onto/", str(target)), ("sync", f"s3://{bucket}/onto/", str(target)),
                 ("cp", f"s3://{bucket}/onto/*", str(target)), ("mv", "-r", f"s3://{bucket}/onto/", str(target))):
        p = cli(*args, *opts(moto_cluster))
        assert p.returncode == 2 and p.stderr.count(b"\n") == 1 and b"not a directory" in p.stderr, (args, p.stderr)
    assert target.read_bytes() == b"mine"


def test_sync_compare_options_conflict_is_a_usage_error(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """--size-only and --checksum ask for two different comparisons, --follow-symlinks and
    --no-follow-symlinks two policies: refused (2), nothing sent."""
    (tmp_path / "f").write_bytes(b"x")
    p = cli("sync", "--size-only", "--checksum", str(tmp_path), f"s3://{bucket}/conflict/", *opts(moto_cluster))
    assert p.returncode == 2, p.stderr
    assert b"--size-only" in p.stderr and p.stderr.count(b"\n") == 1 and b"Traceback" not in p.stderr
    for command in ("cp", "sync", "mv"):  # and the two symlink policies
        p = cli(command, *(["-r"] if command != "sync" else []), "--follow-symlinks", "--no-follow-symlinks",
                str(tmp_path), f"s3://{bucket}/conflict/", *opts(moto_cluster))
        assert p.returncode == 2 and b"follow-symlinks" in p.stderr and p.stderr.count(b"\n") == 1, p.stderr
    assert cli("ls", "-r", f"s3://{bucket}/conflict/", *opts(moto_cluster)).stdout == b""


def _on_a_terminal(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    """``s3fast ARGS`` with stderr on a pseudo-terminal (the bar is drawn only there):
    the exit status and what the terminal received."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "s3fast.cli", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        seen = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, seen.decode(errors="replace")


def test_terminal_bar_shows_total_percent_rate_and_eta(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """On a terminal, one object's bar as a tree's: bytes of the total, percent, rate and
    ETA, redrawn in place (the transfers are slowed by --max-gbps so the bar is drawn)."""
    import os
    import re

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    o = [*opts(moto_cluster), "--max-gbps", "0.04"]
    code, screen = _on_a_terminal("cp", str(big), f"s3://{bucket}/bar/big.bin", *o)
    assert code == 0, screen
    frames = [f for f in screen.split("\r\x1b[K") if "MB/s" in f and " / " in f]
    assert frames, screen
    assert any(re.search(r"MiB / 12\.0 MiB +\d+\.\d%.*MB/s.*ETA +\d+ s", f) for f in frames), frames
    # A download's size comes with its first answer: the bar still shows it from the start.
    code, screen = _on_a_terminal("cp", f"s3://{bucket}/bar/big.bin", str(tmp_path / "back.bin"), *o)
    assert code == 0, screen
    frames = [f for f in screen.split("\r\x1b[K") if "MB/s" in f]
    assert frames and all(" / 12.0 MiB" in f for f in frames), frames
    assert any(re.search(r"MiB / 12\.0 MiB +\d+\.\d%.*MB/s.*ETA +\d+ s", f) for f in frames), frames
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    (tmp_path / "back.bin").unlink()
    code, screen = _on_a_terminal("cp", "-r", str(tmp_path), f"s3://{bucket}/bar2/", *o)
    assert code == 0, screen
    frames = [f for f in screen.split("\r\x1b[K") if "objects" in f]
    assert any(re.search(r"cp: 0/1 objects .*\d+\.\d%.*MB/s.*ETA +\d+ s", f) for f in frames), frames
