"""Machine facts and EC2 discovery: IMDSv2 against a fake metadata server on 127.0.0.1."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from benchmarks.fake_imds import FakeImds
from benchmarks.machine import DEFAULT_IMDS, dmi_is_ec2, ec2_facts, imds_plan, machine_facts


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    with FakeImds() as fake:
        yield fake


def test_imds_plan_never_guesses_the_real_endpoint_off_ec2() -> None:
    assert not imds_plan({}, dmi_is_ec2=False).query
    on_ec2 = imds_plan({}, dmi_is_ec2=True)
    assert on_ec2.query and on_ec2.endpoint == DEFAULT_IMDS
    explicit = imds_plan({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/"}, dmi_is_ec2=False)
    assert explicit.query and explicit.endpoint == "http://127.0.0.1:9"
    off = imds_plan({"AWS_EC2_METADATA_DISABLED": "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://x"}, True)
    assert not off.query


def test_dmi_detection_reads_vendor_and_asset_tag() -> None:
    def reader(values: dict[str, str]):  # type: ignore[no-untyped-def]
        return lambda path: values.get(path.name, "")

    assert dmi_is_ec2(reader({"sys_vendor": "Amazon EC2"}))
    assert dmi_is_ec2(reader({"board_asset_tag": "i-0123456789abcdef0"}))
    assert dmi_is_ec2(reader({"uuid": "ec2e1916-9099-7caf-fd21-012345abcdef"}))
    assert not dmi_is_ec2(reader({"sys_vendor": "QEMU", "uuid": "4c4c4544-0000"}))


def test_ec2_facts_from_fake_imds_v2(imds: FakeImds) -> None:
    def must_not_call() -> float:
        raise AssertionError("awscrt's recommendation may query IMDS: only on real EC2")

    facts = ec2_facts({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}, is_ec2=lambda: False,
                      recommended_gbps=must_not_call)
    assert facts["instance_type"] == "c5n.18xlarge" and facts["availability_zone"] == "us-east-1a"
    assert facts["advertised_gbps"] == 100 and facts["advertised_gbps_is_burst"] is False
    assert "awscrt_recommended_gbps" not in facts
    assert imds.requests[0][:2] == ("PUT", "/latest/api/token")
    assert all(r[2] == FakeImds.TOKEN for r in imds.requests if r[0] == "GET")


def test_ec2_facts_on_ec2_ask_awscrt_and_survive_imds_failure(imds: FakeImds) -> None:
    facts = ec2_facts({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}, is_ec2=lambda: True,
                      recommended_gbps=lambda: 100.0)
    assert facts["awscrt_recommended_gbps"] == 100.0 and facts["dmi_ec2"] is True
    imds.instance_type = "unknown.size"
    facts = ec2_facts({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}, is_ec2=lambda: False)
    assert facts["instance_type"] == "unknown.size" and "advertised_gbps" not in facts
    # Nothing listening: the error is recorded, nothing raises.
    dead = ec2_facts({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}, is_ec2=lambda: False)
    assert "imds_error" in dead and "instance_type" not in dead


def test_disabled_metadata_sends_nothing(imds: FakeImds) -> None:
    facts = ec2_facts({"AWS_EC2_METADATA_DISABLED": "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url},
                      is_ec2=lambda: False)
    assert imds.requests == [] and "instance_type" not in facts


def test_machine_facts_basics() -> None:
    facts = machine_facts(with_ec2=False)
    assert facts["vcpus"] and facts["python"].count(".") == 2 and "ec2" not in facts


def test_wait_until_quiet_waits_for_idle_intervals_and_is_bounded() -> None:
    from benchmarks.machine import wait_until_quiet

    def feed(loads: list[float]):  # type: ignore[no-untyped-def]
        # cumulative (busy, total) counters giving these per-interval loads
        state = {"busy": 0.0, "total": 0.0, "i": -1}

        def read() -> tuple[float, float]:
            if state["i"] >= 0:
                state["busy"] += 100 * loads[min(int(state["i"]), len(loads) - 1)]
                state["total"] += 100
            state["i"] += 1
            return state["busy"], state["total"]
        return read

    slept: list[float] = []
    # busy, busy, quiet, busy, quiet, quiet -> done after 6 intervals
    assert wait_until_quiet(feed([0.9, 0.5, 0.05, 0.3, 0.02, 0.01]), slept.append) == 6
    assert slept == [0.25] * 6
    # never quiet: gives up after max_intervals
    assert wait_until_quiet(feed([0.9]), lambda s: None, max_intervals=7) == 7


def test_page_reporting_is_paused_for_the_session_and_restored(tmp_path: Path) -> None:
    from benchmarks.machine import PageReportingPause

    knob = tmp_path / "page_reporting_order"
    knob.write_text("9\n")
    with PageReportingPause(knob, order=11) as pause:
        assert knob.read_text().strip() == "11"
        assert "paused" in pause.state and "9 -> 11" in pause.state
    assert knob.read_text().strip() == "9"
    # Already paused (a crashed session left it so): left as found.
    knob.write_text("11\n")
    with PageReportingPause(knob, order=11) as pause:
        assert pause.state.startswith("already paused")
    assert knob.read_text().strip() == "11"


def test_page_reporting_pause_changes_nothing_it_cannot(tmp_path: Path) -> None:
    from benchmarks.machine import PageReportingPause

    with PageReportingPause(tmp_path / "absent") as pause:
        assert pause.state == "not present"
    # Readable but not writable (even for root): reported, not fatal.
    with PageReportingPause(Path("/proc/version")) as pause:
        assert pause.state.startswith("on (order") and "not paused" in pause.state


def test_page_reporting_is_left_on_when_asked(tmp_path: Path) -> None:
    from benchmarks.machine import PageReportingPause

    knob = tmp_path / "page_reporting_order"
    knob.write_text("9\n")
    with PageReportingPause(knob, order=11, keep=True) as pause:
        assert knob.read_text().strip() == "9" and pause.state.startswith("left on")
    assert knob.read_text().strip() == "9"
