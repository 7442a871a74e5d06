"""Entry point of a Python runner's own process: ``python -m benchmarks.runners.child JOB OUT MODULE``.

Reads the :class:`~benchmarks.runners.base.Job` JSON, calls ``MODULE.run(job)`` and writes the
:class:`~benchmarks.runners.base.RunnerOutput` JSON to ``OUT`` (a file, not stdout, so that
whatever a library prints cannot corrupt the result).
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from ..procs import read_vm_hwm_kib
from .base import Job, write_output


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m benchmarks.runners.child JOB.json OUT.json MODULE", file=sys.stderr)
        return 2
    job_path, out_path, module_name = argv[1:]
    job = Job.from_json(json.loads(Path(job_path).read_text()))
    module = importlib.import_module(module_name)
    output = module.run(job)
    output.vm_hwm_kib = read_vm_hwm_kib()
    write_output(out_path, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
