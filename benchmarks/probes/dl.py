import os, sys, time, resource, mmap
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
os.environ.setdefault("AWS_ACCESS_KEY_ID","a"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY","b")
os.environ["AWS_EC2_METADATA_DISABLED"]="true"
if os.environ.get("SRC"):  # an older checkout, ahead of the editable install's finder (as small_ab.py)
    sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in type(f).__name__]
    sys.path.insert(0, os.environ["SRC"])
import s3fast
url, mode = sys.argv[1], sys.argv[2]
ca = sys.argv[3] if len(sys.argv) > 3 else None
SIZE = 2<<30
dest = PROBE + "/out.bin"
def cpu2():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
async def main():
    mc = int(os.environ["MC"]) if os.environ.get("MC") else None
    ps = int(os.environ.get("PS", 8<<20))
    cfg = s3fast.TransferConfig(write_thread=(mode != "inline"), max_concurrency=mc, part_size=ps, io_chunk_size=int(os.environ.get("IOC", 131072)), splice=os.environ.get("SPLICE", "1") == "1")
    async with s3fast.Client(endpoint_url=url, region="us-east-1", ca_bundle=ca, config=cfg) as c:
        if mode == "memory":
            buf = bytearray(SIZE)
        elif mode.startswith("mmap"):
            fd = os.open(dest, os.O_RDWR|os.O_CREAT|os.O_TRUNC, 0o644)
            os.ftruncate(fd, SIZE)
            flags = mmap.MAP_SHARED | (mmap.MAP_POPULATE if mode == "mmap-pop" else 0)
            buf = mmap.mmap(fd, SIZE, flags=flags)
        else:
            buf = dest
        t0 = time.monotonic(); c0 = cpu(); u0 = cpu2(); l0 = time.thread_time()
        r = await c.download("s3://bench/big", buf)
        if os.environ.get("SHOW"): print(r, c._transport.stats)
        l1 = time.thread_time()  # the loop thread's own CPU: its share is what bounds MB/s
        t1 = time.monotonic(); c1 = cpu(); u1 = cpu2(); print("user", u1[0]-u0[0], "sys", u1[1]-u0[1])
        print(f"{mode}: {SIZE/(t1-t0)/1e6:.0f} MB/s  cpu {(c1-c0)/(SIZE/2**30):.2f} s/GiB  loop thread {(l1-l0)/(SIZE/2**30):.2f}  maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024} MiB")
s3fast.run(main(), tune=os.environ.get("TUNE", "1") == "1")
