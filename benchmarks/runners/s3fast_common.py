"""What the s3fast API and CLI runners share: availability, version and result parsing.

s3fast is being written alongside this harness, so everything optional in its results is
read tolerantly: a field that is absent stays None in the report rather than failing the
run. The CLI's ``--json`` object has ``bytes``, ``seconds``, ``mb_per_s``, ``parts``,
``requests``, ``retries``, ``per_ip`` and ``native``; latency percentiles are picked up from
``latency_ms``/``ttfb_ms`` (``{"p50":..,"p90":..,"p99":..}``) or raw sample lists
(``latencies_ms``/``ttfb_samples_ms``) when present.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..stats import latency_summary
from .base import RunnerOutput

# Attribute names under which s3fast may say whether its compiled core is loaded.
_NATIVE_FLAGS = ("NATIVE", "native", "HAS_NATIVE", "HAVE_NATIVE")


def available_api() -> str | None:
    try:
        import s3fast
    except ImportError as exc:
        return f"s3fast not importable: {exc}"
    missing = [n for n in ("Client", "TransferConfig") if not hasattr(s3fast, n)]
    if missing:
        return f"s3fast has no {', '.join(missing)} yet"
    return None


def available_cli() -> str | None:
    try:
        import s3fast.cli as cli
    except ImportError as exc:
        return f"s3fast.cli not importable: {exc}"
    if not callable(getattr(cli, "main", None)):
        return "s3fast.cli has no main() yet"
    return None


def compiled_core_missing() -> str | None:
    """None when s3fast's compiled extensions are built (looked up as files, so the answer
    does not depend on this process's S3FAST_NO_EXTENSIONS)."""
    import importlib.machinery
    import importlib.util

    spec = importlib.util.find_spec("s3fast._native")
    if spec is None or not spec.submodule_search_locations:
        return "s3fast._native not found"
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for location in spec.submodule_search_locations:
        if any(p.name.endswith(suffixes) for p in Path(location).iterdir()):
            return None
    return "s3fast's compiled core is not built (run scripts/bootstrap or setup.py build_ext)"


def version() -> str:
    try:
        import s3fast
    except ImportError:
        return "not installed"
    return str(getattr(s3fast, "__version__", None) or _version_module())


def _version_module() -> str:
    try:
        from s3fast._version import __version__

        return str(__version__)
    except ImportError:
        return "unknown"


def native_flag(module: Any) -> bool | None:
    """Whether s3fast says its compiled core is loaded (None: it does not say)."""
    for name in _NATIVE_FLAGS:
        value = getattr(module, name, None)
        if isinstance(value, bool):
            return value
    mode = getattr(module, "IMPLEMENTATION", None)
    if mode in ("native", "pure"):
        return mode == "native"
    impl = getattr(module, "_impl", None)
    value = getattr(impl, "NATIVE", None)
    return value if isinstance(value, bool) else None


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _latency(obj: Any, summary_key: str, samples_key: str) -> dict[str, Any] | None:
    summary = _get(obj, summary_key)
    if isinstance(summary, Mapping) and "p50" in summary:
        out = {k: summary[k] for k in ("p50", "p90", "p99", "max", "count") if k in summary}
        out["scope"] = str(summary.get("scope", "request"))
        return out
    samples = _get(obj, samples_key)
    if isinstance(samples, (list, tuple)) and samples:
        return latency_summary([float(s) for s in samples], "request")
    return None


def merge_per_ip(items: Iterable[Any]) -> dict[str, dict[str, int]] | None:
    merged: dict[str, dict[str, int]] = {}
    seen = False
    for per_ip in items:
        if not isinstance(per_ip, Mapping):
            continue
        seen = True
        for ip, stats in per_ip.items():
            slot = merged.setdefault(str(ip), {"requests": 0, "bytes": 0, "errors": 0})
            for k in slot:
                slot[k] += int(stats.get(k, 0) or 0) if isinstance(stats, Mapping) else 0
    return merged if seen else None


def _sum(values: Iterable[Any]) -> int | None:
    nums = [int(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(nums) if nums else None


def output_from_results(results: list[Any]) -> RunnerOutput:
    """Fold the per-object results of the API (``.bytes``, ``.seconds``, optional stats)."""
    out = RunnerOutput(
        bytes=_sum(_get(r, "bytes") for r in results),
        requests=_sum(_get(r, "requests") for r in results),
        retries=_sum(_get(r, "retries") for r in results),
        parts=_sum(_get(r, "parts") for r in results),
        per_ip=merge_per_ip(_get(r, "per_ip") for r in results),
    )
    if len(results) == 1:
        out.latency_ms = _latency(results[0], "latency_ms", "latencies_ms")
        out.ttfb_ms = _latency(results[0], "ttfb_ms", "ttfb_samples_ms")
    return out


def parse_cli_json(stdout: str) -> dict[str, Any]:
    """The last line of ``stdout`` that parses as a JSON object (the ``--json`` summary)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    # Pretty-printed JSON spans lines: try the whole output.
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ValueError("s3fast --json printed no JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("s3fast --json printed JSON that is not an object")
    return data


def output_from_cli(data: Mapping[str, Any]) -> RunnerOutput:
    seconds = data.get("seconds")
    return RunnerOutput(
        seconds=None,  # the process wall time is the CLI's cost; its own figure goes to extra
        bytes=int(data["bytes"]) if isinstance(data.get("bytes"), (int, float)) else None,
        requests=_sum([data.get("requests")]),
        retries=_sum([data.get("retries")]),
        parts=_sum([data.get("parts")]),
        per_ip=merge_per_ip([data.get("per_ip")]),
        native=data.get("native") if isinstance(data.get("native"), bool) else None,
        latency_ms=_latency(data, "latency_ms", "latencies_ms"),
        ttfb_ms=_latency(data, "ttfb_ms", "ttfb_samples_ms"),
        extra={"self_reported_seconds": seconds, "self_reported_mb_per_s": data.get("mb_per_s")},
    )
