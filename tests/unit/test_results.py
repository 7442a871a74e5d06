"""The result records stay frozen dataclasses with their signatures and defaults while
``quick_init`` fills them in one step (they are made for every object transferred)."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

import s3fast
from s3fast._results import Checksum, ObjectHead, PartEvent, TransferResult, quick_init
from s3fast._url import S3Url


@pytest.mark.parametrize("cls", [Checksum, ObjectHead, PartEvent, TransferResult, S3Url])
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


# -- typed checksums (issue 14, item 7) ---------------------------------------------------------


def test_checksum_is_a_frozen_record_used_by_heads_and_results() -> None:
    c = s3fast.Checksum("crc32c", "AAAAAA==-2", "COMPOSITE")
    assert (c.algorithm, c.value, c.type) == ("crc32c", "AAAAAA==-2", "COMPOSITE")
    assert s3fast.Checksum("crc64nvme", "x").type == "FULL_OBJECT"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.value = "y"  # type: ignore[misc]
    hints = {f.name: f.type for f in dataclasses.fields(ObjectHead)} | {
        f.name: f.type for f in dataclasses.fields(TransferResult)}
    assert hints["checksum"] == "Checksum | None"
    headers = {"etag": '"e-2"', "x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-amz-checksum-type": "FULL_OBJECT"}
    head = ObjectHead.from_headers("b", "k", 10, headers)
    assert head.checksum == s3fast.Checksum("crc64nvme", "AAAAAAAAAAA=", "FULL_OBJECT")
    r = TransferResult("download", "b", "k", 1, 0.5, 1, None, head.checksum, True, False)
    assert (r.checksum_algorithm, r.checksum_summary) == ("crc64nvme", "crc64nvme verified")


#: The public surface, spelled out: a name added to or dropped from ``s3fast.__all__`` must be
#: a decision made here too (httpx's test_exported_members does the same).
EXPORTS = {
    "Client", "run", "tune_process",
    "TransferResult", "Checksum", "ObjectHead", "ObjectInfo", "PartEvent",
    "TransferConfig", "Timeouts", "RetryConfig", "DataPathConfig", "HedgeConfig", "TunerConfig", "EndpointConfig",
    "parse_size", "KiB", "MiB", "GiB", "MIN_PART_SIZE", "MAX_PART_SIZE", "MAX_PARTS", "MAX_OBJECT_SIZE",
    "S3FastError", "ConfigError", "CredentialsError", "LocalIOError", "TransferError", "ChecksumMismatch",
    "S3Error", "NoSuchBucket", "NoSuchKey", "AccessDenied", "PreconditionFailed", "NetworkError",
    "RequestTimeout",
    "IMPLEMENTATION", "__version__",
}


def test_export_list() -> None:
    assert len(s3fast.__all__) == len(set(s3fast.__all__))
    assert set(s3fast.__all__) == EXPORTS
    for name in s3fast.__all__:
        value = getattr(s3fast, name)
        module = getattr(value, "__module__", None)
        if isinstance(value, type):
            # public classes come from s3fast's own private modules (or s3fast.config)
            assert module is not None and module.startswith("s3fast."), (name, module)
