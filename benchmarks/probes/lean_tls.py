"""The 2 GiB object over HTTPS, N ranges: uvloop's SSL transport (MemoryBIO: socket ->
buffer -> BIO -> decrypt -> our buffer) against a non-blocking ``ssl.SSLSocket`` driven by
``loop.add_reader`` (OpenSSL reads the socket itself: one copy fewer). Both pwrite each
receive to the output file at its offset.

    lean_tls.py HTTPS_URL CA N CHUNK proto|sock|sockra

``sockra``: ``sock`` with OpenSSL's read-ahead on (``SSL_CTX_set_read_ahead`` and a read
buffer of ``RA`` bytes, default 256 KiB, through ctypes on the context's ``SSL_CTX``):
OpenSSL then takes many records per ``recv`` instead of two ``recv`` calls a record.
"""
import asyncio, os, resource, socket, ssl, sys, time
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")
import uvloop
url, ca, N, CH, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
FILL = os.environ.get("FILL") == "1"
port = int(url.rsplit(":", 1)[1]); SIZE = 2 << 30; part = SIZE // N
fd = os.open(PROBE + "/out-tls.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
ctx = ssl.create_default_context(cafile=ca)
if how == "sockra":
    import ctypes, _ssl
    lib = ctypes.CDLL(_ssl.__file__)
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    lib.SSL_CTX_set_default_read_buffer_len.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.SSL_CTX_ctrl(ptr, 41, 1, None)  # SSL_CTRL_SET_READ_AHEAD
    lib.SSL_CTX_set_default_read_buffer_len(ptr, int(os.environ.get("RA", 262144)))
    how = "sock"
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
        s.out = req(i); s.reading = False
        s.step()
    def step(s):
        sock = s.sock
        try:
            if s.out is not None:
                sock.do_handshake()
                sock.sendall(s.out); s.out = None
            while True:
                filled = 0
                try:
                    # FILL=1: receive until the chunk is full or OpenSSL has nothing more,
                    # then one pwrite (as a transport handing one buffer_updated would)
                    while True:
                        n = sock.recv_into(s.mv[filled:] if filled else s.mv)
                        if n == 0:
                            raise ConnectionError("eof")
                        filled += n
                        if not FILL or filled == CH:
                            break
                finally:
                    if filled:
                        s.got(filled)
                if s.finished():
                    return
        except ssl.SSLWantReadError:
            if s.finished():
                return
            if not s.reading:
                s.reading = True
                s.loop.add_reader(sock.fileno(), s.step)
        except ssl.SSLWantWriteError:
            s.loop.add_writer(sock.fileno(), s.step)
    def finished(s):
        if s.left == 0 and not s.done.done():
            s.loop.remove_reader(s.sock.fileno()); s.done.set_result(None); s.sock.close()
        return s.done.done()
    def got(s, n):
        body = s.mv[:n]
        if s.head:
            e = bytes(body).find(b"\r\n\r\n"); body = body[e+4:]; s.head = False
        if body:
            os.pwrite(fd, body, s.off); s.off += len(body); s.left -= len(body)

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
print(f"tls-{sys.argv[5]}{' fill' if FILL else ''} N={N} chunk={CH}: {SIZE/(t1-t0)/1e6:.0f} MB/s  CPU {((c1[0]-c0[0])+(c1[1]-c0[1]))/2:.2f} s/GiB (user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f})")
