"""``s3fast mpu ls`` / ``mpu abort`` against moto, and their pure parts (ages, the page parse)."""
from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

import s3fast
from e2e_helpers import cli, run
from s3fast._errors import NetworkError
from s3fast.cli._mpu import _line, age_of, format_age, parse_age, should_abort
from s3fast.transfer._mpu_list import parse_uploads


def opts(cluster: Any) -> list[str]:
    return ["--endpoint-url", cluster.endpoint_url, "--resolve", f"{cluster.host}:{','.join(cluster.ips)}"]


def start_uploads(cluster: Any, bucket: str, keys: list[str]) -> dict[str, str]:
    b3 = cluster.boto3_client()
    return {k: b3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in keys}


def open_ids(cluster: Any, bucket: str) -> set[str]:
    return {u["UploadId"] for u in cluster.list_multipart_uploads(bucket)}


# -- pure -----------------------------------------------------------------------------------------
def test_parse_age_units_sums_and_refusals() -> None:
    assert parse_age("90s") == 90 and parse_age("30m") == 1800 and parse_age("12h") == 43200
    assert parse_age("7d") == 7 * 86400 and parse_age("2w") == 14 * 86400 and parse_age("1d12h") == 129600
    assert parse_age("0s") == 0
    for bad in ("", "7", "d", "7x", "-1d", "1.5d", "7d ago", "٣d", "1d-2h"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_age(bad)


def test_age_and_abort_decision_with_a_fixed_clock() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert age_of("2023-11-07T22:13:20.000Z", now) == 7 * 86400
    assert age_of("garbage", now) is None
    assert should_abort(7 * 86400 + 1, 7 * 86400) and not should_abort(7 * 86400, 7 * 86400)
    assert not should_abort(None, 0)  # unknown age: never aborted by age
    assert [format_age(s) for s in (None, 5, 75, 3725, 3 * 86400 + 4 * 3600)] == ["?", "5s", "1m15s", "1h02m", "3d04h"]


def test_parse_uploads_page_markers_and_refusals() -> None:
    page = parse_uploads(
        b'<?xml version="1.0"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Bucket>b</Bucket><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        b"<NextKeyMarker>a%2Bb+c</NextKeyMarker><NextUploadIdMarker>U2</NextUploadIdMarker>"
        b"<Upload><Key>a%2Bb+c</Key><UploadId>U2</UploadId><Initiated>2024-05-01T12:00:00.000Z</Initiated></Upload>"
        b"</ListMultipartUploadsResult>")
    assert [(u.key, u.upload_id, u.initiated) for u in page.uploads] == [("a+b c", "U2", "2024-05-01T12:00:00.000Z")]
    assert (page.next_key_marker, page.next_upload_id_marker) == ("a+b c", "U2")
    last = parse_uploads(b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
    assert last.uploads == [] and last.next_key_marker is None
    for bad in (b"<Error><Code>X</Code></Error>", b"not xml",
                b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>",
                b'<!DOCTYPE x [<!ENTITY a "b">]><ListMultipartUploadsResult/>'):
        with pytest.raises(NetworkError):
            parse_uploads(bad)


def test_keys_and_ids_from_the_server_are_shown_printable() -> None:
    line = _line("p/\x1b[2Jevil\u202e", "id\x07", "\x1b]0;t\x07", None)
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line and "evil" in line


# -- pagination, against a page server of our own (moto answers one page, whatever is asked) ------
async def page_server(uploads: list[tuple[str, str]], per_page: int, seen: list[str],
                      stuck: bool = False) -> asyncio.Server:
    """ListMultipartUploads over ``uploads`` (sorted), ``per_page`` a page, keys URL-encoded,
    markers honoured; ``stuck``: every page names the same next marker (a broken server)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                seen.append(target)
                q = parse_qs(urlsplit(target).query, keep_blank_values=True)
                marker = (q.get("key-marker", [""])[0], q.get("upload-id-marker", [""])[0])
                start = 0 if not marker[0] or stuck else uploads.index(marker) + 1
                chunk = uploads[start:start + per_page]
                more = start + per_page < len(uploads)
                xml = ["<ListMultipartUploadsResult><EncodingType>url</EncodingType>",
                       f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>"]
                if more:
                    xml.append(f"<NextKeyMarker>{quote(chunk[-1][0])}</NextKeyMarker>"
                               f"<NextUploadIdMarker>{chunk[-1][1]}</NextUploadIdMarker>")
                xml += [f"<Upload><Key>{quote(k)}</Key><UploadId>{u}</UploadId>"
                        f"<Initiated>2024-05-01T12:00:00.000Z</Initiated></Upload>" for k, u in chunk]
                body = ("".join(xml) + "</ListMultipartUploadsResult>").encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_list_uploads_follows_markers_page_by_page() -> None:
    uploads = sorted([(f"p/k{i:02d}", f"U{i}") for i in range(7)] + [("p/k03", "U3b"), ("p/a b+c", "S")])
    seen: list[str] = []

    async def go() -> list[Any]:
        srv = await page_server(uploads, 2, seen)
        try:
            port = srv.sockets[0].getsockname()[1]
            async with s3fast.Client(endpoint_url=f"http://127.0.0.1:{port}") as c:
                return [u async for u in c.list_uploads("b", "p/")]
        finally:
            srv.close()

    got = run(go())
    assert [(u.key, u.upload_id) for u in got] == uploads
    assert len(seen) == 5 and "key-marker=p%2Fk03" in seen[3] and "upload-id-marker=U3b" in seen[3]


def test_a_server_repeating_its_marker_is_an_error_not_a_loop() -> None:
    seen: list[str] = []

    async def go() -> None:
        srv = await page_server([("k1", "U1"), ("k2", "U2"), ("k3", "U3")], 1, seen, stuck=True)
        try:
            port = srv.sockets[0].getsockname()[1]
            async with s3fast.Client(endpoint_url=f"http://127.0.0.1:{port}") as c:
                async for _ in c.list_uploads("b", ""):
                    pass
        finally:
            srv.close()

    with pytest.raises(NetworkError, match="same next marker"):
        run(go())
    assert len(seen) == 2  # the second page named the first page's marker again


# -- against moto ---------------------------------------------------------------------------------
def test_mpu_ls_text_and_json(moto_cluster: Any, bucket: str) -> None:
    ids = start_uploads(moto_cluster, bucket, ["p/a", "p/b/c", "q/d"])
    r = cli("mpu", "ls", f"s3://{bucket}/p/", "--json", *opts(moto_cluster))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert {(x["key"], x["upload_id"]) for x in rows} == {("p/a", ids["p/a"]), ("p/b/c", ids["p/b/c"])}
    assert all(x["age_seconds"] is not None and x["age_seconds"] > -5 and x["initiated"] for x in rows)
    r = cli("mpu", "ls", f"s3://{bucket}", *opts(moto_cluster))
    assert r.returncode == 0 and len(r.stdout.decode().splitlines()) == 3
    assert all(ids[k] in r.stdout.decode() for k in ids)
    r = cli("mpu", "ls", f"s3://{bucket}/none/", *opts(moto_cluster))
    assert r.returncode == 0 and r.stdout == b"" and b"no incomplete uploads" in r.stderr


def test_mpu_abort_one(moto_cluster: Any, bucket: str) -> None:
    ids = start_uploads(moto_cluster, bucket, ["p/a", "p/b"])
    r = cli("mpu", "abort", f"s3://{bucket}/p/a", "--upload-id", ids["p/a"], *opts(moto_cluster))
    assert r.returncode == 0, r.stderr
    assert open_ids(moto_cluster, bucket) == {ids["p/b"]}
    again = cli("mpu", "abort", f"s3://{bucket}/p/a", "--upload-id", ids["p/a"], *opts(moto_cluster))
    assert again.returncode == 1 and b"no such upload" in again.stderr
    assert len(again.stderr.decode().strip().splitlines()) == 1 and b"Traceback" not in again.stderr


def test_mpu_abort_older_than_dryrun_then_real(moto_cluster: Any, bucket: str) -> None:
    # moto reports every upload as initiated on 2010-11-10: 1000 weeks (19 years) keeps
    # them, 52 weeks does not.
    ids = start_uploads(moto_cluster, bucket, ["p/a", "p/b/c", "q/d"])
    assert {u["Initiated"].year for u in moto_cluster.list_multipart_uploads(bucket)} == {2010}
    r = cli("mpu", "abort", f"s3://{bucket}/p/", "--older-than", "1000w", "--json", *opts(moto_cluster))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["aborted"] == [] and out["kept"] == 2 and out["failed"] == []
    r = cli("mpu", "abort", f"s3://{bucket}/p/", "--older-than", "52w", "--dryrun", *opts(moto_cluster))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().count("(dryrun) abort") == 2 and open_ids(moto_cluster, bucket) == set(ids.values())
    r = cli("mpu", "abort", f"s3://{bucket}/p/", "--older-than", "52w", "--json", *opts(moto_cluster))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert sorted(a["key"] for a in out["aborted"]) == ["p/a", "p/b/c"] and out["kept"] == 0
    assert all(a["age_seconds"] > 52 * 7 * 86400 for a in out["aborted"])
    assert open_ids(moto_cluster, bucket) == {ids["q/d"]}


@pytest.mark.parametrize("args, fragment", [
    (["mpu", "abort", "s3://b/p/"], "one of the arguments --upload-id --older-than is required"),
    (["mpu", "abort", "s3://b/p/", "--upload-id", "X", "--older-than", "1d"], "not allowed with"),
    (["mpu", "abort", "s3://b/p/", "--upload-id", "X"], "needs the upload's key"),
    (["mpu", "abort", "s3://b/p/", "--older-than", "7x"], "not an age"),
    (["mpu", "abort", "s3://b/k", "--upload-id", "a\x1bb"], "control characters"),
    (["mpu", "ls", "not-a-url"], "s3://"),
    (["mpu", "list"], "invalid choice"),
])
def test_mpu_bad_input_is_exit_2_one_line(moto_cluster: Any, args: list[str], fragment: str) -> None:
    r = cli(*args, *opts(moto_cluster))
    assert r.returncode == 2, (r.returncode, r.stderr)
    err = r.stderr.decode()
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_mpu_ls_missing_bucket_is_exit_1(moto_cluster: Any) -> None:
    r = cli("mpu", "ls", "s3://s3fast-no-such-bucket-mpu/", *opts(moto_cluster))
    assert r.returncode == 1 and len(r.stderr.decode().strip().splitlines()) == 1
    assert b"Traceback" not in r.stderr
