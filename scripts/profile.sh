#!/usr/bin/env bash
# Where pagecrawl's CPU goes: a perf profile of `pagecrawl demo --pages PAGES` (default 4000),
# its top entries by self time printed as a Markdown table.
#
#   scripts/profile.sh                                   # 4,000 pages, top 25
#   scripts/profile.sh 4000 --top 40                     # more entries
#   scripts/profile.sh 4000 --out bench/profile-before.md    # keep the table
#   perf report -i out/profile/perf.data                 # then: the callers of any entry
#
# It builds pagecrawl with the `dist` profile (the benchmark's binary: release plus fat LTO;
# symbols and line tables stay in it), then runs bench/profile.py, which records with
# `perf record -e cpu-clock --call-graph dwarf` and reads the samples back with `perf report`.
# Details and how to read the table: the top of bench/profile.py. Needs perf (Debian:
# `apt-get install linux-perf`) and a kernel that lets it sample (perf_event_paranoid <= 2 for
# one's own processes, or root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null; then
    echo "profile: perf is not installed (Debian: apt-get install linux-perf)" >&2
    exit 1
fi
if ! perf stat -e cpu-clock true >/dev/null 2>&1; then
    echo "profile: perf cannot sample here (see /proc/sys/kernel/perf_event_paranoid)" >&2
    exit 1
fi

cargo build --profile dist --quiet
exec python3 bench/profile.py "$@"
