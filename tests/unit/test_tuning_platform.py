"""default_target_gbps (DMI check before any awscrt call), memory cap, and the public surface."""
from __future__ import annotations

from pathlib import Path

import awscrt.s3
import pytest

import s3fast.tuning as tuning
from s3fast.tuning import DEFAULT_TARGET_GBPS, default_target_gbps, is_ec2, memory_cap_concurrency


class Recommender:
    """Stands in for awscrt.s3.get_recommended_throughput_target_gbps and records calls."""

    def __init__(self, result: float | None = None, error: Exception | None = None) -> None:
        self.calls = 0
        self.result = result
        self.error = error

    def __call__(self) -> float | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.result


def dmi(tmp_path: Path, **files: str) -> str:
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
    return str(tmp_path)


@pytest.mark.parametrize(
    "files",
    [
        {},  # no DMI at all (containers, macOS)
        {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"},
        {"sys_vendor": "Dell Inc.", "board_asset_tag": "ABC123", "bios_version": "2.3.1"},
        {"sys_vendor": "Google", "product_name": "Google Compute Engine"},
    ],
)
def test_off_ec2_the_default_is_10_and_awscrt_is_never_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]
) -> None:
    # If it were called (it may query the instance metadata service), this would record it.
    spy = Recommender(error=AssertionError("awscrt must not be asked off EC2"))
    monkeypatch.setattr(awscrt.s3, "get_recommended_throughput_target_gbps", spy)
    directory = dmi(tmp_path, **files)
    assert not is_ec2(directory)
    assert default_target_gbps(directory) == 10.0 == DEFAULT_TARGET_GBPS
    assert spy.calls == 0


@pytest.mark.parametrize(
    "files",
    [
        {"board_asset_tag": "i-0123456789abcdef0"},
        {"sys_vendor": "Amazon EC2", "product_name": "c5n.18xlarge"},
        {"bios_vendor": "Amazon EC2"},
        {"sys_vendor": "Xen", "bios_version": "4.11.amazon"},
        {"product_uuid": "EC2E1916-9099-7CAF-FD21-012345678901"},
    ],
)
def test_on_ec2_the_crt_recommendation_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]
) -> None:
    spy = Recommender(result=100.0)
    monkeypatch.setattr(awscrt.s3, "get_recommended_throughput_target_gbps", spy)
    directory = dmi(tmp_path, **files)
    assert is_ec2(directory)
    assert default_target_gbps(directory) == 100.0
    assert spy.calls == 1


@pytest.mark.parametrize(
    "spy",
    [Recommender(result=None), Recommender(result=0.0), Recommender(result=float("nan")),
     Recommender(error=RuntimeError("IMDS unreachable"))],
)
def test_on_ec2_any_failure_falls_back_to_10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy: Recommender
) -> None:
    monkeypatch.setattr(awscrt.s3, "get_recommended_throughput_target_gbps", spy)
    assert default_target_gbps(dmi(tmp_path, sys_vendor="Amazon EC2")) == 10.0
    assert spy.calls == 1


def test_unreadable_dmi_files_count_as_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "product_uuid").mkdir()  # reading a directory fails like a root-only file
    spy = Recommender(result=50.0)
    monkeypatch.setattr(awscrt.s3, "get_recommended_throughput_target_gbps", spy)
    assert default_target_gbps(str(tmp_path)) == 10.0 and spy.calls == 0


def test_memory_cap_concurrency() -> None:
    MiB = 1 << 20
    assert memory_cap_concurrency(2048 * MiB, 8 * MiB) == 256
    assert memory_cap_concurrency(100 * MiB, 8 * MiB) == 12  # floor: never over the limit
    assert memory_cap_concurrency(100 * MiB, 8 * MiB, buffers_per_request=2) == 6
    assert memory_cap_concurrency(8 * MiB, 8 * MiB) == 1
    with pytest.raises(ValueError, match="cannot hold one request"):
        memory_cap_concurrency(4 * MiB, 8 * MiB)
    for bad in ((0, 1), (1, 0), (-1, 1)):
        with pytest.raises(ValueError):
            memory_cap_concurrency(*bad)
    with pytest.raises(ValueError):
        memory_cap_concurrency(10, 1, buffers_per_request=0)


def test_public_surface_is_explicit() -> None:
    assert sorted(tuning.__all__) == sorted(set(tuning.__all__))
    public = {name for name in vars(tuning) if not name.startswith("_")}
    # Everything public is declared (submodules aside), and everything declared exists;
    # the simulation helpers are declared and loaded on first use.
    modules = {"annotations"}
    assert (public - modules) | set(tuning._SIM) == set(tuning.__all__)
    for name in tuning.__all__:
        assert getattr(tuning, name) is not None
