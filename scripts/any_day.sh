#!/usr/bin/env bash
# Run the tests as if today were another day: the wall clock of every process (pytest, its
# xdist workers, the emulator, PostgreSQL, DuckDB, the CLI under test) is shifted by the same
# offset with libfaketime; the monotonic clock is left alone, so sleeps and timeouts behave.
#
#   scripts/any_day.sh 2028-02-29 [pytest arguments]        # starts at 2028-02-29 12:00:00 UTC
#   scripts/any_day.sh "2026-12-31 23:59:30" tests/unit -q  # then ticks on in real time
#
# Needs Debian's libfaketime (apt-get install faketime) and a C compiler (for the small shim
# in any_day_shim.c, built once into .venv/any_day/). Not part of `make test`.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
  sed -n '2,10s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
when=$1
shift
[[ "$when" == *:* ]] || when="$when 12:00:00"

root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v faketime >/dev/null; then
  echo "libfaketime is not installed: apt-get install faketime" >&2
  exit 2
fi

# Build the shim when it is missing or older than its source.
shim_dir="$root/.venv/any_day"
shim="$shim_dir/shim.so"
if [[ ! -f "$shim" || "$root/scripts/any_day_shim.c" -nt "$shim" ]]; then
  mkdir -p "$shim_dir"
  cc -shared -fPIC -O2 -o "$shim" "$root/scripts/any_day_shim.c" -ldl
fi

# A constant offset from the real clock: every process, whenever it starts, sees the same time.
target=$(date -u -d "$when" +%s)
offset=$((target - $(date -u +%s)))
if ((offset >= 0)); then fake="+${offset}s"; else fake="${offset}s"; fi

echo "any_day: $(date -u -d "@$target" '+%A %F %T') UTC (offset ${fake})" >&2
cd "$root"
# The shim comes first in LD_PRELOAD; faketime appends libfaketime, shares one clock
# with every child and removes its shared-memory segment when the command ends.
export LD_PRELOAD="$shim${LD_PRELOAD:+ $LD_PRELOAD}"
shifted=(faketime --exclude-monotonic -f "$fake")
# Check the shift took before spending minutes on tests.
"${shifted[@]}" .venv/bin/python - "$target" <<'PY'
import sys, time
target = int(sys.argv[1])
if abs(time.time() - target) > 60:
    sys.exit(f"any_day: the clock was not shifted (time.time() = {time.time():.0f})")
time.sleep(0.01)  # fails with EINVAL if the shim is not in front of libfaketime
PY
exec "${shifted[@]}" .venv/bin/pytest "$@"
