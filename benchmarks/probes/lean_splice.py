import os, socket, selectors, time, resource, sys, fcntl
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
port = int(sys.argv[1].rsplit(":",1)[1]); N = int(sys.argv[2]); CH = int(sys.argv[3]); SIZE = 2<<30
fd = os.open(PROBE + "/out.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
sel = selectors.DefaultSelector(); part = SIZE // N
t0 = time.monotonic(); c0 = cpu()
state = {}
F_SETPIPE_SZ = 1031
for i in range(N):
    s = socket.create_connection(("127.0.0.1", port))
    s.send(f"GET /bench/big HTTP/1.1\r\nHost: x\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode())
    # read head exactly
    h = b""
    while b"\r\n\r\n" not in h:
        peek = s.recv(65536, socket.MSG_PEEK); e = peek.find(b"\r\n\r\n")
        if e >= 0: h = s.recv(e+4); break
    s.setblocking(False)
    r, w = os.pipe2(os.O_NONBLOCK)
    fcntl.fcntl(w, F_SETPIPE_SZ, CH)
    state[s] = [i*part, part, r, w]
    sel.register(s, selectors.EVENT_READ)
left = N
FL = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
while left:
    for key, _ in sel.select():
        s = key.fileobj; st = state[s]
        try: n = os.splice(s.fileno(), st[3], min(CH, st[1]), flags=FL)
        except BlockingIOError: continue
        while n:
            k = os.splice(st[2], fd, n, offset_dst=st[0], flags=os.SPLICE_F_MOVE)
            st[0] += k; st[1] -= k; n -= k
        if st[1] == 0: sel.unregister(s); s.close(); left -= 1
t1 = time.monotonic(); c1 = cpu()
print(f"splice N={N} ch={CH}: {SIZE/(t1-t0)/1e6:.0f} MB/s user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f} s/GiB")
