"""What replacing a large file costs the caller, three ways (the measurements behind
``s3fast/transfer/_rename.py``). Each run writes a fresh 2 GiB "old" file (``clean``:
fsynced, ``dirty``: still in the page cache) and a 2 GiB "new" one, then replaces:

* ``plain``: ``os.replace(new, old)``;
* ``hold``: the old file held open across ``os.replace``, closed afterwards (timed apart);
* ``xchg``: held, ``renameat2(RENAME_EXCHANGE)``, then the old file unlinked under the
  temporary name and closed (what ``swap_in`` does).

    renames.py plain|hold|xchg clean|dirty      # run `sync` between runs

Session 8: plain 3.93 / 4.14 s in the rename; hold 1.20 / 0.32 s in the rename + 2.42 /
3.57 s in the close; xchg 0.000 s for the exchange and unlink + 1.30 / 0.34 s in the close.
"""
import ctypes, os, sys, time
D = os.environ.get("PROBE_DIR", "/tmp/s3fast-probe") + "/ren"; os.makedirs(D, exist_ok=True)
SIZE = 2 << 30
libc = ctypes.CDLL(None, use_errno=True)


def mk(path, sync):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    b = b"x" * (8 << 20)
    for off in range(0, SIZE, len(b)):
        os.pwrite(fd, b, off)
    if sync:
        os.fsync(fd)
    os.close(fd)


def t(f, *a):
    t0 = time.monotonic(); f(*a); return time.monotonic() - t0


mode, state = sys.argv[1], sys.argv[2]
old, new = D + "/old", D + "/new"
mk(old, state == "clean"); mk(new, False)
if mode == "plain":
    print(mode, state, "replace %.3f" % t(os.replace, new, old))
elif mode == "hold":
    fd = os.open(old, os.O_RDONLY)
    a = t(os.replace, new, old); b = t(os.close, fd)
    print(mode, state, "replace %.3f close-old %.3f" % (a, b))
else:
    fd = os.open(old, os.O_RDONLY)

    def x():
        assert libc.renameat2(-100, new.encode(), -100, old.encode(), 2) == 0, ctypes.get_errno()
    a = t(x); b = t(os.unlink, new); c = t(os.close, fd)
    print(mode, state, "exchange %.3f unlink %.3f close-old %.3f" % (a, b, c))
os.unlink(old)
