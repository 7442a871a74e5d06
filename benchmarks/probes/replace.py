"""Download the 2 GiB object onto a path that already holds a 2 GiB file, and report how long
the download took and the event loop's worst stall (a ticker every 5 ms), against a fresh
name. Before ``_rename.swap_in`` the rename over the old file stalled the loop 3.1-3.6 s here.

    replace.py URL [CA]        # env KEY (default big)
"""
import asyncio, os, sys, time
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
os.environ.setdefault("AWS_ACCESS_KEY_ID", "a"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "b")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
import s3fast

url = sys.argv[1]; ca = sys.argv[2] if len(sys.argv) > 2 else None
key = os.environ.get("KEY", "big")


async def ticker(gaps):
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        now = time.monotonic(); gaps.append(now - last); last = now


async def once(c, dest):
    gaps = []
    t = asyncio.ensure_future(ticker(gaps))
    t0 = time.monotonic()
    await c.download(f"s3://bench/{key}", dest)
    took = time.monotonic() - t0
    await asyncio.sleep(0.02)  # the ticker's next turn records a stall at the very end
    t.cancel()
    return took, max(gaps)


async def main():
    dest = PROBE + "/replace.bin"
    async with s3fast.Client(endpoint_url=url, region="us-east-1", ca_bundle=ca) as c:
        if not os.path.exists(dest):
            await c.download(f"s3://bench/{key}", dest)
        fresh = f"{PROBE}/fresh-{os.getpid()}.bin"
        for label, path in (("replace", dest), ("fresh", fresh)):
            took, gap = await once(c, path)
            print(f"{label}: download {took:.2f} s, worst loop stall {gap * 1000:.0f} ms")
        os.unlink(fresh)

s3fast.run(main())
