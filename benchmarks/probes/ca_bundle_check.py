"""What checking AWS_CA_BUNDLE costs a command, before and after it was skipped for plain HTTP.

    .venv/bin/python benchmarks/probes/ca_bundle_check.py [BUNDLE] [ROUNDS]

``old``: the check every command ran (a default SSL context, which loads the system CA
store, then the bundle parsed into it); ``new``: what a plain-HTTP endpoint now does (the
file exists). Each variant in a fresh interpreter, alternating, ROUNDS (default 8) each.
"""
from __future__ import annotations

import statistics
import subprocess
import sys

BUNDLE = sys.argv[1] if len(sys.argv) > 1 else "/etc/ssl/certs/ca-certificates.crt"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
OLD = ("import ssl, time; t = time.perf_counter(); "
       f"ssl.create_default_context().load_verify_locations(cafile={BUNDLE!r}); print(time.perf_counter() - t)")
NEW = ("import os, time; t = time.perf_counter(); "
       f"os.path.exists({BUNDLE!r}) and os.path.isfile({BUNDLE!r}); print(time.perf_counter() - t)")


def main() -> None:
    runs: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(ROUNDS):
        pairs = (("old", OLD), ("new", NEW)) if i % 2 == 0 else (("new", NEW), ("old", OLD))
        for name, code in pairs:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            runs[name].append(float(out))
    for name, v in runs.items():
        print(f"{name}: median {statistics.median(v) * 1000:.1f} ms (min {min(v) * 1000:.1f}, max {max(v) * 1000:.1f})")


if __name__ == "__main__":
    main()
