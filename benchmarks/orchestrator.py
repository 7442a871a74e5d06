"""Runs a plan: starts targets, prepares data, runs each runner in its own process, verifies.

The timed region belongs to the runner (or, for executables, is the child's wall time).
Everything else happens here, untimed: generating sources, seeding download objects,
checksumming every downloaded byte (files here, buffers in the child after its clock
stopped), checking what uploads stored, and deleting downloaded files after each run.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ._units import MIB
from .dataset import Dataset, crc64_file, ensure_dataset
from .machine import wait_until_quiet
from .plan import PlannedRun
from .procs import Measured, precompile as _precompile, run_measured
from .results import RunRecord, append_record
from .runners import RunnerSpec, get_runner
from .runners.base import Job, RunnerOutput
from .targets.base import Endpoint, Target

REPO_ROOT = Path(__file__).resolve().parent.parent
BUCKET = "s3fast-bench"


@dataclass(frozen=True)
class Settings:
    """How runs are executed.

    - ``matched_concurrency`` (default 16) and ``matched_part_size`` (default 8 MiB): the
      values every runner gets in ``matched`` mode.
    - ``run_timeout_s`` (default None: 120 s plus 1 s per 20 MB moved): a run still going
      then is killed and recorded as failed.
    - ``allow_instance_credentials`` (default False): let children use the SDK default
      credential chain, including IMDS; otherwise ``AWS_EC2_METADATA_DISABLED=true``.
    - ``warmup`` (default True): before the first recorded run of each target x workload,
      one unrecorded run of its first runner. The first 2 GiB download after the source
      data was generated ran at a third of the speed with three times the kernel CPU,
      whoever ran it (and the first runner of a workload is always the same one).
    - ``settle`` (default True): after generating data and after every run, flush dirty
      pages (``os.sync``) and wait until the machine is idle (up to 15 s), so one run's
      leftover kernel work is not charged to the next. False for smoke runs whose figures
      do not matter (the harness's own tests): on a busy machine every wait runs out.
    """

    matched_concurrency: int = 16
    matched_part_size: int = 8 * MIB
    run_timeout_s: float | None = None
    allow_instance_credentials: bool = False
    warmup: bool = True
    settle: bool = True

    def timeout_for(self, total_bytes: int) -> float:
        if self.run_timeout_s is not None:
            return self.run_timeout_s
        return 120.0 + total_bytes / 20e6


def child_env(
    base: Mapping[str, str], spec: RunnerSpec, endpoint: Endpoint, settings: Settings
) -> dict[str, str]:
    """Environment of a runner process (pure): inherited AWS settings dropped, ours set."""
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    if endpoint.access_key:
        env["AWS_ACCESS_KEY_ID"] = endpoint.access_key
        env["AWS_SECRET_ACCESS_KEY"] = endpoint.secret_key or ""
        if endpoint.session_token:
            env["AWS_SESSION_TOKEN"] = endpoint.session_token
        # Explicit keys: keep ~/.aws profiles from changing what a runner does.
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    else:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            if name in base:
                env[name] = base[name]
    if not settings.allow_instance_credentials:
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_REGION"] = endpoint.region
    env["AWS_DEFAULT_REGION"] = endpoint.region
    if endpoint.ca_bundle:
        env["AWS_CA_BUNDLE"] = endpoint.ca_bundle
    paths = (str(REPO_ROOT), base.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    # Runners import from compiled bytecode, as an installed package does (pip compiles at
    # install time); see precompile(). Without it every run would pay for compiling
    # s3fast's and boto3's modules again (~0.2 s of CPU for s3fast alone).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name, value in spec.env:
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def precompile() -> None:
    """Write the bytecode caches of this checkout (s3fast, the runners) before any run,
    so the first run of each runner does not pay for compiling them."""
    _precompile()


def verify_download(job: Job, dataset: Dataset, output: RunnerOutput) -> tuple[bool, str]:
    """Compare every downloaded object with the source checksums (files or child-reported)."""
    if job.storage == "memory":
        got = output.checksums
        if got is None or len(got) != dataset.count:
            return False, "runner reported no checksums for its buffers"
        bad = [i for i, (a, b) in enumerate(zip(got, dataset.checksums)) if a != b]
        if bad:
            return False, f"{len(bad)} of {dataset.count} buffers differ"
        return True, "all buffers match"
    bad_list = []
    for i, path in enumerate(job.paths):
        try:
            crc, size = crc64_file(path)
        except OSError as exc:
            bad_list.append(f"{Path(path).name}: {exc.strerror}")
            continue
        if size != dataset.object_size or crc != dataset.checksums[i]:
            bad_list.append(f"{Path(path).name}: size {size}")
    if bad_list:
        return False, f"{len(bad_list)} of {dataset.count} files differ ({'; '.join(bad_list[:3])})"
    return True, "all files match"


def upload_keys(run_id: str, count: int) -> tuple[str, ...]:
    """Where an upload run writes: its own prefix, so checking and deleting it is one listing."""
    return tuple(f"up/{run_id}/obj-{i:06d}" for i in range(count))


def label_mismatch(spec: RunnerSpec, output: RunnerOutput) -> str | None:
    """An s3fast run whose reported core contradicts its label must not be counted."""
    if spec.expect_native is None or output.native is None or output.native == spec.expect_native:
        return None
    core = "compiled" if output.native else "pure-Python"
    return f"{spec.name} ran on the {core} core: its label would be wrong"


def peak_rss_kib(measured: Measured, output: RunnerOutput | None) -> int:
    """The command's peak RSS: our /proc readings of its process tree, with the runner's
    self-report standing in for our reading of the runner process when it is higher (it
    is read at the runner's very end, after our last sample).

    ``ru_maxrss`` is only the last resort, because it includes the harness's RSS at fork.
    """
    own = measured.own_hwm_kib or 0
    reported = output.vm_hwm_kib if output and output.vm_hwm_kib else 0
    if not measured.hwm_kib and not reported:
        return measured.maxrss_kib
    return (measured.hwm_kib or 0) - own + max(own, reported)


@dataclass
class Orchestrator:
    """Executes planned runs against started targets and appends a record per run."""

    out_dir: Path
    data_root: Path
    scratch_root: Path
    targets: dict[str, Target]
    settings: Settings = field(default_factory=Settings)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    session_id: str = field(
        default_factory=lambda: datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    )
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    _datasets: dict[str, Dataset] = field(default_factory=dict)
    _counter: int = 0
    #: download outputs kept until the session ends (see _keep_or_delete), up to this many bytes
    defer_limit_bytes: int = 16 << 30
    _deferred: list[Path] = field(default_factory=list)
    _deferred_bytes: int = 0

    def __repr__(self) -> str:
        return (
            f"<Orchestrator out={self.out_dir} targets={sorted(self.targets)} "
            f"started={sorted(self.endpoints)} runs={self._counter}>"
        )

    def settle(self) -> None:
        """Dirty pages written and the machine idle again (see ``Settings.settle``)."""
        if self.settings.settle:
            os.sync()
            wait_until_quiet()

    def endpoint(self, target: str) -> Endpoint:
        """The target's current endpoint: asked every time, because a target may restart
        itself (SeaweedFS over its disk budget) and come back on new ports and keys."""
        if target not in self.endpoints:
            self.log(f"starting target {target}")
        self.endpoints[target] = self.targets[target].start()
        return self.endpoints[target]

    def dataset(self, run: PlannedRun) -> Dataset:
        w = run.workload
        if w.dataset_id not in self._datasets:
            self.log(f"generating source data {w.dataset_id}")
            self._datasets[w.dataset_id] = ensure_dataset(self.data_root, BUCKET, w)
            # Written, not yet on disk: without this the first runs would share the
            # machine with the kernel flushing gigabytes of fresh source data.
            self.settle()
        return self._datasets[w.dataset_id]

    def execute(self, runs: Sequence[PlannedRun]) -> list[RunRecord]:
        precompile()
        records = []
        warmed: set[tuple[str, str]] = set()
        for n, run in enumerate(runs, 1):
            endpoint = self.endpoint(run.target)
            dataset = self.dataset(run)
            if run.workload.direction == "download":
                # Every time: the target knows whether the objects are (still) there.
                if self.targets[run.target].prepare_download(dataset):
                    self.log(f"seeded {dataset.dataset_id} on {run.target}")
            if self.settings.warmup and (run.target, run.workload.name) not in warmed:
                warmed.add((run.target, run.workload.name))
                warm = self.execute_one(run, endpoint, dataset)  # not recorded
                self.log(f"[warm-up] {run.target} {run.workload.name} {run.label}: {progress_line(warm)}")
                endpoint = self.endpoint(run.target)
            record = self.execute_one(run, endpoint, dataset)
            append_record(self.out_dir, record)
            records.append(record)
            self.log(f"[{n}/{len(runs)}] {run.target} {run.workload.name} {run.label} "
                     f"rep {run.rep}: {progress_line(record)}")
        self.flush_deferred()
        return records

    def flush_deferred(self) -> None:
        """Delete the download outputs kept back so far."""
        if not self._deferred:
            return
        for scratch in self._deferred:
            shutil.rmtree(scratch, ignore_errors=True)
        self._deferred, self._deferred_bytes = [], 0
        self.settle()

    def _keep_or_delete(self, run: PlannedRun, scratch: Path, ok: bool) -> None:
        """Delete a run's scratch directory, except the many files of a successful download
        to disk: those stay until the session ends (or ``defer_limit_bytes`` pile up).

        ext4 does not reuse an inode for 60-300 s after it was freed, and the allocator
        scans past every such inode: a run creating 1,000 files soon after another run
        deleted its 1,000 ran at a third of the speed of the workload's first run, whoever
        it was (64 KiB x 1,000: 138 then 39 and 27 MB/s for one runner, 112 then 83 and 41
        for another), so the order of the runners decided the result. Deleting at the end
        of each workload instead still slowed the next workload's first run (126 against
        179-222 MB/s).
        """
        w = run.workload
        if ok and w.direction == "download" and w.storage == "disk" and w.count > 1:
            self._deferred.append(scratch)
            self._deferred_bytes += w.total_bytes
            if self._deferred_bytes > self.defer_limit_bytes:
                self.flush_deferred()
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    def make_job(
        self, run: PlannedRun, endpoint: Endpoint, dataset: Dataset, run_id: str, scratch: Path
    ) -> Job:
        w = run.workload
        if w.direction == "upload":
            keys = upload_keys(run_id, w.count)
            paths = tuple(str(p) for p in dataset.paths())
        else:
            keys = tuple(dataset.keys())
            paths = ()
            if w.storage == "disk":
                paths = tuple(str(scratch / f"obj-{i:06d}") for i in range(w.count))
        matched = run.mode == "matched"
        return Job(
            runner=run.runner,
            mode=run.mode,  # type: ignore[arg-type]
            direction=w.direction,
            storage=w.storage,
            endpoint=endpoint,
            keys=keys,
            paths=paths,
            object_size=w.object_size,
            concurrency=self.settings.matched_concurrency if matched else None,
            part_size=self.settings.matched_part_size if matched else None,
            timeout_s=self.settings.timeout_for(w.total_bytes),
        )

    def execute_one(self, run: PlannedRun, endpoint: Endpoint, dataset: Dataset) -> RunRecord:
        self._counter += 1
        run_id = f"{self.session_id}-{self._counter:05d}"
        spec = get_runner(run.runner)
        w = run.workload
        scratch = Path(tempfile.mkdtemp(prefix=f"run-{self._counter:05d}-", dir=self.scratch_root))
        record = RunRecord(
            run_id=run_id, target=run.target, workload=w.name, direction=w.direction,
            storage=w.storage, object_size=w.object_size, count=w.count, runner=run.runner,
            mode=run.mode, label=run.label, rep=run.rep, ok=False,
            started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        )
        try:
            job = self.make_job(run, endpoint, dataset, run_id, scratch)
            measured, output = self._launch(spec, job, scratch)
            record.process_wall_s = measured.wall_s
            record.user_s = measured.user_s
            record.sys_s = measured.sys_s
            record.rusage_maxrss_kib = measured.maxrss_kib
            record.maxrss_kib = peak_rss_kib(measured, output)
            record.returncode = measured.returncode
            if measured.timed_out:
                record.error = f"timed out after {job.timeout_s:.0f}s"
                return record
            if measured.returncode != 0 or output is None:
                tail = (measured.stderr.strip() or measured.stdout.strip())[-800:]
                record.error = f"exit {measured.returncode}: {tail}"
                return record
            mismatch = label_mismatch(spec, output)
            if mismatch:
                record.error = mismatch
                return record
            record.ok = True
            if output.seconds:
                record.seconds, record.seconds_source = output.seconds, "runner"
            else:
                record.seconds, record.seconds_source = measured.wall_s, "process"
            record.cpu_s_timed = output.cpu_s_timed
            saved = output.to_json()
            saved.pop("checksums", None)
            record.output = saved
            if w.direction == "download":
                record.verified, record.verify_detail = verify_download(job, dataset, output)
            else:
                check = self.targets[run.target].check_upload(list(job.keys), w.object_size)
                record.verified, record.verify_detail = check.verified, check.detail
            return record
        except Exception as exc:  # noqa: BLE001 - one broken run must not end the benchmark
            record.ok = False
            record.error = f"harness: {type(exc).__name__}: {exc}"
            return record
        finally:
            self._keep_or_delete(run, scratch, record.ok)
            if w.direction == "upload" and not record.ok:
                self._clean_failed_upload(run, run_id)
            # Start the next run from a clean slate: no dirty pages of this one still
            # waiting for writeback, and no kernel work it left behind still running
            # (either would be charged to whoever runs next).
            self.settle()

    def _clean_failed_upload(self, run: PlannedRun, run_id: str) -> None:
        """Delete what a failed upload run managed to store, so it does not pile up."""
        keys = list(upload_keys(run_id, run.workload.count))
        try:
            self.targets[run.target].check_upload(keys, run.workload.object_size)
        except Exception as exc:  # noqa: BLE001 - best effort after a failure
            self.log(f"cleaning up after failed run {run_id} failed: {exc}")

    def _launch(
        self, spec: RunnerSpec, job: Job, scratch: Path
    ) -> tuple[Measured, RunnerOutput | None]:
        env = child_env(self.base_env, spec, job.endpoint, self.settings)
        timeout = job.timeout_s + 30.0  # the child's own timeout fires first when it can
        if spec.kind == "python":
            job_path = scratch / "job.json"
            out_path = scratch / "output.json"
            job_path.write_text(json.dumps(job.to_json()))
            argv = [sys.executable, "-m", "benchmarks.runners.child",
                    str(job_path), str(out_path), spec.module]
            measured = run_measured(argv, env=env, cwd=REPO_ROOT, timeout=timeout, workdir=scratch)
            output = None
            if measured.returncode == 0 and out_path.exists():
                output = RunnerOutput.from_json(json.loads(out_path.read_text()))
            return measured, output
        module = spec.load()
        argv, extra_env = module.command(job, scratch)
        env.update(extra_env)
        measured = run_measured(argv, env=env, cwd=scratch, timeout=timeout, workdir=scratch)
        output = None
        if measured.returncode == 0:
            output = module.parse(job, measured.stdout, measured.stderr)
        return measured, output


def progress_line(record: RunRecord) -> str:
    if not record.usable:
        return f"FAILED: {(record.error or record.verify_detail)[:200]}"
    m = record.metrics()
    whole = m["mb_per_s_process"]
    return (f"{whole or 0:.1f} MB/s whole process ({m['mb_per_s'] or 0:.1f} in region), "
            f"wall {record.process_wall_s:.2f}s, cpu {record.cpu_s:.2f}s, "
            f"rss {record.maxrss_kib // 1024} MiB ok")


def stop_all(targets: Mapping[str, Target], log: Callable[[str], None]) -> None:
    for name, target in targets.items():
        try:
            target.stop()
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            log(f"stopping {name} failed: {exc}")


def versions_of(specs: Sequence[RunnerSpec]) -> dict[str, Any]:
    return {spec.name: spec.version() for spec in specs}
