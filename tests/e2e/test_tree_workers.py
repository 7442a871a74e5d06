"""--workers N: the same results as one worker, failures still named, shares divided."""
from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import s3fast
from s3fast.tree import Entry, TreeResult
from s3fast.tree._ops import DEFAULT_WINDOW, source_place
from s3fast.tree._workers import MAX_DEFAULT_WORKERS, SHARD_ABOVE, available_cpus, default_workers, share
from support.faultrules import Rule, respond
from test_cli_tree import opts, run_json
from test_tree_e2e import make_tree, read_tree


def test_share_divides_target_cap_and_memory() -> None:
    cfg = s3fast.TransferConfig(target_gbps=10.0, max_gbps=4.0, memory_limit=512 * s3fast.MiB)
    part = share(cfg, 4)
    assert (part.target_gbps, part.max_gbps, part.memory_limit) == (2.5, 1.0, 128 * s3fast.MiB)
    assert share(s3fast.TransferConfig(max_gbps=None), 2).max_gbps is None


def test_work_items_cross_processes() -> None:
    items = [Entry("a/b", 3, 1.5, "/x/a/b", '"e"'), TreeResult("upload", "s", "d", 3, "failed", "r", "boom"),
             source_place("s3://b/logs/*.gz")]
    assert [pickle.loads(pickle.dumps(i)) for i in items] == items


def test_two_workers_same_result_as_one(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 90)
    o = opts(moto_cluster)
    code, up, err = run_json("cp", "-r", str(src), f"s3://{bucket}/w/", "--workers", "2", *o)
    assert code == 0 and up["objects"] == 90 and up["bytes"] == sum(map(len, files.values())), err
    code, down, err = run_json("cp", "-r", f"s3://{bucket}/w/", str(tmp_path / "dst"), "--workers", "2", *o)
    assert code == 0 and down["objects"] == 90, err
    assert read_tree(tmp_path / "dst") == files
    (src / "d4" / "s1" / "f4.bin").write_bytes(b"now different and longer")
    code, sync, err = run_json("sync", str(src), f"s3://{bucket}/w/", "--workers", "2", "--checksum", *o)
    assert code == 0 and sync["objects"] == 1 and sync["skipped"] == 89, err
    assert "Traceback" not in err


def test_failures_are_named_through_workers(fault_cluster: Any, tmp_path: Path) -> None:
    bucket = fault_cluster.moto.make_bucket()
    src = tmp_path / "src"
    make_tree(src, 20)
    fault_cluster.add_rule(Rule(respond(403, "AccessDenied", "nope"), method="PUT", path=r"/f(5|11)\.(txt|bin)"))
    code, out, err = run_json("cp", "-r", str(src), f"s3://{bucket}/x/", "--workers", "2", *opts(fault_cluster))
    assert code == 1
    assert sorted(f["key"].rsplit("/", 1)[-1] for f in out["failed"]) == ["f11.txt", "f5.txt"]
    assert out["objects"] == 18


def test_workers_option_is_validated() -> None:
    from e2e_helpers import cli

    p = cli("cp", "-r", ".", "s3://b/x/", "--workers", "0")
    assert p.returncode == 2 and b"--workers" in p.stderr


def test_default_workers_is_one_per_cpu_capped() -> None:
    assert [default_workers(n) for n in (0, 1, 2, 3, 8, 9, 64)] == [1, 1, 1, 2, 7, 8, 8] and MAX_DEFAULT_WORKERS == 8
    assert available_cpus() >= 1


def test_workers_are_started_only_for_a_tree_larger_than_the_threshold() -> None:
    from s3fast.tree._ops import _decide_workers

    async def items(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def decide(n: int, workers: int = 4) -> tuple[int, list[int]]:
        chosen, stream = await _decide_workers(workers, 3, items(n))
        return chosen, [i async for i in stream]

    assert asyncio.run(decide(3)) == (1, [0, 1, 2])  # the whole listing fit: stay in process
    assert asyncio.run(decide(4)) == (4, [0, 1, 2, 3])  # one more: shard, nothing lost
    assert asyncio.run(decide(500)) == (4, list(range(500)))
    assert asyncio.run(decide(500, workers=1)) == (1, list(range(500)))


def test_workers_default_is_shown_in_help() -> None:
    from e2e_helpers import cli

    text = " ".join(cli("cp", "--help").stdout.decode().split())
    n = default_workers(available_cpus())
    assert f"(default: one per CPU this process may use but one, at most {MAX_DEFAULT_WORKERS}: {n} here;" in text
    assert " ".join(cli("sync", "--help").stdout.decode().split()).count(f"{n} here") == 1


def test_default_shards_a_big_tree_and_keeps_a_small_one_in_process(moto_cluster: Any, bucket: str,
                                                                    tmp_path: Path) -> None:
    """No --workers: a tree larger than SHARD_ABOVE goes to one process per CPU but one, a
    small one stays in this process (the summary says how many processes the objects went
    to). Where the default is one process (two CPUs), a big tree proves nothing more than a
    window's worth, so only that many are made."""
    big, small = tmp_path / "big", tmp_path / "small"
    files = make_tree(big, (SHARD_ABOVE if default_workers(available_cpus()) > 1 else DEFAULT_WINDOW) + 2)
    make_tree(small, 5)
    o = opts(moto_cluster)
    code, out, err = run_json("cp", "-r", str(big), f"s3://{bucket}/big/", *o)
    assert code == 0, err
    assert out["objects"] == len(files) and out["workers"] == default_workers(available_cpus())
    code, out, err = run_json("cp", "-r", str(small), f"s3://{bucket}/small/", *o)
    assert code == 0, err
    assert out["objects"] == 5 and out["workers"] == 1
    code, out, err = run_json("cp", "-r", f"s3://{bucket}/big/", str(tmp_path / "back"), *o)
    assert code == 0 and read_tree(tmp_path / "back") == files


def test_a_sync_with_nothing_to_move_says_no_worker_ran(moto_cluster: Any, bucket: str, tmp_path: Path) -> None:
    """``sync --workers 2`` of an unchanged tree answers every object in this process and
    starts no worker: its summary says the objects went to 1 process, not 2. A sync that
    moves objects says 2."""
    src = tmp_path / "src"
    make_tree(src, 6)
    o = opts(moto_cluster)
    code, out, err = run_json("sync", str(src), f"s3://{bucket}/w/", "--workers", "2", *o)
    assert code == 0 and out["objects"] == 6 and out["workers"] == 2, (out, err)
    code, out, err = run_json("sync", str(src), f"s3://{bucket}/w/", "--workers", "2", *o)
    assert code == 0 and out["objects"] == 0 and out["skipped"] == 6, (out, err)
    assert out["workers"] == 1
