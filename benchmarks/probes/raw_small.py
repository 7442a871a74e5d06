"""Floor for many small GETs from Python: 1,000 x 64 KiB over C keep-alive connections on
uvloop, with a ``BufferedProtocol``, prebuilt unsigned request heads and a one-line
response parse; each body copied into its own buffer. No signing, retries, pools, results:
what s3fast's per-object machinery is measured against (``smallup.py URL mem``)."""
import asyncio, os, resource, sys, time
from urllib.parse import urlparse

import uvloop

u = urlparse(sys.argv[1]); N = 1000; C = int(os.environ.get("C", "8"))
SIZE = 65536


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime


class Conn(asyncio.BufferedProtocol):
    def __init__(self):
        self.buf = bytearray(256 * 1024); self.mv = memoryview(self.buf)
        self.n = 0; self.end = -1; self.fut = None; self.t = None

    def connection_made(self, t): self.t = t
    def get_buffer(self, hint): return self.mv[self.n:]

    def buffer_updated(self, k):
        self.n += k
        if self.end < 0:
            i = self.buf.find(b"\r\n\r\n", 0, self.n)
            if i < 0:
                return
            j = self.buf.find(b"Content-Length: ", 0, i)
            self.end = i + 4 + int(self.buf[j + 16:self.buf.find(b"\r\n", j, i)])
        if self.n >= self.end:
            self.fut.set_result(self.end)

    def request(self, head):
        self.n = 0; self.end = -1
        self.fut = asyncio.get_running_loop().create_future()
        self.t.write(head)
        return self.fut


async def main():
    loop = asyncio.get_running_loop()
    idle = asyncio.Queue()
    for _ in range(C):
        idle.put_nowait((await loop.create_connection(Conn, u.hostname, u.port))[1])

    async def one(i):
        c = await idle.get()
        try:
            end = await c.request(b"GET /bench/small/f%04d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            dst = bytearray(SIZE); dst[:] = c.mv[end - SIZE:end]
        finally:
            idle.put_nowait(c)

    await one(0)
    t0 = time.monotonic(); c0 = cpu()
    await asyncio.gather(*(one(i) for i in range(N)))
    t1 = time.monotonic(); c1 = cpu()
    print(f"raw C={C} {N / (t1 - t0):.0f} obj/s cpu {(c1 - c0) / N * 1e6:.0f} us/object")


uvloop.run(main())
