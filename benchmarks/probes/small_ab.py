"""CPU per small object, by layer, in one process: what the lean request path is tuned by.

    python benchmarks/probes/small_ab.py URL [rounds|layers] [mem|disk|up]
    SRC=/path/to/old/checkout python benchmarks/probes/small_ab.py URL ...   # an older s3fast

``rounds``: 1,000 x 64 KiB objects at once through ``Client`` (as the harness's small rows
do), six rounds after a warm-up; prints the minimum and median CPU-µs per object, of the
whole process and of the event loop's thread alone (``loop``). The minimum is the figure
to compare: this VM's speed swings by 2x within seconds. ``OBJ=mid`` runs 200 x 1 MiB
objects instead (``bench/mid/m000..m199``, ``$PROBE_DIR/mid`` for uploads).
``layers``: one request at a time on a warm connection, 500 per round, seven rounds: the
bare connection with a prebuilt head (``conn``), the same head built and signed per
request (``conn+sign``), ``Transport.call`` (slot, signing, pool, bookkeeping) and
``Client.download`` into a buffer. Differences between rows are what each layer costs in
place, where caches are cold: several times its micro-benchmark.
``PROFILE=N`` runs the rounds under cProfile (the loop thread) and prints the top N
functions by own time, per object.
Serve the data with ``probes/serve.py`` (objects ``bench/small/f0000..f0999``).
"""
import asyncio
import os
import resource
import shutil
import sys
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "a")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "b")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
if os.environ.get("SRC"):  # an older checkout, ahead of the editable install's finder
    sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in type(f).__name__]
    sys.path.insert(0, os.environ["SRC"])

import s3fast  # noqa: E402
from s3fast._transport import Request  # noqa: E402

PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
URL = sys.argv[1]
WHAT = sys.argv[2] if len(sys.argv) > 2 else "rounds"
MODE = sys.argv[3] if len(sys.argv) > 3 else "mem"
MID = os.environ.get("OBJ") == "mid"
N = 200 if MID else 1000
SIZE = (1 << 20) if MID else 65536


PROF = None
if os.environ.get("PROFILE"):
    import cProfile
    PROF = cProfile.Profile()


def name(i: int) -> str:
    return f"mid/m{i:03d}" if MID else f"small/f{i:04d}"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def rounds(c: s3fast.Client) -> None:
    bufs = [bytearray(SIZE) for _ in range(N)]
    out = f"{PROBE}/sdl"
    shutil.rmtree(out, ignore_errors=True)

    async def one(i: int, r: int) -> None:
        if MODE == "mem":
            await c.download(f"s3://bench/{name(i)}", bufs[i])
        elif MODE == "disk":
            await c.download(f"s3://bench/{name(i)}", f"{out}/{r}/{name(i)}")
        else:
            await c.upload(f"{PROBE}/{name(i)}", f"s3://bench/up/{name(i)}")

    os.makedirs(f"{out}/0/{name(0).split('/')[0]}", exist_ok=True)
    await asyncio.gather(*(one(i, 0) for i in range(N // 10)))
    res = []
    loop = []
    rates = []
    if PROF is not None:
        PROF.enable()
    for r in range(1, 7):
        os.makedirs(f"{out}/{r}/{name(0).split('/')[0]}", exist_ok=True)  # fresh names: no file replaced
        c0, l0, t0 = cpu(), time.thread_time(), time.monotonic()
        await asyncio.gather(*(one(i, r) for i in range(N)))
        res.append((cpu() - c0) / N * 1e6)
        loop.append((time.thread_time() - l0) / N * 1e6)
        rates.append(N / (time.monotonic() - t0))
    if PROF is not None:
        PROF.disable()
        import pstats
        st = pstats.Stats(PROF)
        total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
        print(f"profiled: {total / (6 * N) * 1e6:.0f} us/object under cProfile")
        st.sort_stats("tottime").print_stats(int(os.environ["PROFILE"]))
    res.sort()
    loop.sort()
    rates.sort()
    print(f"{MODE} {N}x{SIZE >> 10}KiB rounds: process min {res[0]:.0f} median {res[3]:.0f}, "
          f"loop min {loop[0]:.0f} median {loop[3]:.0f} CPU-us/object; "
          f"max {rates[-1]:.0f} median {rates[3]:.0f} objects/s")


async def layers(c: s3fast.Client) -> None:
    buf = bytearray(65536)
    view = memoryview(buf)
    t = c._transport
    pool = t.pool_for("bench")
    creds = await c.credentials.get()
    signed = t._head_bytes(Request("GET", "bench", "small/f0001", expect=(200,)), creds)

    async def conn_with(head_of):  # type: ignore[no-untyped-def]
        head = head_of()
        conn = pool.take_idle() or await pool.acquire()
        await conn.send_request(head, None)
        await conn.read_head()
        await conn.read_into(view)
        pool.release(conn)

    async def consume(conn, head):  # type: ignore[no-untyped-def]
        return await conn.read_into(view)

    modes = {
        "conn": lambda: conn_with(lambda: signed),
        "conn+sign": lambda: conn_with(lambda: t._head_bytes(Request("GET", "bench", "small/f0001", expect=(200,)), creds)),
        "call": lambda: t.call(Request("GET", "bench", "small/f0001", expect=(200,)), consume),
        "download": lambda: c.download("s3://bench/small/f0001", buf),
    }
    res: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(7):
        for m, f in modes.items():
            c0 = cpu()
            for _ in range(500):
                await f()
            res[m].append((cpu() - c0) / 500 * 1e6)
    for m, v in res.items():
        v.sort()
        print(f"{m:10s} min {v[0]:6.1f} median {v[3]:6.1f} CPU-us/request (one at a time)")


async def main() -> None:
    cfg = s3fast.TransferConfig(max_concurrency=8) if WHAT == "layers" else None
    async with s3fast.Client(endpoint_url=URL, region="us-east-1", ca_bundle=os.environ.get("CA"), config=cfg) as c:
        await (layers(c) if WHAT == "layers" else rounds(c))


s3fast.run(main())
