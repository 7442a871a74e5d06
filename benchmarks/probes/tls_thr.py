import os, socket, threading, time, resource, sys, ctypes
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
from s3fast.net._tls import make_ssl_context
url = sys.argv[1]; ca = sys.argv[2]; N = int(sys.argv[3]); CH = int(sys.argv[4]); mode = sys.argv[5]
FILL = os.environ.get("FILL") == "1"  # fill each chunk before one pwrite (s3fast's TLS path does)
RA = int(os.environ.get("RA", "0"))  # OpenSSL read-ahead buffer (safe: these are socket-backed)
port = int(url.rsplit(":",1)[1]); SIZE = 2<<30
fd = os.open(PROBE + "/out.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
ctx = make_ssl_context(ca, True)  # AES-128-GCM first, as s3fast negotiates
if RA:
    import _ssl
    lib = ctypes.CDLL(_ssl.__file__)
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    lib.SSL_CTX_ctrl(ptr, 41, 1, None)  # SSL_CTRL_SET_READ_AHEAD
    lib.SSL_CTX_set_default_read_buffer_len.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.SSL_CTX_set_default_read_buffer_len(ptr, RA)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
part = SIZE // N
lock = threading.Lock()
def write(view, off):
    if mode == "lock":
        with lock: os.pwrite(fd, view, off)
    else: os.pwrite(fd, view, off)
def worker(i):
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(f"GET /bench/big HTTP/1.1\r\nHost: x\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode())
    buf = bytearray(CH); mv = memoryview(buf)
    off = i*part; left = part; head = True; fill = 0
    while left:
        n = s.recv_into(mv[fill:] if FILL else mv)
        if head:  # the first receive holds the response head: keep only the body after it
            start = fill if FILL else 0
            e = bytes(mv[start:start + n]).find(b"\r\n\r\n") + 4
            mv[start:start + n - e] = mv[start + e:start + n]; n -= e; head = False
        if not FILL:
            if n:
                write(mv[:n], off); off += n; left -= n
            continue
        fill += n
        if fill == CH or fill >= left:
            write(mv[:fill], off); off += fill; left -= fill; fill = 0
    s.close()
t0 = time.monotonic(); c0 = cpu()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
[t.start() for t in ts]; [t.join() for t in ts]
t1 = time.monotonic(); c1 = cpu()
print(f"tls-threads N={N} ch={CH} {mode} fill={FILL} ra={RA}: {SIZE/(t1-t0)/1e6:.0f} MB/s"
      f" cpu {(c1[0]-c0[0]+c1[1]-c0[1])/2:.2f} s/GiB (user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f})")
