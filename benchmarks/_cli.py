"""``python -m benchmarks``: ``run`` a benchmark, rebuild a ``report``, ``list`` what exists.

See benchmarks/README.md for the full story; ``--help`` on each command lists the options.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ._units import format_size, parse_size
from .machine import PageReportingPause, machine_facts
from .orchestrator import BUCKET, Orchestrator, Settings, stop_all, versions_of
from .plan import plan_runs
from .plots import make_plots
from .report import render_results_md
from .results import read_meta, read_records, write_meta
from .runners import MODES, RUNNERS, RunnerSpec, get_runner
from .summary import summarize
from .targets.base import Target
from .workloads import Workload, load_workloads, select_workloads

BENCH_DIR = Path(__file__).resolve().parent
LOCAL_TARGETS = ("nginx-http", "nginx-https", "seaweedfs")
# --quick: ~80 short runs, about two minutes on the 2-core dev machine.
QUICK_TARGETS = ("nginx-http",)
QUICK_STORAGE = ("disk",)


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    runner_names = ", ".join(r.name for r in RUNNERS)

    run = sub.add_parser("run", help="run workloads x runners x repetitions and write results")
    opt = run.add_argument
    opt("--quick", action="store_true",
        help="small 'quick' suite, 1 repetition, nginx-http, disk (each overridable)")
    opt("--suite", choices=("local", "quick", "ec2"),
        help="workload suite (default: local, or ec2 with --bucket)")
    opt("--workloads", help="comma-separated name patterns, e.g. 'download-*,upload-2GiB-1x-disk'")
    opt("--storage", help="disk, memory or both (default both; --quick: disk)")
    opt("--runners", help=f"comma-separated (default: all available): {runner_names}")
    opt("--modes", default="default,matched", help="default, matched or both (default both)")
    opt("--repeat", type=int, help="repetitions per runner (default 5; --quick: 1)")
    opt("--targets", help=f"comma-separated: {', '.join(LOCAL_TARGETS)} or ec2 "
                          "(default: all local ones)")
    opt("--bucket", help="EC2 mode: bucket to use (created if missing)")
    opt("--region", help="EC2 mode: the bucket's region")
    opt("--endpoint-url", help="EC2 mode: an S3-compatible endpoint instead of AWS")
    opt("--ca-bundle", help="EC2 mode: CA bundle for --endpoint-url")
    opt("--allow-instance-credentials", action="store_true",
        help="EC2 mode: let runners use the instance role (the SDKs ask IMDS)")
    opt("--matched-concurrency", type=int, default=16,
        help="requests in flight in matched mode (default 16)")
    opt("--matched-part-size", default="8MiB", help="part size in matched mode (default 8MiB)")
    opt("--run-timeout", type=float,
        help="seconds before a run is killed (default 120 + 1 s per 20 MB)")
    opt("--out", help="output directory (default benchmarks/out/<date-time>)")
    opt("--data-dir", help="keep and reuse the generated source data here (default: temp, deleted)")
    opt("--tmp-dir", help="parent of server dirs, scratch and data (default: system temp)")
    opt("--subjects", help="runners compared against the others (default: the s3fast runners)")
    opt("--results-md", help="also write RESULTS.md here (e.g. benchmarks/RESULTS.md)")
    opt("--no-plots", action="store_true", help="skip the PNG plots")
    opt("--no-settle", action="store_true",
        help="do not sync and wait for an idle machine between runs (smoke runs only: "
             "figures then carry the previous run's leftover kernel work)")
    opt("--keep-page-reporting", action="store_true",
        help="leave the VM's free page reporting on (default: paused for the session, "
             "restored after; see machine.PageReportingPause)")

    rep = sub.add_parser("report", help="rebuild RESULTS.md and plots from a run's raw JSON")
    rep.add_argument("dir")
    rep.add_argument("--subjects", help="runners compared against the others (default: s3fast)")
    rep.add_argument("--results-md", help="also write RESULTS.md here")
    rep.add_argument("--no-plots", action="store_true")

    sub.add_parser("list", help="list workloads and runners (with availability)")
    return p


def _log(msg: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"{stamp} {msg}", file=sys.stderr, flush=True)


def write_outputs(
    out_dir: Path, *, subjects: list[str] | None, results_md: str | None, plots: bool
) -> Path:
    """(Re)build a run directory's ``RESULTS.md`` and PNGs from ``runs.jsonl`` + ``meta.json``."""
    records = read_records(out_dir)
    meta = read_meta(out_dir)
    names = make_plots(summarize(records), out_dir) if plots and records else []
    text = render_results_md(records, meta, subjects=subjects, plots=names)
    target = out_dir / "RESULTS.md"
    target.write_text(text)
    if results_md:
        # The run directory is gitignored: a committed RESULTS.md gets its plots copied
        # beside it (<dir>/<name>-plots/) so its image links keep working.
        dest = Path(results_md).resolve()
        rel = []
        if names:
            plot_dir = dest.parent / f"{dest.stem.lower()}-plots"
            plot_dir.mkdir(parents=True, exist_ok=True)
            for n in names:
                shutil.copyfile(out_dir / n, plot_dir / n)
                rel.append(os.path.relpath(plot_dir / n, dest.parent))
        dest.write_text(render_results_md(records, meta, subjects=subjects, plots=rel))
    return target


def _select_runners(names: list[str]) -> tuple[list[RunnerSpec], dict[str, str]]:
    specs = [get_runner(n) for n in names] if names else list(RUNNERS)
    usable, unavailable = [], {}
    for spec in specs:
        reason = spec.available()
        if reason is None:
            usable.append(spec)
        else:
            unavailable[spec.name] = reason
    return usable, unavailable


def _make_targets(
    names: Sequence[str], args: argparse.Namespace, data_root: Path, tmp: str
) -> dict[str, Target]:
    from .targets.nginx import NginxTarget
    from .targets.remote import RemoteTarget
    from .targets.seaweedfs import SeaweedTarget

    targets: dict[str, Target] = {}
    for name in names:
        if name in ("nginx-http", "nginx-https"):
            targets[name] = NginxTarget(
                data_root, https=name == "nginx-https", bucket=BUCKET, tmp_parent=tmp
            )
        elif name == "seaweedfs":
            targets[name] = SeaweedTarget(bucket=BUCKET, tmp_parent=tmp)
        elif name == "ec2":
            if not args.bucket or not args.region:
                raise SystemExit("the ec2 target needs --bucket and --region")
            targets[name] = RemoteTarget(
                bucket=args.bucket,
                region=args.region,
                endpoint_url=args.endpoint_url,
                ca_bundle=args.ca_bundle,
                allow_instance_credentials=args.allow_instance_credentials,
            )
        else:
            raise SystemExit(f"unknown target {name!r}")
    return targets


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    # Machine facts look at the environment as the user gave it, before we disable IMDS
    # for the SDKs below (the harness's own IMDS query has its own rules: see machine.py).
    facts_env = dict(os.environ)
    ec2 = bool(args.bucket)
    suite = args.suite or ("quick" if args.quick else "ec2" if ec2 else "local")
    repeat = args.repeat or (1 if args.quick else 5)
    target_names = _csv(args.targets) or (
        ["ec2"] if ec2 else list(QUICK_TARGETS) if args.quick else list(LOCAL_TARGETS)
    )
    storages = _csv(args.storage) or (list(QUICK_STORAGE) if args.quick else [])
    workloads: list[Workload] = select_workloads(
        load_workloads(), suite=suite, patterns=_csv(args.workloads), storages=storages
    )
    if not workloads:
        raise SystemExit("no workload matches")
    modes = _csv(args.modes)
    if not modes or any(m not in MODES for m in modes):
        raise SystemExit(f"--modes takes {', '.join(MODES)}")
    if not args.allow_instance_credentials:
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    runners, unavailable = _select_runners(_csv(args.runners))
    if not runners:
        why = "; ".join(f"{k}: {v}" for k, v in unavailable.items())
        raise SystemExit(f"no runner is available: {why}")
    settings = Settings(
        matched_concurrency=args.matched_concurrency,
        matched_part_size=parse_size(args.matched_part_size),
        run_timeout_s=args.run_timeout,
        allow_instance_credentials=args.allow_instance_credentials,
        settle=not args.no_settle,
    )
    runs, skipped = plan_runs(target_names, workloads, runners, modes, repeat)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else BENCH_DIR / "out" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = args.tmp_dir or tempfile.gettempdir()
    work = Path(tempfile.mkdtemp(prefix="s3fast-bench-", dir=tmp))
    data_root = Path(args.data_dir).resolve() if args.data_dir else work / "data"
    data_root.mkdir(parents=True, exist_ok=True)
    scratch = work / "scratch"
    scratch.mkdir()
    started = time.monotonic()
    meta: dict[str, Any] = {
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "invocation": shlex.join(["python", "-m", "benchmarks", *argv]),
        "suite": suite,
        "repeat": repeat,
        "modes": modes,
        "settings": {
            "matched_concurrency": settings.matched_concurrency,
            "matched_part_size": format_size(settings.matched_part_size),
            "run_timeout_s": settings.run_timeout_s,
            "settle": settings.settle,
        },
        "workloads": [w.name for w in workloads],
        "runners": [r.name for r in runners],
        "unavailable": unavailable,
        "skipped": [s.__dict__ for s in skipped],
        "planned_runs": len(runs),
        "machine": machine_facts(with_ec2="ec2" in target_names, env=facts_env),
        "versions": versions_of(runners),
    }
    write_meta(out_dir, meta)
    _log(f"{len(runs)} runs planned ({len(workloads)} workloads, {len(runners)} runners, "
         f"{len(modes)} modes, {repeat} repetitions, targets {', '.join(target_names)}) -> {out_dir}")
    targets = _make_targets(target_names, args, data_root, str(work))
    orch = Orchestrator(out_dir, data_root, scratch, targets, settings, log=_log)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    pause = PageReportingPause()
    if args.keep_page_reporting:
        pause.state = "left on (--keep-page-reporting)"
    else:
        pause.__enter__()
    meta["machine"]["free_page_reporting"] = pause.state
    write_meta(out_dir, meta)
    _log(f"free page reporting: {pause.state}")
    try:
        orch.execute(runs)
    except KeyboardInterrupt:
        interrupted = True
        _log("interrupted: stopping servers and writing what was measured")
    finally:
        meta["targets"] = {}
        for name, target in targets.items():
            try:
                meta["targets"][name] = target.facts()
            except Exception as exc:  # noqa: BLE001 - facts are nice to have
                meta["targets"][name] = {"error": str(exc)}
        stop_all(targets, _log)
        pause.__exit__(None, None, None)
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)
    meta["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta["duration_s"] = round(time.monotonic() - started, 1)
    meta["interrupted"] = interrupted
    for name in ("nginx-http", "nginx-https", "seaweedfs"):
        facts = meta["targets"].get(name, {})
        if facts.get("version"):
            meta["versions"][facts["server"]] = facts["version"]
    write_meta(out_dir, meta)
    results = write_outputs(
        out_dir, subjects=_csv(args.subjects) or None, results_md=args.results_md,
        plots=not args.no_plots,
    )
    _log(f"done in {meta['duration_s'] / 60:.1f} min: {results}")
    return 130 if interrupted else 0


def cmd_report(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    if not (out_dir / "runs.jsonl").exists():
        raise SystemExit(f"{out_dir} has no runs.jsonl")
    path = write_outputs(out_dir, subjects=_csv(args.subjects) or None, results_md=args.results_md,
                         plots=not args.no_plots)
    print(path)
    return 0


def cmd_list() -> int:
    print("workloads:")
    for w in load_workloads():
        size = format_size(w.object_size)
        print(f"  {w.name:32s} suite={w.suite:5s} {w.direction:8s} {w.count} x {size} {w.storage}")
    print("runners:")
    for spec in RUNNERS:
        reason = spec.available()
        state = "available" if reason is None else f"unavailable: {reason}"
        print(f"  {spec.name:18s} {spec.description:40s} {state}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args, argv)
    if args.command == "report":
        return cmd_report(args)
    return cmd_list()
