#!/usr/bin/env bash
# Builds and runs the test suite; ends with one plain "N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."
dotnet build OverlaySim.sln -c Release --nologo -v quiet || exit 1

# The Slurm tests submit to a real cluster. As root, a one-node cluster is started here (tools/slurm-local.sh installs
# slurm-wlm when missing) and stopped at the end; OVERLAYSIM_SLURM_CONF may name a running cluster instead, and
# OVERLAYSIM_SLURM=off skips them. Elsewhere they are skipped, and say so.
slurm_started=0
if [ -n "${OVERLAYSIM_SLURM_CONF:-}" ]; then
  echo "Slurm tests: on the cluster of $OVERLAYSIM_SLURM_CONF"
elif [ "${OVERLAYSIM_SLURM:-}" = off ]; then
  echo "note: the Slurm tests are skipped (OVERLAYSIM_SLURM=off)"
elif [ "$(id -u)" = 0 ]; then
  if tools/slurm-local.sh start; then
    export OVERLAYSIM_SLURM_CONF=$(tools/slurm-local.sh conf)
    slurm_started=1
  else
    echo "error: the local Slurm cluster did not start (see above); the Slurm tests are skipped"
    [ "${CI:-}" = true ] && exit 1
  fi
else
  echo "note: the Slurm tests are skipped: they need root (to start a local cluster with tools/slurm-local.sh) or OVERLAYSIM_SLURM_CONF"
fi
trap '[ "$slurm_started" = 1 ] && tools/slurm-local.sh stop' EXIT
log=$(mktemp)
dotnet test tests/OverlaySim.Tests/OverlaySim.Tests.csproj -c Release --no-build --nologo 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '(Passed|Failed)!? +- +Failed: +[0-9]+' "$log" | tail -1)
failed=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line")
passed=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$line")
skipped=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$line")
rm -f "$log"
if [ -z "$line" ]; then echo "no test summary found"; exit $(( rc == 0 ? 1 : rc )); fi
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $rc
