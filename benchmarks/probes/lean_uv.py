import os, time, resource, sys, asyncio
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
import uvloop
port = int(sys.argv[1].rsplit(":",1)[1]); N = int(sys.argv[2]); CH = int(sys.argv[3]); SIZE = 2<<30
fd = os.open(PROBE + "/out.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
part = SIZE // N
class P(asyncio.BufferedProtocol):
    def __init__(s, off, n, done):
        s.off = off; s.left = n; s.head = True; s.buf = bytearray(CH); s.mv = memoryview(s.buf); s.done = done
    def get_buffer(s, hint): return s.mv
    def buffer_updated(s, n):
        body = s.mv[:n]
        if s.head:
            e = bytes(body).find(b"\r\n\r\n"); body = body[e+4:]; s.head = False
        if body:
            os.pwrite(fd, body, s.off); s.off += len(body); s.left -= len(body)
        if s.left == 0: s.done.set_result(None); s.t.close()
    def connection_made(s, t): s.t = t
    def connection_lost(s, e): pass
async def main():
    loop = asyncio.get_running_loop(); futs = []
    for i in range(N):
        f = loop.create_future(); futs.append(f)
        t, p = await loop.create_connection(lambda i=i, f=f: P(i*part, part, f), "127.0.0.1", port)
        t.write(f"GET /bench/big HTTP/1.1\r\nHost: x\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode())
    await asyncio.gather(*futs)
t0 = time.monotonic(); c0 = cpu()
(uvloop.run if sys.argv[4] == "uv" else asyncio.run)(main())
t1 = time.monotonic(); c1 = cpu()
print(f"lean-{sys.argv[4]} N={N}: {SIZE/(t1-t0)/1e6:.0f} MB/s user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f} s/GiB")
