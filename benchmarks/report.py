"""Markdown from summaries (pure text generation): the results table, ratios, RESULTS.md.

``render_report`` is what ``python -m benchmarks report DIR`` writes to ``DIR/report.md``;
``render_results_md`` adds the date, machine facts, versions and exact invocation and is
what goes to ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from .results import RunRecord
from .stats import Spread
from .summary import (
    GroupSummary,
    RatioSummary,
    compute_ratios,
    default_subjects,
    native_vs_pure,
    summarize,
)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100 or digits == 0:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _spread(s: Spread | None, digits: int = 1) -> str:
    if s is None:
        return "–"
    if s.n == 1:
        return _num(s.median, digits)
    return f"{_num(s.median, digits)} ({_num(s.min, digits)}–{_num(s.max, digits)})"


def _pcts(p: dict[str, Any] | None) -> str:
    if not p:
        return "–"
    vals = "/".join(_num(p.get(k), 1) for k in ("p50", "p90", "p99"))
    return f"{vals} ({p.get('scope', 'request')})"


def _median(s: Spread | None) -> float | None:
    return s.median if s else None


def results_table(groups: Sequence[GroupSummary], target: str) -> str:
    header = (
        "| workload | runner | MB/s whole process median (min–max) | MB/s in region | "
        "objects/s whole process | wall s whole process | CPU-s/GiB whole process (min–max) | "
        "CPU-s/GiB in region | peak RSS MiB | latency p50/p90/p99 ms | TTFB p50/p90/p99 ms | "
        "retries | verified | runs ok/failed |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for g in groups:
        if g.target != target:
            continue
        rows.append(
            f"| {g.workload} | {g.label} | {_spread(g.get('mb_per_s_process'))} | "
            f"{_num(_median(g.get('mb_per_s')), 1)} | {_num(_median(g.get('objects_per_s_process')), 1)} | "
            f"{_num(_median(g.get('wall_s_process')), 2)} | "
            f"{_spread(g.get('cpu_s_per_gib'), 2)} | {_num(_median(g.get('cpu_s_region_per_gib')), 2)} | "
            f"{_num(_median(g.get('peak_rss_mib')), 0)} | {_pcts(g.latency_ms)} | {_pcts(g.ttfb_ms)} | "
            f"{'–' if g.retries is None else g.retries} | {g.verified} | {g.n_ok}/{g.n_fail} |"
        )
    return header + "\n".join(rows) + "\n"


def ratios_table(ratios: Sequence[RatioSummary]) -> str:
    if not ratios:
        return "_No ratios: no subject runner has usable runs paired with a peer._\n"
    header = (
        "| target | workload | mode | runner | vs | throughput ratio, whole process, median (min–max) | "
        "CPU-s/GiB ratio, whole process, median (min–max) | throughput ratio in region | "
        "CPU-s/GiB ratio in region | pairs |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| {r.target} | {r.workload} | {r.mode} | {r.subject} | {r.peer} | "
        f"{_spread(r.throughput, 2)} | {_spread(r.cpu, 2)} | {_num(_median(r.throughput_region), 2)} | "
        f"{_num(_median(r.cpu_region), 2)} | {r.pairs} |"
        for r in ratios
    ]
    return header + "\n".join(rows) + "\n"


def per_ip_section(groups: Sequence[GroupSummary]) -> str:
    lines = []
    for g in groups:
        if not g.per_ip:
            continue
        total = sum(v["requests"] for v in g.per_ip.values()) or 1
        spread_txt = ", ".join(
            f"{ip}: {v['requests']} req ({100 * v['requests'] / total:.0f}%), {v['errors']} err"
            for ip, v in sorted(g.per_ip.items())
        )
        lines.append(f"- {g.target} / {g.workload} / {g.label}: {spread_txt}")
    return "\n".join(lines) + "\n" if lines else "_No runner reported a per-IP breakdown._\n"


def failures_section(groups: Sequence[GroupSummary]) -> str:
    lines = []
    for g in groups:
        for err in g.errors:
            lines.append(f"- {g.target} / {g.workload} / {g.label}: {err.replace(chr(10), ' ')}")
    return "\n".join(lines) + "\n" if lines else "_None._\n"


def render_report(
    records: Sequence[RunRecord],
    meta: dict[str, Any],
    *,
    subjects: Iterable[str] | None = None,
    plots: Sequence[str] = (),
) -> str:
    groups = summarize(records)
    subj = set(subjects) if subjects else default_subjects(records)
    ratios = compute_ratios(records, subj)
    targets = sorted({g.target for g in groups})
    parts = ["# Benchmark report\n", METHOD_NOTES]
    for target in targets:
        facts = meta.get("targets", {}).get(target, {})
        desc = ", ".join(f"{k}: {v}" for k, v in facts.items() if v not in (None, ""))
        parts.append(f"## {target}\n\n{desc}\n\n" if desc else f"## {target}\n\n")
        parts.append(results_table(groups, target))
        for plot in plots:
            if f"-{target}." in plot:
                parts.append(f"\n![{plot}]({plot})\n")
        parts.append("\n")
    parts.append(f"## Ratios, pair by pair (subjects: {', '.join(sorted(subj)) or 'none'})\n\n")
    parts.append(
        "Throughput ratio above 1: the subject is faster. CPU ratio below 1: the subject "
        "spends less CPU per GiB. Whole process first (start-up included), the timed region "
        "beside it.\n\n"
    )
    parts.append(ratios_table(ratios))
    twins = native_vs_pure(records)
    if twins:
        parts.append("\n## s3fast compiled core vs pure Python, pair by pair\n\n")
        parts.append(ratios_table(twins))
    parts.append("\n## Requests per server IP\n\n" + per_ip_section(groups))
    skipped = meta.get("skipped") or []
    unavailable = meta.get("unavailable") or {}
    if skipped or unavailable:
        parts.append("\n## Not run\n\n")
        for name, reason in sorted(unavailable.items()):
            parts.append(f"- {name}: {reason}\n")
        for s in skipped:
            parts.append(f"- {s['runner']} on {s['workload']}: {s['reason']}\n")
    parts.append("\n## Failed or unverified runs\n\n" + failures_section(groups))
    return "".join(parts)


METHOD_NOTES = """
How to read this: every run is its own process, and every figure has two views. *Whole
process* is from fork/exec to exit as the harness measures the child (wall clock, and user+sys
from `wait4`): interpreter start-up, imports and client set-up count, for every runner alike
(s3fast's API runs in a child process too), as they do for a user; the ratios are judged on
it. *In region* is the runner's own timed region: Python runners from the first request to
the last completion (client set-up excluded, CPU from `getrusage` around it); command-line
runners (s5cmd, `s3fast cp`) have no other region than the process. Memory workloads' whole
process also includes reading the sources into RAM (uploads) or checksumming the buffers
(downloads), the same for every Python runner (s5cmd and the CLI have no memory mode).
MB/s is 10^6 B/s. Peak RSS is the child's own `VmHWM` (not `ru_maxrss`, which includes the
harness's RSS at fork). Latency/TTFB scope "object" means per object from
submission (queueing included), "request" means per HTTP request as the runner reports it.
Downloads are verified byte for byte (CRC64-NVME against the source) outside the timed region;
uploads are verified by listing sizes where the target stores them ("sink": nginx discards).
Medians over repetitions, with min–max.

"""


def render_results_md(
    records: Sequence[RunRecord],
    meta: dict[str, Any],
    *,
    subjects: Iterable[str] | None = None,
    plots: Sequence[str] = (),
) -> str:
    lines = ["# s3fast benchmark results\n"]
    lines.append(f"- Date: {meta.get('finished_at') or meta.get('started_at', 'unknown')}")
    if meta.get("duration_s") is not None:
        lines.append(f"- Duration: {meta['duration_s'] / 60:.1f} min")
    lines.append(f"- Invocation: `{meta.get('invocation', 'unknown')}`")
    settings = meta.get("settings") or {}
    if settings:
        lines.append("- Settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    machine = meta.get("machine") or {}
    if machine:
        lines.append("\n## Machine\n")
        for k, v in machine.items():
            if isinstance(v, dict):
                v = ", ".join(f"{kk}: {vv}" for kk, vv in v.items())
            lines.append(f"- {k}: {v}")
    versions = meta.get("versions") or {}
    if versions:
        lines.append("\n## Versions\n")
        for k, v in sorted(versions.items()):
            lines.append(f"- {k}: {v}")
    body = render_report(records, meta, subjects=subjects, plots=plots)
    body = body.replace("# Benchmark report\n", "", 1)
    return "\n".join(lines) + "\n" + body
