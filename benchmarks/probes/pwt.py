import os, time, resource, sys, threading
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime+ r.ru_stime
nth = int(sys.argv[1]); chunk = int(sys.argv[2]); SIZE=2<<30
fd = os.open(PROBE + "/pw.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)
os.ftruncate(fd, SIZE)
part = SIZE // nth
def w(i):
    mv = memoryview(bytearray(os.urandom(chunk)))
    off = i*part
    while off < (i+1)*part:
        os.pwrite(fd, mv, off); off += chunk
t0=time.monotonic(); c0=cpu()
ts=[threading.Thread(target=w,args=(i,)) for i in range(nth)]
[t.start() for t in ts]; [t.join() for t in ts]
t1=time.monotonic(); c1=cpu()
print(nth, chunk, f"{SIZE/(t1-t0)/1e6:.0f} MB/s cpu {(c1-c0)/2:.2f} s/GiB")
os.close(fd); os.unlink(PROBE + "/pw.bin")
