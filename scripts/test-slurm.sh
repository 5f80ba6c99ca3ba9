#!/usr/bin/env bash
# `gentk slurm` against a real Slurm: a single-node cluster on this machine (scripts/slurm-cluster.sh)
# runs a 12-point spec as a job array plus an assemble job, and the test checks that
#   1. the assembled result folder is byte-identical to a local `gentk run` (wall times aside);
#   2. a cancelled array task leaves the other tasks' points cached, the assemble job does not run,
#      and submitting again computes exactly the missing points and then the same bytes;
#   3. every daemon the cluster script started is stopped (by pid), whatever happens.
# Skips (exit 0 with the reason) only where slurm-wlm and munge cannot be installed.
# Usage: scripts/test-slurm.sh [path/to/gentk]   (default: target/release/gentk)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gentk=$(realpath "${1:-$root/target/release/gentk}")
work=$(mktemp -d /tmp/gentk-slurm-test.XXXXXX)
cluster="$work/cluster"
mkdir -p "$cluster"

cleanup() {
    local status=$?
    bash "$root/scripts/slurm-cluster.sh" stop "$cluster" || true
    for f in "$cluster"/*.pid.stopped; do
        [[ -e $f ]] || continue
        pid=$(cat "$f")
        if [[ -r /proc/$pid/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; then
            echo "test-slurm: FAILED: daemon $(basename "$f" .pid.stopped) (pid $pid) still runs" >&2
            status=1
        fi
    done
    if [[ $status -ne 0 && -d $cluster ]]; then
        tail -n 30 "$cluster"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

set +e
conf=$(bash "$root/scripts/slurm-cluster.sh" start "$cluster")
status=$?
set -e
if [[ $status -eq 3 ]]; then
    echo "test-slurm: SKIPPED — slurm-wlm and munge cannot be installed on this machine"
    exit 0
elif [[ $status -ne 0 ]]; then
    echo "test-slurm: the cluster did not start" >&2
    exit 1
fi
eval "$conf"
echo "test-slurm: cluster up ($SLURM_CONF)"

spec="$work/spec/slow.toml"
mkdir -p "$work/spec"
sed -e 's/GAINS/[0.5, 1.0, 1.5, 2.0, 2.5, 3.0]/' -e 's/SEEDS/[1, 2]/' \
    "$root/crates/cli/tests/fixtures/slow.toml" >"$spec"

fail() {
    echo "test-slurm: FAILED: $*" >&2
    exit 1
}

# Waits until none of the jobs is queued or running (10 minutes at most).
wait_jobs() {
    for _ in $(seq 600); do
        if [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; then
            return 0
        fi
        sleep 1
    done
    squeue >&2
    fail "jobs $1 still queued after 10 minutes"
}

# Job ids from `gentk slurm`'s report line "array job A, assemble job B ...".
submit() {
    local out
    out=$("$gentk" slurm "$spec" --tasks "$1" --cpus-per-task 1 --cache "$2/cache" --results "$2/results")
    echo "$out" >&2
    array_id=$(sed -n 's/^array job \([0-9]*\), assemble job \([0-9]*\).*/\1/p' <<<"$out")
    assemble_id=$(sed -n 's/^array job \([0-9]*\), assemble job \([0-9]*\).*/\2/p' <<<"$out")
    [[ -n $array_id && -n $assemble_id ]] || fail "no job ids in: $out"
}

# The result folder's files, wall times (measured, not reproducible) aside.
same_results() {
    local a="$1/results/slow" b="$2/results/slow"
    [[ -f $b/table.parquet ]] || fail "no assembled table in $b"
    local fa fb
    fa=$(cd "$a" && ls | grep -v '^timings.parquet$')
    fb=$(cd "$b" && ls | grep -v '^timings.parquet$')
    [[ $fa == "$fb" ]] || fail "different files: [$fa] vs [$fb]"
    for f in $fa; do
        cmp -s "$a/$f" "$b/$f" || fail "$f differs from the local run's"
    done
}

cached() { # "k/n" cached points of the spec in cache $1
    "$gentk" list --dir "$work/spec" --results "$work/none" --cache "$1/cache" | awk 'NR == 2 { print $NF }'
}

computed_in_logs() { # sum of "(k computed)" over the shard logs of array job $2 in cache $1
    cat "$1"/cache/slow/slurm/gentk-slow-shard-"$2"_*.out |
        sed -n 's/.*points (\([0-9]*\) computed).*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}

echo "test-slurm: local run"
"$gentk" run "$spec" --quiet --results "$work/local/results" --cache "$work/local/cache" >/dev/null

echo "test-slurm: job array of 3 tasks + assemble job"
submit 3 "$work/a"
wait_jobs "$array_id,$assemble_id"
same_results "$work/local" "$work/a"
[[ $(computed_in_logs "$work/a" "$array_id") == 12 ]] || fail "the shards did not compute the 12 points once each"
echo "test-slurm: assembled folder is byte-identical to the local run"

echo "test-slurm: cancel array task 2, then resubmit"
submit 2 "$work/b"
scancel "${array_id}_2"
wait_jobs "$array_id,$assemble_id"
[[ ! -e $work/b/results/slow ]] || fail "the assemble job ran although a task was cancelled"
left=$(cached "$work/b")
have=${left%/*}
[[ $have -lt 12 ]] || fail "the cancelled task's points are all cached ($left): nothing to recover"
first_array=$array_id
submit 2 "$work/b"
wait_jobs "$array_id,$assemble_id"
again=$(computed_in_logs "$work/b" "$array_id")
[[ $again == $((12 - have)) ]] || fail "the resubmission computed $again points, not the $((12 - have)) missing"
same_results "$work/local" "$work/b"
echo "test-slurm: after cancelling task 2 of job $first_array ($have of 12 points cached), the resubmission computed the $again missing points; result byte-identical"
echo "test-slurm: PASSED"
