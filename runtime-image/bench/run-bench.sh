#!/usr/bin/env bash
# The runtime's benchmark (make bench calls this): per-segment overhead outside model compute, figures last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$here/install-dev.sh" | tail -n 1)
export PYTHONPATH="$here/src" PYTHONDONTWRITEBYTECODE=1
"$venv/bin/python" "$here/bench/segment_overhead.py" "$@"
# The model cache check on a sparse cache of the 14B models' size (the probe's check before an svi film).
"$venv/bin/python" "$here/bench/model_cache_check_full_size.py"
# SVI-Talk's audio stage and SVI-Dance's pose stage on the tiny models.
exec "$venv/bin/python" "$here/bench/talk_dance_overhead.py"
