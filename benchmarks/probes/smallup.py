import os, sys, time, resource, asyncio
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
os.environ.setdefault("AWS_ACCESS_KEY_ID","a"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY","b")
os.environ["AWS_EC2_METADATA_DISABLED"]="true"
import s3fast
url = sys.argv[1]; direction = sys.argv[2]; ca = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
N = 1000
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def us():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
async def main():
    async with s3fast.Client(endpoint_url=url, region="us-east-1", ca_bundle=ca) as c:
        os.makedirs(PROBE + "/sdl", exist_ok=True)
        t0 = time.monotonic(); c0 = cpu(); u0 = us()
        if direction == "up":
            await asyncio.gather(*(c.upload(f"{PROBE}/small/f{i:04d}", f"s3://bench/up/f{i:04d}") for i in range(N)))
        elif direction == "mem":
            bufs = [bytearray(65536) for i in range(N)]
            await asyncio.gather(*(c.download(f"s3://bench/small/f{i:04d}", bufs[i]) for i in range(N)))
        else:
            await asyncio.gather(*(c.download(f"s3://bench/small/f{i:04d}", f"{PROBE}/sdl/f{i:04d}") for i in range(N)))
        t1 = time.monotonic(); c1 = cpu(); u1 = us(); print(f"user {(u1[0]-u0[0])/N*1e6:.0f} sys {(u1[1]-u0[1])/N*1e6:.0f} us/obj", end="  ")
        print(f"{direction}: {N/(t1-t0):.0f} obj/s  cpu {(c1-c0)/N*1e6:.0f} us/object")
if os.environ.get("GCF"): import gc; gc.freeze()
if os.environ.get("GCD"): import gc; gc.disable()
if os.environ.get("PROFILE"):
    import cProfile, pstats
    cProfile.run("s3fast.run(main())", PROBE + "/small.prof")
    pstats.Stats(PROBE + "/small.prof").sort_stats("tottime").print_stats(25)
else:
    s3fast.run(main())
