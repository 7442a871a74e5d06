"""Child processes with their own rusage, free loopback ports and readiness polling.

Every runner runs in its own process so that ``os.wait4`` hands back exactly that child's
CPU time (user + sys, its reaped descendants included). Waiting happens on a helper thread
(``wait4`` blocks), so the caller can bound the run with a timeout and kill the child's
process group.

Peak RSS is *not* taken from ``ru_maxrss``: Linux carries the parent's high-water mark
across ``fork``/``vfork`` + ``execve`` (a child of a 500 MiB Python reports >= 500 MiB even
for ``/bin/true``), and for a command that starts processes of its own (``s3fast cp -r``'s
workers, a launcher script) it is the largest one's, not what they held together. Instead
the child's process tree is sampled from ``/proc`` while it runs: ``VmHWM`` of each process
(it only grows, so the last reading is its peak up to one interval before it exits), summed
over every process seen. A sum of per-process peaks is an upper bound of what the tree held
at any one moment, and exactly the child's own peak when it starts nothing. Python runners
also report their own VmHWM.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence


@dataclass(frozen=True)
class Measured:
    """Outcome of one measured child process."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    stdout: str
    stderr: str
    timed_out: bool = False
    #: peak RSS of the command: the sum of the last VmHWM read of every process of its tree
    hwm_kib: int | None = None
    #: the child's own last VmHWM (``hwm_kib`` without its descendants)
    own_hwm_kib: int | None = None
    #: processes seen in the tree (the child included)
    processes: int = 0

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def __repr__(self) -> str:
        return (
            f"<Measured {Path(self.argv[0]).name} rc={self.returncode} wall={self.wall_s:.2f}s "
            f"cpu={self.cpu_s:.2f}s peak_rss={(self.hwm_kib or 0) // 1024}MiB "
            f"processes={self.processes} timed_out={self.timed_out}>"
        )


#: this checkout (s3fast, benchmarks)
REPO_ROOT = Path(__file__).resolve().parent.parent


def precompile(*packages: Path) -> None:
    """Write the bytecode caches of these package directories (default: this checkout's
    ``s3fast`` and ``benchmarks``) before any timed run, as pip does at install time. This
    machine sets PYTHONDONTWRITEBYTECODE, and the runs inherit it: a module changed since
    its last ``.pyc`` would be compiled again in every timed process (~5 ms for the larger
    ones), start-up a user does not pay."""
    import compileall

    for package in packages or (REPO_ROOT / "s3fast", REPO_ROOT / "benchmarks"):
        compileall.compile_dir(str(package), quiet=1)


def _decode_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
    workdir: str | os.PathLike[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    hwm_interval_s: float = 0.01,
    on_sample: Callable[[TreeMemory], None] | None = None,
) -> Measured:
    """Run ``argv`` to completion, returning its wall time, rusage and captured output.

    stdout/stderr go to files in ``workdir`` (default: a fresh temp dir) rather than pipes,
    so a chatty child can never block on a full pipe while nobody reads it. ``on_sample``
    is called from the sampling thread after each reading of the process tree.
    """
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir, prefix="child-") as tmp:
        out_path = Path(tmp) / "stdout"
        err_path = Path(tmp) / "stderr"
        with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
            start = clock()
            proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out_f,
                stderr=err_f,
                start_new_session=True,  # own process group: a timeout kills its helpers too
            )
            box: dict[str, tuple[int, int, os.struct_rusage]] = {}
            done = threading.Event()

            def _reap() -> None:
                box["r"] = os.wait4(proc.pid, 0)
                done.set()

            reaper = threading.Thread(target=_reap, name=f"wait4-{proc.pid}", daemon=True)
            reaper.start()
            memory = TreeMemory(proc.pid)
            monitor = threading.Thread(
                target=_watch_tree, args=(memory, done, hwm_interval_s, on_sample), daemon=True
            )
            monitor.start()
            timed_out = not done.wait(timeout)
            if timed_out:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                done.wait()
            wall = clock() - start
            monitor.join()
            _pid, status, usage = box["r"]
            # We reaped the child ourselves; tell Popen so it does not try (and warn) later.
            proc.returncode = _decode_status(status)
        return Measured(
            argv=tuple(argv),
            returncode=proc.returncode,
            wall_s=wall,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            maxrss_kib=usage.ru_maxrss,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
            timed_out=timed_out,
            hwm_kib=memory.total_kib or None,
            own_hwm_kib=memory.peaks.get(proc.pid),
            processes=len(memory.peaks),
        )


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process ``pid`` and its reaped children.

    For a server the harness started: its CPU over a run is the difference of two readings,
    which says how much of the machine the server took from the client being measured.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot, from ``/proc/stat``: two readings
    say how much of the machine a run left idle (the kernel's own threads included, which no
    process's CPU time shows)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time left idle between two :func:`machine_jiffies`."""
    total = after[1] - before[1]
    return 1.0 - (after[0] - before[0]) / total if total > 0 else 0.0


def read_vm_hwm_kib(pid: int | str = "self") -> int | None:
    """Peak resident set of a process's current address space (``VmHWM``), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def child_pids(pid: int) -> list[int]:
    """The direct children of every thread of ``pid`` (a thread that forks is their parent)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


@dataclass
class TreeMemory:
    """Peak RSS per process of one process tree, as last read from ``/proc``.

    ``sample()`` rediscovers the tree (the root and its descendants, walked through the
    ``children`` files) and reads each one's ``VmHWM``; a process that has exited keeps its
    last reading. ``total_kib`` sums them.
    """

    root: int
    peaks: dict[int, int] = field(default_factory=dict)
    samples: int = 0

    @property
    def total_kib(self) -> int:
        return sum(self.peaks.values())

    def sample(self) -> None:
        todo, seen = [self.root], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            value = read_vm_hwm_kib(pid)
            if value is not None:
                self.peaks[pid] = max(value, self.peaks.get(pid, 0))
            todo.extend(child_pids(pid))
        self.samples += 1


def _watch_tree(memory: TreeMemory, done: threading.Event, interval: float,
                on_sample: Callable[[TreeMemory], None] | None) -> None:
    # Paced by the exit event itself: returns as soon as the child is reaped. A reading
    # taken after the reap could belong to a new process that reused the pid: dropped.
    while not done.is_set():
        reading = TreeMemory(memory.root, dict(memory.peaks))
        reading.sample()
        if done.is_set():
            break
        memory.peaks, memory.samples = reading.peaks, memory.samples + 1
        if on_sample is not None:
            on_sample(memory)
        done.wait(interval)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the kernel picks it; a small race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free ports, all held open until every one is chosen."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Poller:
    """Bounded readiness polling: ``check`` is retried until it is true or ``deadline_s`` passes.

    The pause between checks is a back-off on an external process we cannot get an event
    from (a server opening its port), not synchronisation inside our own code.
    """

    deadline_s: float = 30.0
    interval_s: float = 0.05
    max_interval_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    attempts: int = field(default=0, init=False)

    def wait(self, check: Callable[[], bool], *, alive: Callable[[], bool] = lambda: True) -> bool:
        end = self.clock() + self.deadline_s
        pause = self.interval_s
        while True:
            self.attempts += 1
            if check():
                return True
            if not alive() or self.clock() >= end:
                return False
            self.sleep(pause)
            pause = min(pause * 2, self.max_interval_s)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


#: servers started by start_server and not stopped yet, by pid (see _stop_leftovers)
_servers: dict[int, subprocess.Popen[bytes]] = {}
_servers_lock = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the parent: the child between fork and exec should
    do as little as possible (no dlopen)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    prctl = _prctl()
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def start_server(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a long-lived server (nginx, weed) that must not outlive this process.

    It gets its own process group, so :func:`stop_process` takes its helpers (nginx's
    workers) down with it. Were this process to end without stopping it (killed, an
    ``os._exit``, a test killed by pytest-timeout's thread method), the kernel sends it
    SIGTERM (``PR_SET_PDEATHSIG``); that signal follows the *thread* that started it, so it
    is only asked for from the main thread. An ``atexit`` handler stops whatever is still
    running at a normal exit, whichever thread started it.
    """
    preexec = _die_with_parent(os.getpid()) if threading.current_thread() is threading.main_thread() else None
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=preexec,
    )
    with _servers_lock:
        _servers[proc.pid] = proc
    return proc


def running_servers() -> list[int]:
    """Pids of the servers :func:`start_server` started that are not stopped yet."""
    with _servers_lock:
        return sorted(_servers)


def _stop_leftovers() -> None:
    with _servers_lock:
        procs = list(_servers.values())
    for proc in procs:
        stop_process(proc, grace_s=5.0)


atexit.register(_stop_leftovers)


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> int:
    """SIGTERM the process we started (its group), then SIGKILL after ``grace_s``; then
    SIGKILL whatever of its group is left (helpers outliving a leader that died first)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(grace_s)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    with _servers_lock:
        _servers.pop(proc.pid, None)
    return int(proc.returncode if proc.returncode is not None else 0)
