#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests of `gentk slurm`.
#
#   scripts/slurm-cluster.sh start DIR   # installs slurm-wlm and munge when missing, starts munged,
#                                        # slurmctld and slurmd with all state in DIR; prints the
#                                        # line to eval: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-cluster.sh stop DIR    # stops every daemon it started (by the pids in DIR; the
#                                        # files are kept as DIR/*.pid.stopped for checks)
#
# Localhost only, non-default ports, its own munge key and socket, accounting off, root as
# SlurmUser (the CI machines run as root), proctrack/linuxproc and task/none (no cgroups).
# Exit status 3 from `start`: the packages cannot be installed here (callers skip with that reason).
set -euo pipefail

cmd=${1:?usage: slurm-cluster.sh start|stop DIR}
dir=${2:?usage: slurm-cluster.sh start|stop DIR}

# Whether pid $1 runs (a zombie, exited but not yet reaped by a container's init, does not).
running() {
    [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

stop() {
    for d in slurmd slurmctld munged; do
        if [[ -f "$dir/$d.pid" ]]; then
            pid=$(cat "$dir/$d.pid")
            # Kept for the caller's check that the daemon is gone (daemons remove their own file).
            echo "$pid" >"$dir/$d.pid.stopped"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
            if running "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
            rm -f "$dir/$d.pid"
        fi
    done
}

if [[ $cmd == stop ]]; then
    stop
    exit 0
fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "slurm-cluster: slurm-wlm/munge missing and not installable here (need root and apt-get)" >&2
        exit 3
    fi
    echo "slurm-cluster: installing slurm-wlm and munge" >&2
    if ! (DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$dir.apt.log" 2>&1 ||
          { apt-get update -q >>"$dir.apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >>"$dir.apt.log" 2>&1; }); then
        echo "slurm-cluster: apt-get could not install slurm-wlm and munge (log: $dir.apt.log)" >&2
        exit 3
    fi
fi

mkdir -p "$dir/state" "$dir/spool"
chmod 700 "$dir"
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024) - 512 }' /proc/meminfo)
port=$((20000 + RANDOM % 20000))

# munge: its own key, socket, pid and log files.
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge.key"
munged --key-file="$dir/munge.key" --socket="$dir/munge.sock" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munge.seed" --force

cat >"$dir/slurm.conf" <<EOF
ClusterName=gentk-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=gentk-node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=gentk-node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -i
slurmd -N gentk-node

# Up when the node is idle.
for _ in $(seq 100); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^idle'; then
        echo "export SLURM_CONF=$dir/slurm.conf"
        exit 0
    fi
    sleep 0.2
done
echo "slurm-cluster: the node did not come up; logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
