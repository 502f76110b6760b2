#!/usr/bin/env bash
# The runtime's benchmark (make bench calls this): per-segment overhead outside model compute, figures last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$here/install-dev.sh" | tail -n 1)
PYTHONPATH="$here/src" PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$here/bench/segment_overhead.py" "$@"
