#!/usr/bin/env bash
# Runs the whole Geodesy test suite on Debian 12 with the .NET 10 SDK, installing the Debian
# packages the tests use (PostgreSQL server for the store tests, Chromium for the report test)
# when they are missing. Prints "N passed, N failed" last; exits non-zero if anything failed.
#
#   bash tests/run.sh          everything (what the CI runs)
#   bash tests/run.sh --fast   leaves out the tests marked Category=Slow (child processes, kill -9
#                              fault tests, whole studies) and Category=Service (PostgreSQL,
#                              Chromium); installs nothing. See tests/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

filter=()
case "${1:-}" in
  "") ;;
  --fast) filter=(--filter "Category!=Slow&Category!=Service") ;;
  *) echo "usage: bash tests/run.sh [--fast]" >&2; exit 2 ;;
esac

need=()
if [ ${#filter[@]} -eq 0 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts a cluster on install; the tests start their own servers.
  command -v pg_ctlcluster >/dev/null 2>&1 && { $SUDO pg_ctlcluster 15 main stop 2>/dev/null || true; }
fi

# libtorch workers busy-wait by default; passive waiting keeps parallel test classes from starving each other.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

results="$(pwd)/TestResults"
rm -rf "$results"
status=0
dotnet test tests/Geodesy.Tests -c Release "${filter[@]}" --logger "trx;LogFileName=results.trx" --results-directory "$results" || status=$?

trx="$results/results.trx"
if [ ! -f "$trx" ]; then
  echo "no test results were written (build failed?)"
  echo "0 passed, 1 failed"
  exit 1
fi
passed=$(grep -o '<Counters [^>]*' "$trx" | grep -o 'passed="[0-9]*"' | grep -o '[0-9]*')
failed=$(grep -o '<Counters [^>]*' "$trx" | grep -o 'failed="[0-9]*"' | grep -o '[0-9]*')
errors=$(grep -o '<Counters [^>]*' "$trx" | grep -o ' error="[0-9]*"' | grep -o '[0-9]*' || echo 0)
failed=$((failed + ${errors:-0}))
[ "$failed" -gt 0 ] && status=1
[ "$passed" -eq 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
