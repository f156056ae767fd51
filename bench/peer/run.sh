#!/usr/bin/env bash
# Runs `geodesy bench peer` (docs/bench.md): Geodesy against PyTorch on the same CPU, digits and
# weights. Installs the PyTorch side first when it is missing: Debian's python3-torch and
# python3-numpy under /usr/bin/python3, OpenBLAS with OpenMP threads (libopenblas0-openmp) and
# threadpoolctl (to report which BLAS kernel runs). Builds geodesy in Release if needed.
# Arguments go to `geodesy bench peer`, e.g.: bench/peer/run.sh --rounds 3 --json peer.json
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c "import torch" 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c "import numpy" 2>/dev/null || need+=(python3-numpy)
/usr/bin/python3 -c "import threadpoolctl" 2>/dev/null || need+=(python3-threadpoolctl)
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need+=(libopenblas0-openmp)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

geodesy=src/Geodesy.Cli/bin/Release/net10.0/linux-x64/geodesy
[ -x "$geodesy" ] || dotnet build src/Geodesy.Cli -c Release
exec "$geodesy" bench peer --python /usr/bin/python3 "$@"
