"""Run the micro-benchmarks and print native-vs-pure speed-ups."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "micro.json"
        subprocess.run([sys.executable, "-m", "pytest", str(here), "-q", "-p", "no:cacheprovider",
                        f"--benchmark-json={out}", "--benchmark-columns=median"], check=True)
        data = json.loads(out.read_text())
    medians: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        name, impl = b["name"].split("[")
        medians.setdefault(name, {})[impl.rstrip("]")] = b["stats"]["median"]
    print("\n| case | pure (us) | native (us) | speed-up |\n|---|---|---|---|")
    for name, m in medians.items():
        pure, native = m.get("pure"), m.get("native")
        if pure and native:
            print(f"| {name} | {pure * 1e6:.2f} | {native * 1e6:.2f} | {pure / native:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
