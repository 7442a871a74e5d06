import os, socket, selectors, time, resource, sys
PROBE = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe")  # scratch: data, outputs
port = int(sys.argv[1].rsplit(":",1)[1]); N = int(sys.argv[2]); CH = int(sys.argv[3]); SIZE = 2<<30
fd = os.open(PROBE + "/out.bin", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.ftruncate(fd, SIZE)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime, r.ru_stime
sel = selectors.DefaultSelector(); part = SIZE // N
t0 = time.monotonic(); c0 = cpu()
state = {}
for i in range(N):
    s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False)
    s.send(f"GET /bench/big HTTP/1.1\r\nHost: x\r\nRange: bytes={i*part}-{(i+1)*part-1}\r\n\r\n".encode())
    state[s] = [i*part, part, None, bytearray(CH)]
    sel.register(s, selectors.EVENT_READ)
left = N
while left:
    for key, _ in sel.select():
        s = key.fileobj; st = state[s]; buf = st[3]; mv = memoryview(buf)
        try: n = s.recv_into(mv)
        except BlockingIOError: continue
        if st[2] is None:
            h = bytes(mv[:n]); e = h.find(b"\r\n\r\n")  # assume head in first read
            st[2] = 1; body = mv[e+4:n]
        else: body = mv[:n]
        if body:
            os.pwrite(fd, body, st[0]); st[0] += len(body); st[1] -= len(body)
        if st[1] == 0: sel.unregister(s); s.close(); left -= 1
t1 = time.monotonic(); c1 = cpu()
print(f"lean N={N} ch={CH}: {SIZE/(t1-t0)/1e6:.0f} MB/s user {(c1[0]-c0[0])/2:.2f} sys {(c1[1]-c0[1])/2:.2f} s/GiB")
