"""Option values are checked where they enter: finite, positive, within documented ranges,
so a typo is a ConfigError naming the option, not an overflow deep inside."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

import s3fast
from s3fast._config import MAX_CONCURRENCY, MAX_GBPS
from s3fast._errors import ConfigError
from s3fast._units import MAX_SIZE, parse_size


@pytest.mark.parametrize("text,expected", [
    ("8MiB", 8 * 1024 * 1024), ("1.5KiB", 1536), ("0", 0), ("5GB", 5 * 10**9), ("007", 7),
    ("0.5", 0), (" 64 kib ", 65536), (str(MAX_SIZE), MAX_SIZE), (4096, 4096),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,message", [
    ("1" * 310, "too large"), (str(MAX_SIZE + 1), "too large"), ("9" * 25 + "TiB", "too large"),
    ("-5", "negative"), (-5, "negative"), ("abc", "not a size"), ("5 parsecs", "not a size"),
    ("nan", "not a size"), ("inf", "not a size"), (True, "not a size"), (1.5, "not a size"),
])
def test_parse_size_refuses(text: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_size(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs,message", [
    ({"target_gbps": float("inf")}, "target_gbps"),
    ({"target_gbps": float("nan")}, "target_gbps"),
    ({"target_gbps": 1e308}, "target_gbps"),
    ({"max_gbps": MAX_GBPS * 2}, "max_gbps"),
    ({"max_gbps": 0}, "max_gbps"),
    ({"max_gbps": -1.0}, "max_gbps"),
    ({"target_gbps": True}, "target_gbps"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": MAX_CONCURRENCY + 1}, "max_concurrency"),
    ({"max_concurrency": 2.5}, "max_concurrency"),
    ({"part_size": "8MiB"}, "part_size"),
    ({"part_size": 10**400}, "part_size"),
    ({"memory_limit": 10**30}, "memory_limit"),
    ({"multipart_threshold": 0}, "multipart_threshold"),
    ({"io_chunk_size": 1024}, "io_chunk_size"),
    ({"expert": None}, "expert"),
    ({"timeouts": 5}, "timeouts"),
])
def test_transfer_config_ranges(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        s3fast.TransferConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"connect": float("inf")}, {"idle": float("nan")}, {"first_byte": 1e308}, {"deadline": -1},
    {"low_speed_seconds": 0}, {"low_speed_bytes_per_s": float("nan")}, {"low_speed_bytes_per_s": -1},
])
def test_timeouts_ranges(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="timeouts"):
        s3fast.Timeouts(**kwargs)


def test_documented_upper_ends_are_accepted() -> None:
    cfg = s3fast.TransferConfig(target_gbps=MAX_GBPS, max_gbps=MAX_GBPS, max_concurrency=MAX_CONCURRENCY)
    assert cfg.target_gbps == MAX_GBPS
    assert s3fast.Timeouts(deadline=86400.0, low_speed_bytes_per_s=0).deadline == 86400.0


# -- one home for the public configuration (issue 14, item 5) -------------------------------------

CONFIG_CLASSES = ("TransferConfig", "Timeouts", "RetryConfig", "DataPathConfig", "HedgeConfig", "TunerConfig",
                  "EndpointConfig")


@pytest.mark.parametrize("name", CONFIG_CLASSES)
def test_every_public_config_class_lives_in_s3fast_config_frozen_with_defaults(name: str) -> None:
    import s3fast.config

    cls = getattr(s3fast.config, name)
    assert cls.__module__.startswith("s3fast.config."), cls.__module__
    assert cls.__dataclass_params__.frozen
    cls()  # every option has a default
    for where in (s3fast, s3fast.tuning, s3fast.net):
        if hasattr(where, name):
            assert getattr(where, name) is cls  # re-exported, never a second definition


def test_config_imports_nothing_above_it() -> None:
    """Low layers import the config, so the config may import only s3fast's errors and units."""
    import ast
    import pathlib

    import s3fast.config

    allowed = {"_errors", "_units"}
    for path in pathlib.Path(s3fast.config.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.level == 1:
                    continue  # a sibling inside s3fast/config
                assert node.level == 2 and node.module in allowed, f"{path.name}: from {'.' * node.level}{node.module}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.startswith("s3fast") for n in names), f"{path.name} imports {names}"


def test_old_expert_keywords_still_work_and_land_in_expert() -> None:
    from s3fast.config import DataPathConfig, HedgeConfig, TunerConfig

    tuner = TunerConfig(window_seconds=0.5)
    cfg = s3fast.TransferConfig(splice=False, io_chunk_size=128 * 1024, write_thread=True, batch_small_files=False,
                                checksum_trailer=False, hedge=HedgeConfig(enabled=False), tuner=tuner)
    assert cfg.expert == DataPathConfig(io_chunk_size=128 * 1024, write_thread=True, batch_small_files=False,
                                        splice=False, checksum_trailer=False, hedge=HedgeConfig(enabled=False),
                                        tuner=tuner)
    # replace() keeps what expert held, and an old keyword there changes only its own field
    again = cfg.replace(part_size=16 * s3fast.MiB, splice=True)
    assert again.expert == dataclasses.replace(cfg.expert, splice=True)
    assert s3fast.TransferConfig(tuner=None).expert == DataPathConfig()  # None meant "the defaults"
    with pytest.raises(ConfigError, match="io_chunk_size"):
        s3fast.TransferConfig(io_chunk_size=1024)
    with pytest.raises(ConfigError, match="expert"):
        s3fast.TransferConfig(expert={"splice": False})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["io_chunk_size", "write_thread", "batch_small_files", "splice",
                                  "checksum_trailer", "hedge", "tuner"])
def test_reading_an_old_attribute_names_its_new_place(name: str) -> None:
    cfg = s3fast.TransferConfig()
    with pytest.raises(AttributeError, match=rf"config\.expert\.{name}"):
        getattr(cfg, name)
    assert not any(f.name == name for f in dataclasses.fields(cfg))


@pytest.mark.parametrize("name", ["target_gbps", "max_gbps", "max_concurrency"])
def test_tuner_config_refuses_the_fields_transfer_config_owns(name: str) -> None:
    from s3fast.config import TunerConfig

    with pytest.raises(ConfigError, match=rf"TunerConfig\({name}=\.\.\.\) is gone: .*TransferConfig\({name}="):
        TunerConfig(**{name: 5})
    with pytest.raises(AttributeError, match="TransferConfig"):
        getattr(TunerConfig(), name)


def _client_start(config: s3fast.TransferConfig, **kwargs: object) -> tuple[int, object]:
    async def go() -> tuple[int, object]:
        async with s3fast.Client(endpoint_url="http://127.0.0.1:9", anonymous=True, config=config,
                                 **kwargs) as client:  # type: ignore[arg-type]
            snap = client.snapshot()
            return client.limiter.limit, (snap.target_gbps, snap.max_gbps, client.config.expert.endpoint)
    return asyncio.run(go())


def test_starting_concurrency_is_the_same_with_a_tuner_config() -> None:
    from s3fast.config import TunerConfig

    base = s3fast.TransferConfig(target_gbps=10)
    start, _ = _client_start(base)
    with_tuner, _ = _client_start(base.replace(tuner=TunerConfig(window_seconds=0.5, ramp_factor=2.0)))
    assert start == with_tuner == 8  # the documented max_initial_concurrency, not ceil(10 / 0.4) = 25


def test_the_tuner_aims_at_transfer_config_values() -> None:
    _, (target, cap, _) = _client_start(s3fast.TransferConfig(target_gbps=3.0, max_gbps=2.0))
    assert (target, cap) == (3.0, 2.0)


def test_client_endpoint_config_lands_in_expert_and_is_given_once() -> None:
    from s3fast.config import DataPathConfig, EndpointConfig

    table = EndpointConfig(ttl=60.0)
    _, (_, _, endpoint) = _client_start(s3fast.TransferConfig(), endpoint_config=table)
    assert endpoint == table
    other = s3fast.TransferConfig(expert=DataPathConfig(endpoint=EndpointConfig(ttl=30.0)))
    with pytest.raises(ConfigError, match="config.expert.endpoint"):
        _client_start(other, endpoint_config=table)
