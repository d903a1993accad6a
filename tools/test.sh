#!/usr/bin/env bash
# Builds and runs the test suite; ends with one plain "N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."
dotnet build OverlaySim.sln -c Release --nologo -v quiet || exit 1
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
