import os, mmap, time, resource, sys
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
from awscrt import checksums
SRC=PROBE + "/data/bench/big"; fd=os.open(SRC, os.O_RDONLY); SIZE=os.fstat(fd).st_size
def cpu():
    r=resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
def run(name, fn):
    t0=time.monotonic(); c0=cpu(); crc=fn(); t1=time.monotonic(); c1=cpu()
    print(f"{name}: {SIZE/(t1-t0)/1e9:.1f} GB/s user {(c1[0]-c0[0])/2:.3f} sys {(c1[1]-c0[1])/2:.3f} s/GiB crc={crc:x}")
W = int(sys.argv[1]) if len(sys.argv)>1 else 8<<20
def mm(flags_extra):
    crc=0
    for off in range(0, SIZE, W):
        with mmap.mmap(fd, W, flags=mmap.MAP_SHARED|flags_extra, prot=mmap.PROT_READ, offset=off) as m:
            v=memoryview(m); crc=checksums.crc64nvme(v, crc); v.release()
    return crc
def pread():
    buf=bytearray(1<<20); v=memoryview(buf); crc=0
    for off in range(0, SIZE, 1<<20):
        n=os.preadv(fd,[v],off); crc=checksums.crc64nvme(v[:n], crc)
    return crc
def madv():
    crc=0
    for off in range(0, SIZE, W):
        with mmap.mmap(fd, W, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=off) as m:
            m.madvise(mmap.MADV_WILLNEED)
            v=memoryview(m); crc=checksums.crc64nvme(v, crc); v.release()
    return crc
for i in range(2):
    run("mmap", lambda: mm(0)); run("mmap+populate", lambda: mm(mmap.MAP_POPULATE)); run("mmap+willneed", madv); run("pread 1MiB", pread)
