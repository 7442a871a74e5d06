#!/usr/bin/env bash
# Loop-thread CPU per small object and 2 GiB download CPU, an older checkout against this
# one, alternated on the same server (serve.py's HTTP URL):
#   benchmarks/probes/sched_ab.sh URL OLD_CHECKOUT [RUNS]
# OLD_CHECKOUT is a copy of the older tree with its core compiled in place
# (git archive main | tar -x -C DIR && cd DIR && python setup.py build_ext --inplace).
set -u
url=$1 old=$2 runs=${3:-4}
here="$(cd "$(dirname "$0")/../.." && pwd)"
py="$here/.venv/bin/python"
export AWS_EC2_METADATA_DISABLED=true
for r in $(seq "$runs"); do
    for side in old new; do
        src=""; [ "$side" = old ] && src=$old
        for w in "mem 64k" "up 64k" "mem mid" "up mid"; do
            set -- $w
            obj=""; [ "$2" = mid ] && obj=mid
            echo "run $r $side: $(SRC=$src OBJ=$obj "$py" "$here/benchmarks/probes/small_ab.py" "$url" rounds "$1")"
        done
        echo "run $r $side: $(SRC=$src "$py" "$here/benchmarks/probes/dl.py" "$url" inline | tail -1)"
    done
done
