#!/usr/bin/env bash
# Loop-thread CPU per small object for several checkouts, alternated in each run on the
# same server (serve.py's HTTP URL):
#   benchmarks/probes/multi_ab.sh URL RUNS rounds|layers CHECKOUT...
# A CHECKOUT is a tree with its core compiled in place (git archive REV | tar -x -C DIR &&
# (cd DIR && python setup.py build_ext --inplace)), or "." for this one. ``rounds`` runs
# small_ab.py rounds mem and up (1,000 x 64 KiB; OBJ=mid for 200 x 1 MiB); ``layers`` runs
# small_ab.py layers. Each line names the run, the checkout and the load average. PROBE_DIR
# as for serve.py (the upload sources).
set -u
url=$1 runs=$2 what=$3; shift 3
here="$(cd "$(dirname "$0")/../.." && pwd)"
py="$here/.venv/bin/python"
export AWS_EC2_METADATA_DISABLED=true
for r in $(seq "$runs"); do
    for tree in "$@"; do
        src=$tree; [ "$tree" = . ] && src=""
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [ "$what" = layers ]; then
            SRC=$src timeout 300 "$py" "$here/benchmarks/probes/small_ab.py" "$url" layers \
                | sed "s|^|run $r $tree load $load: |"
        else
            for w in mem up; do
                echo "run $r $tree load $load: $(SRC=$src timeout 300 "$py" "$here/benchmarks/probes/small_ab.py" "$url" rounds $w)"
            done
        fi
    done
done
