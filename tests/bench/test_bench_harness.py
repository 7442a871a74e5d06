"""Benchmark harness logic without servers: sizes, workloads, plans, stats, ratios, runners."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks._units import format_size, parse_size
from benchmarks.dataset import Dataset, crc64_buffer, crc64_file, ensure_dataset, generate_object
from benchmarks.orchestrator import Settings, child_env, label_mismatch, peak_rss_kib, verify_download
from benchmarks.plan import plan_runs
from benchmarks.procs import Measured
from benchmarks.results import RunRecord, derive_metrics
from benchmarks.runners import RUNNERS, get_runner, run_label, split_label
from benchmarks.runners.base import Job, RunnerOutput
from benchmarks.runners.s3fast_common import output_from_cli, output_from_results, parse_cli_json
from benchmarks.stats import pairwise_ratios, percentile, spread
from benchmarks.summary import compute_ratios, native_vs_pure, summarize
from benchmarks.targets.base import Endpoint
from benchmarks.targets.s3admin import common_prefix
from benchmarks.workloads import WORKLOAD_DIR, Workload, load_workloads, parse_workload_file, select_workloads


def test_sizes_parse_binary_and_decimal_units() -> None:
    assert parse_size("8MiB") == 8 << 20
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("5GB") == 5 * 10**9
    assert parse_size("1024") == 1024
    assert parse_size(7) == 7
    assert format_size(2 << 30) == "2GiB" and format_size(1000) == "1000B"
    for bad in ("8 parsecs", "1.5B", "-1", "MiB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_workload_file_expands_one_workload_per_storage() -> None:
    ws = parse_workload_file(
        {"name": "upload-1MiB-3x", "direction": "upload", "object_size": "1MiB", "count": 3,
         "storage": ["disk", "memory"], "suite": "quick"}
    )
    assert [w.name for w in ws] == ["upload-1MiB-3x-disk", "upload-1MiB-3x-memory"]
    assert ws[0].total_bytes == 3 << 20 and ws[0].dataset_id == ws[1].dataset_id == "1MiB-3x"
    with pytest.raises(ValueError):
        parse_workload_file({"name": "x", "direction": "sideways", "object_size": "1MiB"})
    with pytest.raises(ValueError):
        parse_workload_file({"name": "x", "direction": "upload", "object_size": "1MiB", "storage": "tape"})


def test_shipped_workloads_cover_the_issue() -> None:
    ws = load_workloads(WORKLOAD_DIR)
    want_local = {(d, s, c) for d in ("upload", "download")
                  for s, c in ((2 << 30, 1), (1 << 20, 200), (64 << 10, 1000))}
    want_ec2 = {(d, s, c) for d in ("upload", "download")
                for s, c in ((5 << 30, 1), (5 << 30, 10), (30 << 30, 1))}
    for suite, want in (("local", want_local), ("ec2", want_ec2)):
        chosen = select_workloads(ws, suite=suite)
        assert {(w.direction, w.object_size, w.count) for w in chosen} == want
        assert {w.storage for w in chosen} == {"disk", "memory"}
    assert select_workloads(ws, suite="quick")
    picked = select_workloads(ws, patterns=["download-2GiB-*"], storages=["memory"])
    assert [w.name for w in picked] == ["download-2GiB-1x-memory"]


def _w(name: str = "upload-1MiB-2x-disk", direction: str = "upload", storage: str = "disk",
       size: int = 1 << 20, count: int = 2) -> Workload:
    return Workload(name, "quick", direction, size, count, storage)  # type: ignore[arg-type]


def test_plan_alternates_runners_inside_each_repetition_and_reports_skips() -> None:
    runners = [get_runner("awscrt"), get_runner("s5cmd"), get_runner("s3fast-cli-native")]
    mem = _w("upload-1MiB-2x-memory", storage="memory")
    runs, skipped = plan_runs(["nginx-http"], [mem], runners, ["default", "matched"], repeat=2)
    order = [(r.rep, r.label) for r in runs]
    assert order == [
        (0, "awscrt"), (0, "awscrt@matched"), (1, "awscrt"), (1, "awscrt@matched"),
    ]
    reasons = {s.runner: s.reason for s in skipped}
    assert set(reasons) == {"s5cmd", "s3fast-cli-native"}
    runs, _ = plan_runs(["a", "b"], [_w()], runners[:2], ["default"], repeat=2)
    # The order rotates per repetition, so no runner always follows the same neighbour.
    assert [(r.target, r.rep, r.runner) for r in runs] == [
        ("a", 0, "awscrt"), ("a", 0, "s5cmd"), ("a", 1, "s5cmd"), ("a", 1, "awscrt"),
        ("b", 0, "awscrt"), ("b", 0, "s5cmd"), ("b", 1, "s5cmd"), ("b", 1, "awscrt"),
    ]
    with pytest.raises(ValueError):
        plan_runs(["a"], [_w()], runners, ["default"], repeat=0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_run_orders_balance_who_follows_whom(n: int) -> None:
    from collections import Counter

    from benchmarks.plan import williams_order

    cycle = n if n % 2 == 0 else 2 * n
    rows = [williams_order(n, rep) for rep in range(cycle)]
    assert all(sorted(row) == list(range(n)) for row in rows)  # each runner once per repetition
    follows = Counter((a, b) for row in rows for a, b in zip(row, row[1:]))
    # Every ordered pair of runners is adjacent equally often over a cycle...
    assert set(follows) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert len(set(follows.values())) <= 1
    # ...and with an even number of runners (the usual 6), already in the first three
    # repetitions no runner has the same predecessor twice (plain rotation gave the runner
    # after the last one that same predecessor every time).
    if n >= 4 and n % 2 == 0:
        for runner in range(n):
            before = [row[row.index(runner) - 1] for row in rows[:3] if row.index(runner) > 0]
            assert len(before) == len(set(before)), (runner, rows[:3])


def test_registry_labels_and_s3fast_twins() -> None:
    names = [r.name for r in RUNNERS]
    assert {"s3fast-native", "s3fast-pure", "awscrt", "boto3", "boto3-crt", "s5cmd"} <= set(names)
    assert run_label("awscrt", "matched") == "awscrt@matched" and split_label("awscrt@matched") == ("awscrt", "matched")
    assert split_label("boto3") == ("boto3", "default")
    assert dict(get_runner("s3fast-pure").env)["S3FAST_NO_EXTENSIONS"] == "1"
    assert dict(get_runner("s3fast-native").env)["S3FAST_NO_EXTENSIONS"] is None
    assert get_runner("s3fast-cli-native").supports(_w(count=2)) is not None
    assert get_runner("s3fast-cli-native").supports(_w(count=1)) is None


def test_percentiles_and_spread() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile(list(range(101)), 90) == 90
    s = spread([3.0, None, 1.0, 2.0])
    assert s is not None and (s.median, s.min, s.max, s.n) == (2.0, 1.0, 3.0, 3)
    assert spread([None]) is None


def test_ratios_are_paired_by_repetition_not_medians_of_each_side() -> None:
    a = {0: 100.0, 1: 300.0, 2: 200.0}
    b = {0: 50.0, 1: 300.0, 2: 400.0, 3: 1.0}  # rep 3 has no partner: ignored
    ratios = pairwise_ratios(a, b)
    assert ratios == [2.0, 1.0, 0.5]
    med = spread(ratios)
    assert med is not None and med.median == 1.0
    # Ratio of the medians would be 200 / 300: pairing is what the table reports.
    assert pairwise_ratios({0: 1.0}, {0: 0.0}) == [] and pairwise_ratios({0: None}, {0: 1.0}) == []


def _rec(runner: str, rep: int, seconds: float | None, *, mode: str = "default", ok: bool = True,
         verified: bool | None = True, cpu: float = 1.0, workload: str = "upload-1GiB-1x-disk",
         wall: float | None = None, cpu_timed: float | None = None) -> RunRecord:
    return RunRecord(
        run_id=f"{runner}-{rep}", target="nginx-http", workload=workload, direction="upload",
        storage="disk", object_size=1 << 30, count=1, runner=runner, mode=mode,
        label=run_label(runner, mode), rep=rep, ok=ok, verified=verified, seconds=seconds,
        user_s=cpu, sys_s=0.0, maxrss_kib=100 * 1024, cpu_s_timed=cpu_timed,
        process_wall_s=(seconds or 0.0) if wall is None else wall,
        output={"latency_ms": {"p50": 10.0 * (rep + 1), "p90": 20.0, "p99": 30.0, "scope": "request"},
                "retries": 1, "per_ip": {"127.0.0.1": {"requests": 4, "bytes": 10, "errors": 0}}},
    )


def test_metrics_of_one_run() -> None:
    m = derive_metrics(_rec("awscrt", 0, 2.0, cpu=3.0))
    assert m["mb_per_s"] == pytest.approx((1 << 30) / 2.0 / 1e6)
    assert m["gbps"] == pytest.approx((1 << 30) * 8 / 2.0 / 1e9)
    assert m["objects_per_s"] == 0.5 and m["cpu_s_per_gib"] == 3.0 and m["peak_rss_mib"] == 100
    assert derive_metrics(_rec("awscrt", 0, None))["mb_per_s"] is None


def test_whole_process_metrics_count_start_up() -> None:
    """The process view divides by the child's wall time from fork/exec to exit; the region
    view by the runner's own timed region; a runner without a region of its own (an
    executable) has its process as region."""
    m = derive_metrics(_rec("s3fast-native", 0, 1.0, cpu=3.0, wall=4.0, cpu_timed=1.0))
    assert m["mb_per_s_process"] == pytest.approx((1 << 30) / 4.0 / 1e6)
    assert m["mb_per_s"] == pytest.approx((1 << 30) / 1.0 / 1e6)
    assert (m["objects_per_s_process"], m["wall_s_process"], m["cpu_s_process"]) == (0.25, 4.0, 3.0)
    assert (m["cpu_s_per_gib"], m["cpu_s_region_per_gib"]) == (3.0, 1.0)
    exe = _rec("s5cmd", 0, 2.0, cpu=3.0)
    exe.seconds_source = "process"
    assert derive_metrics(exe)["cpu_s_region_per_gib"] == 3.0
    python = _rec("awscrt", 0, 2.0, cpu=3.0)
    python.seconds_source = "runner"  # a region of its own, but no CPU measured in it
    assert derive_metrics(python)["cpu_s_region_per_gib"] is None
    assert derive_metrics(_rec("awscrt", 0, 2.0, wall=0.0))["mb_per_s_process"] is None


def test_ratios_are_judged_on_the_whole_process() -> None:
    """s3fast faster in its region but paying 2 s of start-up loses on the whole process."""
    records = [
        _rec("s3fast-cli-native", 0, 1.0, wall=3.0, cpu=2.0), _rec("s5cmd", 0, 2.0, cpu=1.0),
        _rec("s3fast-cli-native", 1, 1.0, wall=3.0, cpu=2.0), _rec("s5cmd", 1, 2.0, cpu=1.0),
    ]
    (ratio,) = compute_ratios(records, {"s3fast-cli-native"})
    assert ratio.throughput is not None and ratio.throughput.median == pytest.approx(2.0 / 3.0)
    assert ratio.cpu is not None and ratio.cpu.median == pytest.approx(2.0)
    assert ratio.throughput_region is not None and ratio.throughput_region.median == pytest.approx(2.0)
    assert ratio.pairs == 2
    groups = {g.label: g for g in summarize(records)}
    wall = groups["s3fast-cli-native"].get("wall_s_process")
    assert wall is not None and wall.median == 3.0


def test_summary_medians_exclude_failed_and_unverified_runs() -> None:
    records = [
        _rec("s3fast-native", 0, 1.0), _rec("s3fast-native", 1, 2.0), _rec("s3fast-native", 2, 4.0),
        _rec("s3fast-native", 3, 0.1, verified=False),
        _rec("awscrt", 0, 2.0), _rec("awscrt", 1, 2.0), _rec("awscrt", 2, 2.0),
        _rec("awscrt", 3, None, ok=False),
    ]
    groups = {g.label: g for g in summarize(records)}
    s3 = groups["s3fast-native"]
    assert (s3.n_ok, s3.n_fail, s3.verified) == (3, 1, "FAILED")
    thr = s3.get("mb_per_s")
    assert thr is not None and thr.median == pytest.approx((1 << 30) / 2.0 / 1e6)
    assert s3.latency_ms == {"p50": 20.0, "p90": 20.0, "p99": 30.0, "scope": "request"}
    assert s3.retries == 3 and s3.per_ip == {"127.0.0.1": {"requests": 12, "bytes": 30, "errors": 0}}
    assert groups["awscrt"].n_fail == 1
    ratios = compute_ratios(records, {"s3fast-native"})
    assert len(ratios) == 1 and ratios[0].peer == "awscrt" and ratios[0].pairs == 3
    assert ratios[0].throughput is not None
    # run-by-run: 2/1, 2/2, 2/4 -> median 1.0
    assert ratios[0].throughput.median == pytest.approx(1.0)
    assert (ratios[0].throughput.min, ratios[0].throughput.max) == pytest.approx((0.5, 2.0))


def test_ratios_stay_within_mode_and_skip_other_subjects() -> None:
    records = [
        _rec("s3fast-native", 0, 1.0), _rec("s3fast-pure", 0, 2.0), _rec("boto3", 0, 4.0),
        _rec("boto3", 0, 8.0, mode="matched"), _rec("s3fast-native", 0, 2.0, mode="matched"),
    ]
    ratios = compute_ratios(records, {"s3fast-native", "s3fast-pure"})
    pairs = {(r.subject, r.peer, r.mode): r.throughput.median for r in ratios if r.throughput}
    assert pairs == {
        ("s3fast-native", "boto3", "default"): 4.0,
        ("s3fast-pure", "boto3", "default"): 2.0,
        ("s3fast-native", "boto3", "matched"): 4.0,
    }
    twins = native_vs_pure(records)
    assert [(r.subject, r.peer, r.throughput.median if r.throughput else None) for r in twins] == [
        ("s3fast-native", "s3fast-pure", 2.0)
    ]


def _endpoint(**kw: object) -> Endpoint:
    base = dict(target="nginx-https", endpoint_url="https://127.0.0.1:4443", region="us-east-1",
                bucket="b", ca_bundle="/tmp/ca.pem", access_key="AK", secret_key="SK")
    base.update(kw)
    return Endpoint(**base)  # type: ignore[arg-type]


def test_endpoint_addressing() -> None:
    ep = _endpoint()
    assert ep.is_https and ep.host_header() == "127.0.0.1:4443" and ep.object_path("k/1") == "/b/k/1"
    aws = _endpoint(endpoint_url=None, addressing="virtual", region="eu-west-1")
    assert aws.host_header() == "b.s3.eu-west-1.amazonaws.com" and aws.object_path("k") == "/k"
    assert Endpoint.from_json(ep.to_json()) == ep


def test_child_env_isolates_aws_settings_and_sets_the_s3fast_switch() -> None:
    base = {"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_ENDPOINT_URL": "http://elsewhere",
            "S3FAST_NO_EXTENSIONS": "1", "AWS_EC2_METADATA_DISABLED": "false"}
    assert Settings().settle  # real runs sync and wait for an idle machine between runs
    env = child_env(base, get_runner("s3fast-native"), _endpoint(), Settings())
    assert env["AWS_ACCESS_KEY_ID"] == "AK" and env["AWS_SECRET_ACCESS_KEY"] == "SK"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_CA_BUNDLE"] == "/tmp/ca.pem" and env["AWS_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in env and "AWS_ENDPOINT_URL" not in env
    assert "S3FAST_NO_EXTENSIONS" not in env and env["S3FAST_REQUIRE_EXTENSIONS"] == "1"
    assert env["PATH"] == "/bin"
    pure = child_env(base, get_runner("s3fast-pure"), _endpoint(), Settings())
    assert pure["S3FAST_NO_EXTENSIONS"] == "1" and "S3FAST_REQUIRE_EXTENSIONS" not in pure
    role = child_env(base, get_runner("boto3"), _endpoint(access_key=None, secret_key=None),
                     Settings(allow_instance_credentials=True))
    assert "AWS_ACCESS_KEY_ID" not in role and role["AWS_PROFILE"] == "prod"
    assert "AWS_EC2_METADATA_DISABLED" not in role


def test_label_mismatch_and_peak_rss_choice() -> None:
    native = get_runner("s3fast-native")
    assert label_mismatch(native, RunnerOutput(native=True)) is None
    assert label_mismatch(native, RunnerOutput(native=None)) is None
    assert "pure-Python" in (label_mismatch(native, RunnerOutput(native=False)) or "")
    assert label_mismatch(get_runner("awscrt"), RunnerOutput(native=False)) is None
    m = Measured(("x",), 0, 1.0, 0.5, 0.1, maxrss_kib=900_000, stdout="", stderr="", hwm_kib=40_000,
                 own_hwm_kib=40_000, processes=1)
    assert peak_rss_kib(m, RunnerOutput(vm_hwm_kib=50_000)) == 50_000
    assert peak_rss_kib(m, RunnerOutput(vm_hwm_kib=30_000)) == 40_000
    assert peak_rss_kib(m, None) == 40_000
    # A command with workers: theirs count too; the self-report replaces only its own reading.
    tree = Measured(("x",), 0, 1.0, 0.5, 0.1, maxrss_kib=900_000, stdout="", stderr="", hwm_kib=100_000,
                    own_hwm_kib=40_000, processes=3)
    assert peak_rss_kib(tree, None) == 100_000
    assert peak_rss_kib(tree, RunnerOutput(vm_hwm_kib=50_000)) == 110_000
    bare = Measured(("x",), 0, 1.0, 0.5, 0.1, maxrss_kib=900_000, stdout="", stderr="")
    assert peak_rss_kib(bare, None) == 900_000


def test_dataset_is_deterministic_and_verification_catches_a_flipped_byte(tmp_path: Path) -> None:
    w = _w("download-3MiB-2x-disk", direction="download", size=(3 << 20) + 5, count=2)
    ds = ensure_dataset(tmp_path, "bkt", w)
    assert ds.paths()[0] == tmp_path / "bkt" / "dl" / w.dataset_id / "obj-000000"
    assert all(p.stat().st_size == w.object_size for p in ds.paths())
    assert ds.checksums[0] != ds.checksums[1]  # objects differ, so swaps are caught
    chunks: list[bytes] = []
    assert generate_object(w.dataset_id, 1, w.object_size, chunks.append) == ds.checksums[1]
    assert crc64_file(ds.path(1)) == (ds.checksums[1], w.object_size)
    mtime = ds.path(0).stat().st_mtime_ns
    assert ensure_dataset(tmp_path, "bkt", w) == ds and ds.path(0).stat().st_mtime_ns == mtime
    dl = tmp_path / "dl"
    dl.mkdir()
    paths = [dl / "a", dl / "b"]
    for src, dst in zip(ds.paths(), paths):
        dst.write_bytes(src.read_bytes())
    job = Job("awscrt", "default", "download", "disk", _endpoint(), tuple(ds.keys()),
              tuple(str(p) for p in paths), w.object_size)
    assert verify_download(job, ds, RunnerOutput()) == (True, "all files match")
    data = bytearray(paths[1].read_bytes())
    data[12345] ^= 1
    paths[1].write_bytes(bytes(data))
    ok, detail = verify_download(job, ds, RunnerOutput())
    assert not ok and "1 of 2" in detail
    mem = Job("awscrt", "default", "download", "memory", _endpoint(), tuple(ds.keys()), (), w.object_size)
    good = [crc64_buffer(p.read_bytes()) for p in ds.paths()]
    assert verify_download(mem, ds, RunnerOutput(checksums=good))[0]
    assert not verify_download(mem, ds, RunnerOutput(checksums=[good[1], good[0]]))[0]
    assert not verify_download(mem, ds, RunnerOutput(checksums=None))[0]


def test_job_round_trips_through_json() -> None:
    job = Job("boto3", "matched", "upload", "memory", _endpoint(), ("up/1/obj-000000",), ("/d/o",),
              1 << 20, concurrency=8, part_size=8 << 20, timeout_s=30.0)
    again = Job.from_json(json.loads(json.dumps(job.to_json())))
    assert again == job and again.url(0) == "s3://b/up/1/obj-000000" and again.total_bytes == 1 << 20


def test_s5cmd_and_s3fast_cli_commands(tmp_path: Path) -> None:
    from benchmarks.runners import s3fast_cli, s5cmd_runner

    one = Job("s5cmd", "matched", "download", "disk", _endpoint(), ("dl/x/obj-000000",), ("/out/0",),
              1 << 20, concurrency=12, part_size=(8 << 20) + 1)
    argv, env = s5cmd_runner.command(one, tmp_path)
    assert argv[-2:] == ["s3://b/dl/x/obj-000000", "/out/0"]
    assert argv[argv.index("--endpoint-url") + 1] == "https://127.0.0.1:4443"
    assert argv[argv.index("--numworkers") + 1] == "12" and argv[argv.index("--concurrency") + 1] == "12"
    assert argv[argv.index("--part-size") + 1] == "9"  # whole MiB, rounded up
    assert env["AWS_CA_BUNDLE"] == "/tmp/ca.pem" and "--no-verify-ssl" not in argv
    many = Job("s5cmd", "default", "upload", "disk", _endpoint(), ("up/r/0", "up/r/1"), ("/s/0", "/s/1"), 10)
    argv, _ = s5cmd_runner.command(many, tmp_path)
    assert argv[-2] == "run" and "--numworkers" not in argv
    lines = Path(argv[-1]).read_text().splitlines()
    assert lines == ["cp /s/0 s3://b/up/r/0", "cp /s/1 s3://b/up/r/1"]
    with pytest.raises(ValueError):
        s5cmd_runner.command(Job("s5cmd", "default", "upload", "memory", _endpoint(), ("k",), ("/p",), 1), tmp_path)

    up = Job("s3fast-cli-native", "matched", "upload", "disk", _endpoint(), ("up/r/0",), ("/s/0",),
             1 << 20, concurrency=4, part_size=8 << 20)
    argv, _ = s3fast_cli.command(up, tmp_path)
    i = argv.index("cp")
    assert argv[i + 1 : i + 3] == ["/s/0", "s3://b/up/r/0"] and "--json" in argv
    assert argv[argv.index("--concurrency") + 1] == "4" and argv[argv.index("--part-size") + 1] == "8MiB"
    assert argv[argv.index("--ca-bundle") + 1] == "/tmp/ca.pem"
    default = Job("s3fast-cli-native", "default", "download", "disk", _endpoint(), ("k",), ("/d",), 1)
    argv, _ = s3fast_cli.command(default, tmp_path)
    assert "--concurrency" not in argv and argv[argv.index("cp") + 1 :][:2] == ["s3://b/k", "/d"]


def test_s3fast_result_parsing_is_tolerant() -> None:
    stdout = 'progress...\n{"not": "last"}\n{"bytes": 100, "seconds": 0.5, "mb_per_s": 200.0, "parts": 2, ' \
             '"requests": 3, "retries": 1, "native": true, "per_ip": {"127.0.0.2": {"requests": 3, ' \
             '"bytes": 100, "errors": 1}}, "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0}}\n'
    out = output_from_cli(parse_cli_json(stdout))
    assert (out.bytes, out.parts, out.requests, out.retries, out.native) == (100, 2, 3, 1, True)
    assert out.seconds is None and out.extra["self_reported_seconds"] == 0.5
    assert out.per_ip == {"127.0.0.2": {"requests": 3, "bytes": 100, "errors": 1}}
    assert out.latency_ms is not None and out.latency_ms["p99"] == 3.0 and out.latency_ms["scope"] == "request"
    with pytest.raises(ValueError):
        parse_cli_json("no json here")

    class Result:
        def __init__(self, n: int) -> None:
            self.bytes, self.seconds, self.requests, self.retries = n, 1.0, 2, 0
            self.latencies_ms = [1.0, 2.0, 3.0]

    folded = output_from_results([Result(5), Result(7)])
    assert (folded.bytes, folded.requests, folded.retries, folded.parts) == (12, 4, 0, None)
    single = output_from_results([Result(5)])
    assert single.latency_ms is not None and single.latency_ms["p50"] == 2.0


def test_common_prefix_of_upload_keys() -> None:
    assert common_prefix(["up/r1/obj-000000", "up/r1/obj-000199"]) == "up/r1/"
    assert common_prefix(["up/r1/obj-000000"]) == "up/r1/"
    assert common_prefix([]) == ""


def test_dataset_repr_and_keys(tmp_path: Path) -> None:
    ds = Dataset("1MiB-2x", "b", 1 << 20, tmp_path, (1, 2))
    assert ds.keys() == ["dl/1MiB-2x/obj-000000", "dl/1MiB-2x/obj-000001"]
    assert "2 objects" in repr(ds)


class _RestartingTarget:
    """A target that comes back on a new endpoint after each upload check (like SeaweedFS)."""

    name = "fake"

    def __init__(self) -> None:
        self.generation = 0
        self.prepared: list[str] = []

    def start(self) -> Endpoint:
        return _endpoint(target="fake", endpoint_url=f"http://127.0.0.1:{9000 + self.generation}")

    def stop(self) -> None:
        pass

    def prepare_download(self, dataset: Dataset) -> bool:
        self.prepared.append(dataset.dataset_id)
        return len(self.prepared) == 1

    def check_upload(self, keys: list[str], size: int) -> object:
        self.generation += 1
        raise AssertionError("not reached: runs are stubbed")

    def facts(self) -> dict[str, object]:
        return {}


def test_orchestrator_follows_restarted_targets_and_reseeds(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.orchestrator import Orchestrator, Settings

    target = _RestartingTarget()
    logs: list[str] = []
    orch = Orchestrator(tmp_path / "out", tmp_path / "data", tmp_path / "scratch", {"fake": target},  # type: ignore[dict-item]
                        log=logs.append, settings=Settings(warmup=False, settle=False))
    (tmp_path / "out").mkdir()
    seen: list[str | None] = []

    def fake_execute_one(run, endpoint, dataset):  # type: ignore[no-untyped-def]
        seen.append(endpoint.endpoint_url)
        target.generation += 1  # as if the run's upload check had restarted the server
        return _rec(run.runner, run.rep, 1.0)

    monkeypatch.setattr(orch, "execute_one", fake_execute_one)
    down = _w("download-64KiB-2x-disk", direction="download", size=64 << 10, count=2)
    runs, _ = plan_runs(["fake"], [down], [get_runner("awscrt")], ["default"], repeat=3)
    records = orch.execute(runs)
    assert len(records) == 3 and len(read_jsonl(tmp_path / "out")) == 3
    assert seen == ["http://127.0.0.1:9000", "http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    assert target.prepared == [down.dataset_id] * 3  # asked every run; it seeds when needed
    assert sum("seeded" in m for m in logs) == 1 and "runs=0" in repr(orch)


def read_jsonl(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


def test_failed_upload_runs_are_cleaned_up_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.orchestrator import Orchestrator, Settings, upload_keys
    from benchmarks.targets.base import UploadCheck

    class Store(_RestartingTarget):
        def __init__(self) -> None:
            super().__init__()
            self.checked: list[list[str]] = []

        def check_upload(self, keys: list[str], size: int) -> UploadCheck:
            self.checked.append(keys)
            return UploadCheck(True, "listed")

    store = Store()
    orch = Orchestrator(tmp_path / "out", tmp_path / "data", tmp_path / "scratch", {"fake": store},  # type: ignore[dict-item]
                        log=lambda m: None, settings=Settings(warmup=False, settle=False))
    for d in ("out", "scratch"):
        (tmp_path / d).mkdir()
    crashed = Measured(("x",), 1, 0.5, 0.1, 0.0, maxrss_kib=1, stdout="", stderr="Traceback: boom")
    monkeypatch.setattr(orch, "_launch", lambda spec, job, scratch: (crashed, None))
    up = _w("upload-64KiB-3x-disk", size=64 << 10, count=3)
    runs, _ = plan_runs(["fake"], [up], [get_runner("boto3")], ["default"], repeat=1)
    [record] = orch.execute(runs)
    assert not record.ok and record.error == "exit 1: Traceback: boom" and not record.usable
    assert store.checked == [list(upload_keys(record.run_id, 3))]
    assert upload_keys("r", 2) == ("up/r/obj-000000", "up/r/obj-000001")


def test_native_runner_needs_a_built_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.machinery
    import importlib.util

    from benchmarks.runners.s3fast_common import compiled_core_missing

    fake = importlib.machinery.ModuleSpec("s3fast._native", None, is_package=True)
    fake.submodule_search_locations = [str(tmp_path)]
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: fake if name == "s3fast._native" else real_find_spec(name, *a))
    (tmp_path / "__init__.py").write_text("")
    assert "not built" in (compiled_core_missing() or "")
    (tmp_path / f"_http{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    assert compiled_core_missing() is None


def test_download_outputs_are_deleted_at_the_end_not_between_runs(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import orchestrator as orch_mod
    from benchmarks.orchestrator import Orchestrator, Settings

    from benchmarks.runners.base import RunnerOutput

    monkeypatch.setattr(orch_mod, "verify_download", lambda job, dataset, output: (True, "fake"))
    target = _RestartingTarget()
    orch = Orchestrator(tmp_path / "out", tmp_path / "data", tmp_path / "scratch", {"fake": target},  # type: ignore[dict-item]
                        log=lambda m: None, settings=Settings(warmup=False, settle=False))
    for d in ("out", "scratch"):
        (tmp_path / d).mkdir()
    alive: list[list[str]] = []  # scratch directories present when each run starts

    def launch(spec, job, scratch):  # type: ignore[no-untyped-def]
        alive.append(sorted(p.name for p in (tmp_path / "scratch").iterdir() if p != scratch))
        for path in job.paths:
            Path(path).write_bytes(b"x")
        return Measured(("x",), 0, 0.1, 0.01, 0.0, maxrss_kib=1, stdout="", stderr=""), RunnerOutput(seconds=0.1)

    monkeypatch.setattr(orch, "_launch", launch)
    many = _w("download-64KiB-2x-disk", direction="download", size=64 << 10, count=2)
    other = _w("download-64KiB-2x-memory", direction="download", size=64 << 10, count=2, storage="memory")
    runs, _ = plan_runs(["fake"], [many, other], [get_runner("awscrt"), get_runner("boto3")], ["default"], repeat=1)
    orch.execute(runs)
    # The outputs of many-file downloads to disk pile up (no deletes while runs go on)...
    kinds = [r.workload.name for r in runs]
    assert kinds == ["download-64KiB-2x-disk"] * 2 + ["download-64KiB-2x-memory"] * 2
    assert [len(a) for a in alive] == [0, 1, 2, 2]
    # ...and are gone at the end, as is everything else.
    assert list((tmp_path / "scratch").iterdir()) == []
    # Past the limit they are deleted at once.
    orch.defer_limit_bytes = 64 << 10
    alive.clear()
    orch.execute(runs)
    assert [len(a) for a in alive] == [0, 0, 0, 0]


def test_each_workload_gets_one_unrecorded_warm_up_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.orchestrator import Orchestrator, Settings

    target = _RestartingTarget()
    logs: list[str] = []
    orch = Orchestrator(tmp_path / "out", tmp_path / "data", tmp_path / "scratch", {"fake": target},  # type: ignore[dict-item]
                        log=logs.append, settings=Settings(settle=False))
    (tmp_path / "out").mkdir()
    executed: list[tuple[str, int]] = []

    def fake_execute_one(run, endpoint, dataset):  # type: ignore[no-untyped-def]
        executed.append((run.workload.name, run.rep))
        return _rec(run.runner, run.rep, 1.0)

    monkeypatch.setattr(orch, "execute_one", fake_execute_one)
    a = _w("download-64KiB-2x-disk", direction="download", size=64 << 10, count=2)
    b = _w("download-64KiB-2x-memory", direction="download", size=64 << 10, count=2, storage="memory")
    runs, _ = plan_runs(["fake"], [a, b], [get_runner("awscrt"), get_runner("boto3")], ["default"], repeat=2)
    records = orch.execute(runs)
    # Two extra runs, one before each workload's first, and only the planned ones recorded.
    assert executed == [(a.name, 0)] * 2 + [(a.name, 0), (a.name, 1), (a.name, 1)] + [(b.name, 0)] * 2 + [
        (b.name, 0), (b.name, 1), (b.name, 1)]
    assert len(records) == 8 and len(read_jsonl(tmp_path / "out")) == 8
    assert sum(m.startswith("[warm-up]") for m in logs) == 2


def test_progress_line_shows_both_views() -> None:
    from benchmarks.orchestrator import progress_line

    line = progress_line(_rec("s3fast-native", 0, 1.0, wall=2.0, cpu=1.5))
    assert line.startswith(f"{(1 << 30) / 2e6:.1f} MB/s whole process ({(1 << 30) / 1e6:.1f} in region), wall 2.00s")
    assert progress_line(_rec("awscrt", 0, None, ok=False)).startswith("FAILED")
