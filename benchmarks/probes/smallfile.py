"""1,000 x 64 KiB to disk: where the file work runs. ``path`` = s3fast's download to a path
(file written from the loop thread); ``inline`` = download to memory, then O_TMPFILE +
pwrite + linkat on the loop thread; ``thread`` = the same file work on a worker thread
(``THREADS``, default 1), so it overlaps the loop's network work."""
import asyncio, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "a"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "b")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
import s3fast
url, mode = sys.argv[1], sys.argv[2]
N = 1000
PROC = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)

def write_file(path, data):
    fd = os.open(os.path.dirname(path), os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o666)
    try:
        os.pwrite(fd, data, 0)
        os.link(str(fd), path, src_dir_fd=PROC)
    finally:
        os.close(fd)

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime

async def main():
    out = f"{PROBE}/sf-{mode}-{os.getpid()}"
    os.makedirs(out)
    pool = ThreadPoolExecutor(int(os.environ.get("THREADS", "1")))
    loop = asyncio.get_running_loop()
    async with s3fast.Client(endpoint_url=url, region="us-east-1") as c:
        await c.download("s3://bench/small/f0000", bytearray(65536))  # connect
        async def one(i):
            path = f"{out}/f{i:04d}"
            if mode == "path":
                await c.download(f"s3://bench/small/f{i:04d}", path)
                return
            buf = bytearray(65536)
            await c.download(f"s3://bench/small/f{i:04d}", buf)
            if mode == "inline":
                write_file(path, buf)
            else:
                await loop.run_in_executor(pool, write_file, path, buf)
        t0 = time.monotonic(); c0 = cpu()
        await asyncio.gather(*(one(i) for i in range(N)))
        t1 = time.monotonic(); c1 = cpu()
    print(f"{mode:7s} {N/(t1-t0):6.0f} obj/s  cpu {(c1-c0)/N*1e6:4.0f} us/object")
    pool.shutdown()

s3fast.run(main())
