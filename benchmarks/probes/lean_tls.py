"""The 2 GiB object over HTTPS, N ranges: uvloop's SSL transport (MemoryBIO: socket ->
buffer -> BIO -> decrypt -> our buffer) against a non-blocking ``ssl.SSLSocket`` driven by
``loop.add_reader`` (OpenSSL reads the socket itself: one copy fewer). Both pwrite each
receive to the output file at its offset.

    lean_tls.py HTTPS_URL CA N CHUNK proto|sock
"""
import asyncio, os, resource, socket, ssl, sys, time
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
import uvloop
url, ca, N, CH, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
port = int(url.rsplit(":", 1)[1]); SIZE = 2 << 30; part = SIZE // N
fd = os.open(PROBE + "/out-tls.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
ctx = ssl.create_default_context(cafile=ca)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
def req(i):
    return f"GET /bench/big HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode()

class P(asyncio.BufferedProtocol):
    def __init__(s, off, n, done):
        s.off = off; s.left = n; s.head = True; s.mv = memoryview(bytearray(CH)); s.done = done
    def get_buffer(s, hint): return s.mv
    def buffer_updated(s, n):
        body = s.mv[:n]
        if s.head:
            e = bytes(body).find(b"\r\n\r\n"); body = body[e+4:]; s.head = False
        if body:
            os.pwrite(fd, body, s.off); s.off += len(body); s.left -= len(body)
        if s.left == 0 and not s.done.done(): s.done.set_result(None); s.t.close()
    def connection_made(s, t): s.t = t
    def connection_lost(s, e): pass

class S:
    """One range on a non-blocking SSLSocket."""
    def __init__(s, loop, i, done):
        s.loop = loop; s.off = i * part; s.left = part; s.head = True; s.done = done
        s.mv = memoryview(bytearray(CH))
        raw = socket.create_connection(("127.0.0.1", port)); raw.setblocking(False)
        s.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False)
        s.out = req(i)
        s.step()
    def step(s):
        sock = s.sock
        try:
            if s.out is not None:
                sock.do_handshake()
                sock.sendall(s.out); s.out = None
            while True:
                n = sock.recv_into(s.mv)
                if n == 0:
                    raise ConnectionError("eof")
                body = s.mv[:n]
                if s.head:
                    e = bytes(body).find(b"\r\n\r\n"); body = body[e+4:]; s.head = False
                if body:
                    os.pwrite(fd, body, s.off); s.off += len(body); s.left -= len(body)
                if s.left == 0:
                    s.loop.remove_reader(sock.fileno()); s.done.set_result(None); sock.close(); return
        except ssl.SSLWantReadError:
            s.loop.add_reader(sock.fileno(), s.step)
        except ssl.SSLWantWriteError:
            s.loop.add_writer(sock.fileno(), s.step)

async def main():
    loop = asyncio.get_running_loop(); futs = []
    for i in range(N):
        f = loop.create_future(); futs.append(f)
        if how == "proto":
            t, p = await loop.create_connection(lambda i=i, f=f: P(i*part, part, f), "127.0.0.1", port,
                                                ssl=ctx, server_hostname="127.0.0.1")
            t.write(req(i))
        else:
            S(loop, i, f)
    await asyncio.gather(*futs)
t0 = time.monotonic(); c0 = cpu()
uvloop.run(main())
t1 = time.monotonic(); c1 = cpu()
print(f"tls-{how} N={N} chunk={CH}: {SIZE/(t1-t0)/1e6:.0f} MB/s  CPU {((c1[0]-c0[0])+(c1[1]-c0[1]))/2:.2f} s/GiB (user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f})")
