import os, socket, ssl, threading, time, resource, sys
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
url = sys.argv[1]; ca = sys.argv[2]; N = int(sys.argv[3]); CH = int(sys.argv[4]); mode = sys.argv[5]
port = int(url.rsplit(":",1)[1]); SIZE = 2<<30
fd = os.open(PROBE + "/out.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
ctx = ssl.create_default_context(cafile=ca)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
part = SIZE // N
lock = threading.Lock()
def worker(i):
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(f"GET /bench/big HTTP/1.1\r\nHost: x\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode())
    buf = bytearray(CH); mv = memoryview(buf)
    off = i*part; left = part; head = True
    while left:
        n = s.recv_into(mv)
        body = mv[:n]
        if head:
            e = bytes(body).find(b"\r\n\r\n"); body = body[e+4:]; head = False
        if body:
            if mode == "lock":
                with lock: os.pwrite(fd, body, off)
            else: os.pwrite(fd, body, off)
            off += len(body); left -= len(body)
    s.close()
t0 = time.monotonic(); c0 = cpu()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
[t.start() for t in ts]; [t.join() for t in ts]
t1 = time.monotonic(); c1 = cpu()
print(f"tls-threads N={N} ch={CH} {mode}: {SIZE/(t1-t0)/1e6:.0f} MB/s user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f} s/GiB")
