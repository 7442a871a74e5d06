"""1,000 x 64 KiB downloaded to files through one Client: the file batcher against files
written from the loop.

    smallbatch.py URL [CA]            # batch_small_files=True (the default)
    BATCH=0 smallbatch.py URL [CA]    # every file created, written and named on the loop

Alternate the two, several pairs: this VM's speed swings by 2x. Each run writes into a
new directory under PROBE_DIR and leaves it (delete them all afterwards, not between
runs: ext4 skips recently freed inodes, so a run right after a deletion of 1,000 files
creates its own several times slower). Session 7, HTTP, alternated pairs: 2,160-4,870
objects/s from the loop against 3,640-5,900 batched; HTTPS 2,210-3,960 against
2,930-4,600.
"""
import asyncio
import os
import resource
import sys
import time
import uuid

os.environ.setdefault("AWS_ACCESS_KEY_ID", "a")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "b")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
import s3fast  # noqa: E402

PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
URL = sys.argv[1]
CA = sys.argv[2] if len(sys.argv) > 2 else None
N = 1000


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main() -> None:
    out = f"{PROBE}/batch-{uuid.uuid4().hex[:8]}"
    os.makedirs(out)
    cfg = s3fast.TransferConfig(batch_small_files=os.environ.get("BATCH", "1") == "1")
    async with s3fast.Client(endpoint_url=URL, region="us-east-1", ca_bundle=CA, config=cfg) as c:
        # Warm-up into memory: connections and code paths, no files.
        await asyncio.gather(*(c.download(f"s3://bench/small/f{i:04d}", bytearray()) for i in range(50)))
        t0, c0 = time.monotonic(), cpu()
        await asyncio.gather(*(c.download(f"s3://bench/small/f{i:04d}", f"{out}/f{i:04d}") for i in range(N)))
        t1, c1 = time.monotonic(), cpu()
        batches = c.batcher.batches if c.batcher is not None else 0
    print(f"{'batched' if cfg.expert.batch_small_files else 'on the loop'}: {N / (t1 - t0):.0f} objects/s, "
          f"{(c1 - c0) / N * 1e6:.0f} CPU-us/object (both threads), {batches} batches")


s3fast.run(main())
