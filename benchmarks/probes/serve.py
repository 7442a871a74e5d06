"""Start the probes' servers: nginx over HTTP and HTTPS on loopback, serving $PROBE_DIR/data.

Creates the data once: bench/big (2 GiB), bench/small/f0000..f0999 (64 KiB each),
bench/mid/m000..m199 (1 MiB each) and the same small and mid files under $PROBE_DIR/small
and $PROBE_DIR/mid for uploads. Prints "URL CA" per line (CA only for
HTTPS), then serves until killed.
"""
import os
import signal
import sys
from pathlib import Path

PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.targets.nginx import NginxTarget  # noqa: E402

root = Path(PROBE) / "data"
(root / "bench" / "small").mkdir(parents=True, exist_ok=True)
(Path(PROBE) / "small").mkdir(parents=True, exist_ok=True)
(root / "bench" / "mid").mkdir(parents=True, exist_ok=True)
(Path(PROBE) / "mid").mkdir(parents=True, exist_ok=True)
big = root / "bench" / "big"
if not big.exists() or big.stat().st_size != 2 << 30:
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(2048):  # every MiB different, so a misplaced chunk shows
            f.write(block[:-8] + i.to_bytes(8, "little"))
small = os.urandom(65536)
for i in range(1000):
    for d in (root / "bench" / "small", Path(PROBE) / "small"):
        p = d / f"f{i:04d}"
        if not p.exists():
            p.write_bytes(small[:-4] + i.to_bytes(4, "little"))
mid = os.urandom(1 << 20)
for i in range(200):
    for d in (root / "bench" / "mid", Path(PROBE) / "mid"):
        p = d / f"m{i:03d}"
        if not p.exists():
            p.write_bytes(mid[:-4] + i.to_bytes(4, "little"))
for https in (False, True):
    ep = NginxTarget(root, https=https, bucket="bench").start()
    print(ep.endpoint_url, ep.ca_bundle or "", flush=True)
signal.pause()
