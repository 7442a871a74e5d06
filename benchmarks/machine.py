"""Facts about the machine a benchmark ran on, including EC2 discovery.

EC2 discovery never guesses its way onto the network: the instance metadata service (IMDSv2:
PUT a token, then GET with it, 1 s timeouts) is asked only when DMI says this is EC2 or when
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` names an explicit endpoint (tests point it at a fake
server on 127.0.0.1), and never when ``AWS_EC2_METADATA_DISABLED`` is true. awscrt's
recommended throughput target is read only when DMI says EC2, because that call may itself
query IMDS. The decision is the pure :func:`imds_plan`; the I/O is separate.
"""
from __future__ import annotations

import http.client
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

DEFAULT_IMDS = "http://169.254.169.254"
_IMDS_PATHS = ("instance-type", "placement/availability-zone", "placement/region")
_DMI = Path("/sys/class/dmi/id")

# Advertised network bandwidth (Gbit/s) of instance types commonly used for S3 throughput
# work; "up to" burst figures are marked as such.
ADVERTISED_GBPS: dict[str, tuple[float, bool]] = {
    "c5n.large": (25, True), "c5n.xlarge": (25, True), "c5n.2xlarge": (25, True),
    "c5n.4xlarge": (25, True), "c5n.9xlarge": (50, False), "c5n.18xlarge": (100, False),
    "c5n.metal": (100, False), "c6gn.16xlarge": (100, False), "c6in.16xlarge": (100, False),
    "c6in.32xlarge": (200, False), "c7gn.16xlarge": (200, False), "c7gn.metal": (200, False),
    "m5dn.24xlarge": (100, False), "m5n.24xlarge": (100, False), "m6in.32xlarge": (200, False),
    "r5n.24xlarge": (100, False), "c6i.32xlarge": (50, False), "c7i.48xlarge": (50, False),
    "m7i.48xlarge": (50, False), "g5.12xlarge": (40, False), "g5.48xlarge": (100, False),
    "p4d.24xlarge": (400, False), "p5.48xlarge": (3200, False), "trn1.32xlarge": (800, False),
    "c5.large": (10, True), "m5.large": (10, True), "c6i.large": (12.5, True),
}


@dataclass(frozen=True)
class ImdsPlan:
    query: bool
    endpoint: str
    reason: str


def imds_plan(env: Mapping[str, str], dmi_is_ec2: bool) -> ImdsPlan:
    """Whether to ask the metadata service, and where (no I/O)."""
    if env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true":
        return ImdsPlan(False, "", "AWS_EC2_METADATA_DISABLED=true")
    explicit = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "").strip()
    if explicit:
        return ImdsPlan(True, explicit.rstrip("/"), "explicit AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if dmi_is_ec2:
        return ImdsPlan(True, DEFAULT_IMDS, "DMI says EC2")
    return ImdsPlan(False, "", "not EC2 according to DMI")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def dmi_is_ec2(read: Callable[[Path], str] = _read) -> bool:
    """True when DMI (or the Xen hypervisor UUID) identifies an EC2 instance."""
    vendor = read(_DMI / "sys_vendor") + " " + read(_DMI / "bios_vendor")
    if "Amazon EC2" in vendor or "Amazon" in read(_DMI / "board_vendor"):
        return True
    if read(_DMI / "board_asset_tag").startswith("i-"):
        return True
    return read(Path("/sys/hypervisor/uuid")).lower().startswith("ec2")


def imds_get(endpoint: str, paths: list[str], *, timeout: float = 1.0) -> dict[str, str]:
    """IMDSv2: one token PUT, then a GET per path. Missing paths are left out."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or 80

    def request(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    status, token = request("PUT", "/latest/api/token", ttl)
    if status != 200 or not token:
        raise OSError(f"IMDS token request answered {status}")
    out = {}
    for path in paths:
        auth = {"X-aws-ec2-metadata-token": token}
        status, body = request("GET", f"/latest/meta-data/{path}", auth)
        if status == 200:
            out[path] = body.strip()
    return out


def ec2_facts(
    env: Mapping[str, str] | None = None,
    *,
    is_ec2: Callable[[], bool] = dmi_is_ec2,
    recommended_gbps: Callable[[], float | None] | None = None,
) -> dict[str, Any]:
    """Instance type, AZ, advertised bandwidth and CRT's recommended target, where knowable."""
    env = os.environ if env is None else env
    on_ec2 = is_ec2()
    plan = imds_plan(env, on_ec2)
    facts: dict[str, Any] = {"dmi_ec2": on_ec2, "imds": plan.reason}
    if plan.query:
        try:
            meta = imds_get(plan.endpoint, list(_IMDS_PATHS))
        except OSError as exc:
            facts["imds_error"] = str(exc)
        else:
            facts["instance_type"] = meta.get("instance-type")
            facts["availability_zone"] = meta.get("placement/availability-zone")
            facts["region"] = meta.get("placement/region")
    itype = facts.get("instance_type")
    if itype in ADVERTISED_GBPS:
        gbps, burst = ADVERTISED_GBPS[itype]
        facts["advertised_gbps"] = gbps
        facts["advertised_gbps_is_burst"] = burst
    if on_ec2:
        getter = recommended_gbps or _crt_recommended_gbps
        facts["awscrt_recommended_gbps"] = getter()
    return facts


def _crt_recommended_gbps() -> float | None:
    from awscrt.s3 import get_recommended_throughput_target_gbps

    return get_recommended_throughput_target_gbps()


def _cpu_model() -> str:
    for line in _read(Path("/proc/cpuinfo")).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    for line in _read(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / (1 << 20), 1)
    return None


def machine_facts(*, with_ec2: bool, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "vcpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }
    if with_ec2:
        facts["ec2"] = ec2_facts(env)
    return facts


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat (idle and iowait count as idle)."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def wait_until_quiet(
    read: Callable[[], tuple[float, float]] = cpu_times,
    sleep: Callable[[float], None] | None = None,
    *,
    busy_below: float = 0.10,
    interval: float = 0.25,
    quiet_intervals: int = 2,
    max_intervals: int = 60,
) -> int:
    """Block until the machine has been nearly idle (all CPUs below ``busy_below`` busy)
    for ``quiet_intervals`` intervals in a row, or ``max_intervals`` have passed (15 s by
    default). Returns the intervals waited.

    Between runs: a run can leave work behind that the kernel does later (writeback,
    online discard of a deleted file's blocks, a peer's exiting threads), and it would be
    charged to whoever runs next. Measured here: every run that followed s5cmd's 2 GiB
    download ran at about half speed, whichever client it was.
    """
    import time

    pause = sleep if sleep is not None else time.sleep
    quiet = 0
    busy0, total0 = read()
    for n in range(1, max_intervals + 1):
        pause(interval)
        busy1, total1 = read()
        span = total1 - total0
        load = (busy1 - busy0) / span if span > 0 else 0.0
        busy0, total0 = busy1, total1
        quiet = quiet + 1 if load < busy_below else 0
        if quiet >= quiet_intervals:
            return n
    return max_intervals


#: Free page reporting (virtio-balloon): the guest hands pages it frees back to the host,
#: and the next first touch of each is a host page fault.
PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")
#: Above the largest buddy order (10 on x86-64): no free block qualifies, nothing is reported.
PAUSED_ORDER = 11


KEEP_HELP = ("leave a VM's free page reporting on (by default it is paused for the session and restored "
             "after: see machine.PageReportingPause)")


class PageReportingPause:
    """Pause the guest's free page reporting for a benchmark session, and restore it after.

    On a VM with free page reporting (Firecracker here: ``virtio_balloon`` with "Free page
    reporting enabled"), every page the guest frees (a deleted file's page cache, a
    process's memory) is soon returned to the host, and touching it again costs a host
    page fault. Writing a downloaded file allocates page cache from those pages: the cost
    then lands in the copy into the page cache (``copy_folio_from_iter_atomic`` took 37%
    of a 1 MiB x 200 HTTPS download to disk in ``perf``) and depends on what the runs
    before freed. Measured here, a 2 GiB plain-HTTP download to a file (``probes/dl.py``,
    3 alternated pairs): 467-986 MB/s at 1.09-1.46 CPU-s/GiB with reporting, 1,372-2,111
    MB/s at 0.51-0.77 without. EC2 instances do not report free pages, so the session
    runs without it: the same for every runner, and closer to the machines users run on.

    ``state`` says what happened (recorded with the machine facts). Without the control
    file (no virtio-balloon reporting, not Linux) or without permission, nothing changes.
    ``path`` and ``order`` are parameters for the tests.
    """

    def __init__(self, path: Path = PAGE_REPORTING_ORDER, order: int = PAUSED_ORDER, *, keep: bool = False) -> None:
        self.path = path
        self.order = order
        self.keep = keep
        self.saved: str | None = None
        self.state = "left on (--keep-page-reporting)" if keep else "not present"

    def __repr__(self) -> str:
        return f"<PageReportingPause {self.path} [{self.state}]>"

    def __enter__(self) -> PageReportingPause:
        if self.keep:
            return self
        try:
            self.saved = self.path.read_text().strip()
        except OSError:
            return self
        if self.saved == str(self.order):
            self.state = f"already paused (order {self.saved})"
            self.saved = None
            return self
        try:
            self.path.write_text(f"{self.order}\n")
        except OSError as exc:
            self.state = f"on (order {self.saved}); not paused: {exc.strerror}"
            self.saved = None
            return self
        self.state = f"paused for the session (order {self.saved} -> {self.order}, restored after)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            try:
                self.path.write_text(f"{self.saved}\n")
            except OSError:
                pass
            self.saved = None
