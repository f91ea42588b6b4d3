#!/usr/bin/env bash
# The benchmark: pagecrawl against Scrapy and a miniScrapy port, on the same local demo site.
#
#   scripts/bench.sh                  # everything (about 30-40 minutes on 2 cores)
#   scripts/bench.sh --quick          # a smoke run of every section (about a minute)
#   scripts/bench.sh --only matrix    # one section: matrix, shutdown, memory or soak
#
# It builds pagecrawl (the `dist` profile: release with fat LTO), installs the peers from bench/requirements.txt into
# bench/peers/venv (git-ignored; reused while the requirements stay the same), then runs
# bench/run.py, which prints every run and the targets, and writes bench/results.md,
# bench/results.json and bench/pages_per_sec.png. Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --profile dist --quiet

venv=bench/peers/venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "bench: installing the peers into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
    echo "$want" > "$stamp"
fi

exec "$venv/bin/python" bench/run.py "$@"
