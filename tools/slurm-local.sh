#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of 'overlaysim slurm'. Needs root; no systemd.
#
#   tools/slurm-local.sh start   install Debian's slurm-wlm and munge when missing, write a one-node configuration
#                                (node and controller 'localhost', CPUs and memory from 'slurmd -C'), start munged,
#                                slurmctld and slurmd directly, and wait until the node is idle
#   tools/slurm-local.sh stop    stop what 'start' started, by pid file: SIGTERM, then SIGKILL after 10 s
#   tools/slurm-local.sh conf    print the path of the configuration (export SLURM_CONF=$(tools/slurm-local.sh conf))
#
# Everything it writes is under $OVERLAYSIM_SLURM_DIR (default /tmp/overlaysim-slurm); /etc/slurm is not touched.
set -euo pipefail
dir=${OVERLAYSIM_SLURM_DIR:-/tmp/overlaysim-slurm}
conf=$dir/slurm.conf
export SLURM_CONF=$conf

say() { echo "slurm-local: $*" >&2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

start_munge() {
  # A munged that already answers (the system's, or ours from an earlier start) is used as it is.
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  # munged refuses to run as root: it runs as the munge user, and leaves its pid where 'stop' finds it.
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/overlaysim-munged.pid
  touch "$dir/started-munged"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  say "munged did not start"; exit 1
}

write_conf() {
  # The node's real CPUs and memory, or slurmctld drains it; named 'localhost' to avoid hostname resolution.
  local node
  node=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+/NodeName=localhost NodeAddr=127.0.0.1/')
  mkdir -p "$dir/state" "$dir/spool"
  cat > "$conf" <<EOF
ClusterName=overlaysim
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MpiDefault=none
$node State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

stop_pid() { # pid file, name
  [ -s "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    # slurmd started while slurmctld was down may ignore SIGTERM for minutes.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "$2 ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$1"
}

case "${1:-}" in
  start)
    [ "$(id -u)" = 0 ] || { say "needs root (it installs packages and starts the Slurm daemons as root)"; exit 3; }
    install_packages
    mkdir -p "$dir"
    "$0" stop >/dev/null 2>&1 || true
    start_munge
    write_conf
    rm -rf "$dir/state"/* "$dir/spool"/* # no jobs left from an earlier cluster
    slurmctld -f "$conf"
    slurmd -f "$conf" -N localhost
    for _ in $(seq 120); do
      state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
      case "$state" in
        idle) say "one-node cluster up (SLURM_CONF=$conf)"; exit 0 ;;
        down*|drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
      esac
      sleep 0.5
    done
    say "the node did not become idle in 60 s (state '${state:-none}'); see $dir/slurmctld.log and $dir/slurmd.log"
    exit 1
    ;;
  stop)
    stop_pid "$dir/slurmd.pid" slurmd
    stop_pid "$dir/slurmctld.pid" slurmctld
    if [ -e "$dir/started-munged" ]; then stop_pid /run/munge/overlaysim-munged.pid munged; rm -f "$dir/started-munged"; fi
    ;;
  conf)
    echo "$conf"
    ;;
  *)
    echo "usage: $0 start|stop|conf" >&2
    exit 2
    ;;
esac
