"""Own and inclusive shares per Python function from a py-spy raw profile of a probe.

    py-spy record -r 500 -f raw -o prof.txt -- .venv/bin/python benchmarks/probes/small_ab.py URL rounds mem
    python benchmarks/probes/spy_top.py prof.txt [MARK] [N]

Only stacks containing MARK (default ``rounds``: the measured rounds, not start-up) count;
"own" is the leaf frame (C calls made from a Python function count as that function's own
time: ``send_head_only`` is mostly the kernel's loopback send).
"""
import collections
import re
import sys

path = sys.argv[1]
mark = sys.argv[2] if len(sys.argv) > 2 else "rounds"
top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
own: collections.Counter[str] = collections.Counter()
incl: collections.Counter[str] = collections.Counter()
total = everything = 0
for line in open(path):
    if not line.strip():
        continue
    stack, n_ = line.rstrip().rsplit(" ", 1)
    n = int(n_)
    everything += n
    if mark not in stack:
        continue
    frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
    total += n
    own[frames[-1]] += n
    for f in set(frames):
        incl[f] += n
print(f"{total} of {everything} samples in stacks with {mark!r}")
print("--- own")
for f, n in own.most_common(top):
    print(f"{100 * n / total:5.1f}% {f}")
print("--- inclusive")
for f, n in incl.most_common(top):
    print(f"{100 * n / total:5.1f}% {f}")
