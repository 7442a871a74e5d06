"""The ``s3fast cp`` command line, one process per run (single objects, to and from disk).

The CLI copies one object per invocation, so it only runs the one-object disk workloads;
the many-object workloads belong to the API runner. Throughput uses the process wall time
(start-up included, as a shell user pays it); the CLI's own ``seconds`` is kept beside it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .._units import format_size
from .base import Job, RunnerOutput
from .s3fast_common import available_cli, output_from_cli, parse_cli_json
from .s3fast_common import version as _version


def version() -> str:
    return _version()


def available() -> str | None:
    return available_cli()


def base_argv() -> list[str]:
    """The ``s3fast`` console script beside this interpreter, else the module's ``main``."""
    script = Path(sys.executable).parent / "s3fast"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from s3fast.cli import main; sys.exit(main())"]


def command(job: Job, workdir: Path) -> tuple[list[str], dict[str, str]]:
    if len(job.keys) != 1 or job.storage != "disk":
        raise ValueError("the s3fast CLI runner handles one object to or from disk")
    ep = job.endpoint
    url = job.url(0)
    src, dst = (job.paths[0], url) if job.direction == "upload" else (url, job.paths[0])
    argv = base_argv() + ["cp", src, dst, "--json", "--region", ep.region]
    if ep.endpoint_url:
        argv += ["--endpoint-url", ep.endpoint_url]
    if ep.ca_bundle:
        argv += ["--ca-bundle", ep.ca_bundle]
    if job.mode == "matched":
        assert job.concurrency is not None and job.part_size is not None
        argv += ["--concurrency", str(job.concurrency), "--part-size", format_size(job.part_size)]
    return argv, {}


def parse(job: Job, stdout: str, stderr: str) -> RunnerOutput:
    return output_from_cli(parse_cli_json(stdout))
