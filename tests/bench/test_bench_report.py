"""Reports rebuilt from canned raw JSON: RESULTS.md tables, ratios and PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks._cli import main, write_outputs
from benchmarks.results import META_FILE, RUNS_FILE, RunRecord, read_records

META = {
    "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:10:00+00:00",
    "duration_s": 600,
    "invocation": "python -m benchmarks run --quick",
    "settings": {"matched_concurrency": 16, "matched_part_size": "8MiB"},
    "machine": {"vcpus": 2, "cpu_model": "Test CPU", "ec2": {"instance_type": "c5n.18xlarge"}},
    "versions": {"awscrt": "0.38.1", "s5cmd": "v2.3.0", "s3fast-native": "0.1.0"},
    "targets": {"nginx-http": {"server": "nginx", "version": "1.22.1"}},
    "unavailable": {"boto3-crt": "s3transfer.crt not importable"},
    "skipped": [{"runner": "s5cmd", "workload": "upload-1MiB-2x-memory", "reason": "s5cmd has no memory mode"}],
}


def _line(runner: str, rep: int, seconds: float | None, **kw: object) -> dict[str, object]:
    record = {
        "run_id": f"r-{runner}-{rep}", "target": "nginx-http", "workload": "download-1GiB-1x-disk",
        "direction": "download", "storage": "disk", "object_size": 1 << 30, "count": 1,
        "runner": runner, "mode": "default", "label": runner, "rep": rep, "ok": True,
        "verified": True, "verify_detail": "all files match", "seconds": seconds,
        "seconds_source": "runner", "user_s": 1.0, "sys_s": 0.5, "maxrss_kib": 51200,
        "output": {"ttfb_ms": {"p50": 1.5, "p90": 2.5, "p99": 3.5, "scope": "object"}},
        "metrics": {"ignored": "derived again on load"}, "a_future_field": 1,
    }
    record["process_wall_s"] = seconds or 0.0  # executables: the process is the region
    record.update(kw)
    return record


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    # s3fast's process lives 1 s longer than its timed region (start-up), and its region
    # costs 0.5 of its 1.5 CPU-s; s5cmd's region is its process.
    fast = {"process_wall_s": 2.0, "cpu_s_timed": 0.5}
    lines = [
        _line("s3fast-native", 0, 1.0, **fast), _line("awscrt", 0, 2.0), _line("s5cmd", 0, 4.0, seconds_source="process"),
        _line("s3fast-native", 1, 1.0, **fast), _line("awscrt", 1, 1.0), _line("s5cmd", 1, 2.0, seconds_source="process"),
        _line("s3fast-native", 2, None, ok=False, verified=None, error="exit 1: boom"),
        _line("awscrt", 2, 1.0),
    ]
    (tmp_path / RUNS_FILE).write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / META_FILE).write_text(json.dumps(META))
    return tmp_path


def test_records_load_from_canned_json_ignoring_unknown_fields(run_dir: Path) -> None:
    records = read_records(run_dir)
    assert len(records) == 8 and all(isinstance(r, RunRecord) for r in records)
    assert records[0].metrics()["mb_per_s"] == pytest.approx((1 << 30) / 1e6)


def test_results_md_has_facts_table_ratios_and_plots(run_dir: Path) -> None:
    path = write_outputs(run_dir, subjects=None, results_md=None, plots=True)
    text = path.read_text()
    assert "- Invocation: `python -m benchmarks run --quick`" in text
    assert "- cpu_model: Test CPU" in text and "instance_type: c5n.18xlarge" in text
    assert "- s5cmd: v2.3.0" in text and "## nginx-http" in text
    row = next(line for line in text.splitlines() if line.startswith("| download-1GiB-1x-disk | s3fast-native |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "537 (537–537)"  # whole process: 2^30 B in 2 s, both usable runs
    assert cells[3] == "1,074"  # in region: 2^30 B in 1 s
    assert cells[4] == "0.5" and cells[5] == "2.00"  # objects/s and wall s, whole process
    assert cells[6] == "1.50 (1.50–1.50)" and cells[7] == "0.50"  # CPU-s/GiB whole, in region
    assert cells[8] == "50"  # peak RSS MiB
    assert cells[10] == "1.5/2.5/3.5 (object)"  # TTFB
    assert cells[-1] == "2/1" and cells[-2] == "yes"
    s5 = next(line for line in text.splitlines() if line.startswith("| download-1GiB-1x-disk | s5cmd |"))
    assert [c.strip() for c in s5.strip("|").split("|")][7] == "1.50"  # its region is its process
    # Pair by pair, whole process: vs awscrt 2/2 and 1/2 -> median 0.75, vs s5cmd 4/2 and 2/2
    # -> 1.5; in region (beside): 2/1 and 1/1 -> 1.5, 4/1 and 2/1 -> 3.0. CPU: 1.5/1.5 whole;
    # in region 0.5 against awscrt's none (–) and s5cmd's process (1.5).
    assert ("| nginx-http | download-1GiB-1x-disk | default | s3fast-native | awscrt | 0.75 (0.50–1.00) | "
            "1.00 (1.00–1.00) | 1.50 | – | 2 |") in text
    assert ("| nginx-http | download-1GiB-1x-disk | default | s3fast-native | s5cmd | 1.50 (1.00–2.00) | "
            "1.00 (1.00–1.00) | 3.00 | 0.33 | 2 |") in text
    assert "- boto3-crt: s3transfer.crt not importable" in text
    assert "- s5cmd on upload-1MiB-2x-memory: s5cmd has no memory mode" in text
    assert "exit 1: boom" in text
    for png in ("mb_per_s-nginx-http.png", "cpu_s_per_gib-nginx-http.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text


def test_report_command_with_other_subjects_and_a_copy(run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy" / "RESULTS.md"
    copy.parent.mkdir()
    assert main(["report", str(run_dir), "--subjects", "awscrt", "--results-md", str(copy), "--no-plots"]) == 0
    assert capsys.readouterr().out.strip().endswith("RESULTS.md")
    text = copy.read_text()
    assert "(subjects: awscrt)" in text
    assert "| default | awscrt | s5cmd | 2.00 (2.00–2.00) |" in text
    assert "| awscrt | s3fast-native |" in text
    assert not list(run_dir.glob("*.png"))
    # With plots, a RESULTS.md written elsewhere gets them copied beside it.
    assert main(["report", str(run_dir), "--results-md", str(copy)]) == 0
    copied = sorted(p.name for p in (copy.parent / "results-plots").iterdir())
    assert copied == ["cpu_s_per_gib-nginx-http.png", "mb_per_s-nginx-http.png"]
    assert "](results-plots/mb_per_s-nginx-http.png)" in copy.read_text()
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path / "nowhere")])
