"""A many-object command's client starts with as many requests in flight as its memory limit
allows (each request moves one object; a ramp from a few would spend the run queued), each
request counted at what a small object holds rather than a whole part."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

import s3fast
from s3fast.cli._tree import TREE_REQUEST_MEMORY, tree_config
from s3fast.tuning import memory_cap_concurrency


def _limit(config: s3fast.TransferConfig) -> int:
    client = s3fast.Client(endpoint_url="http://127.0.0.1:9", aws_access_key_id="k", aws_secret_access_key="s",
                           config=config)
    try:
        return int(client.limiter.limit)
    finally:
        asyncio.run(client.aclose())


def test_tree_commands_start_at_the_memory_cap() -> None:
    base = s3fast.TransferConfig()
    cap = memory_cap_concurrency(base.memory_limit, base.part_size)
    assert _limit(base) < cap  # one object: the tuner ramps from a few requests
    # Requests counted at a small object's size: the tuner's whole ceiling, not memory / part.
    ceiling = base.expert.tuner.concurrency_ceiling
    assert memory_cap_concurrency(base.memory_limit, TREE_REQUEST_MEMORY) >= ceiling > cap
    assert _limit(tree_config(base)) == ceiling
    small = dataclasses.replace(base, memory_limit=4 * base.part_size)
    # the memory limit still bounds the start, in requests of TREE_REQUEST_MEMORY
    assert _limit(tree_config(small)) == 4 * base.part_size // TREE_REQUEST_MEMORY


def test_one_object_still_counts_a_whole_part() -> None:
    base = s3fast.TransferConfig()
    fixed = dataclasses.replace(base, max_concurrency=200)
    assert _limit(fixed) == memory_cap_concurrency(base.memory_limit, base.part_size)
    assert _limit(tree_config(fixed)) == 200


def test_a_start_chosen_by_the_caller_is_kept() -> None:
    base = s3fast.TransferConfig()
    mine = dataclasses.replace(base, expert=dataclasses.replace(
        base.expert, request_memory=4 * TREE_REQUEST_MEMORY,
        tuner=dataclasses.replace(base.expert.tuner, initial_concurrency=4)))
    assert tree_config(mine) == mine
    assert _limit(mine) == 4


def test_request_memory_is_checked() -> None:
    with pytest.raises(s3fast.ConfigError, match="request_memory"):
        dataclasses.replace(s3fast.TransferConfig().expert, request_memory=0)
