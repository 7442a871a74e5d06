"""The result records stay frozen dataclasses with their signatures and defaults while
``quick_init`` fills them in one step (they are made for every object transferred)."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from s3fast._results import ObjectHead, PartEvent, TransferResult, quick_init
from s3fast._url import S3Url


@pytest.mark.parametrize("cls", [ObjectHead, PartEvent, TransferResult, S3Url])
def test_signature_is_the_dataclass_one(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default
        elif f.default_factory is dataclasses.MISSING:
            assert p.default is inspect.Parameter.empty


def test_defaults_factories_freezing_and_equality() -> None:
    a = ObjectHead("b", "k", 3, "e")
    b = ObjectHead("b", "k", 3, "e")
    assert a == b and hash(S3Url("b", "k")) == hash(S3Url("b", "k"))
    assert a.version_id is None and a.metadata == {}
    assert a.metadata is not b.metadata  # a fresh dict each, as default_factory gives
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 4  # type: ignore[misc]
    assert dataclasses.replace(a, size=4).size == 4
    assert repr(a).startswith("ObjectHead(bucket='b', key='k', size=3")
    r = TransferResult("download", "b", "k", 1, 0.5, 1, None, None, False, False, retries=2)
    assert (r.requests, r.retries, r.upload_id) == (0, 2, None)


def test_slots_classes_are_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        x: int

    with pytest.raises(Exception):
        quick_init(Slotted)(1)
