#!/usr/bin/env bash
# The benchmark: pagecrawl against spider (the Rust crawler crate), Scrapy and miniScrapy (a port
# of the classic teaching crawler), all crawling the same local demo site (`pagecrawl demo
# --serve` on 127.0.0.1), in one run.
#
#   scripts/bench.sh                      # everything: about 40 minutes on 2 cores
#   scripts/bench.sh --quick              # a small smoke version of every section: a few minutes
#   scripts/bench.sh --only matrix        # one section: matrix, shutdown, memory, soak, detail,
#                                         # spread, watch or json
#   scripts/bench.sh --only matrix --cell 0,8,4000    # one cell of the matrix (latency ms,
#                                                     # threads, pages), every crawler in it
#   scripts/bench.sh --only shutdown --only memory --quick    # options combine
#
# What it measures (details at the top of bench/run.py): for every crawler over latency 0 / 50 ms
# x 1, 8, 32 threads x 400, 4,000 pages, the wall time, pages/s, CPU (user+sys) per page and peak
# RSS of the crawler process, and the items written, missing, duplicated and unexpected (each
# output is checked with `pagecrawl demo --verify`); then pagecrawl's shutdown latency under
# SIGINT, its peak RSS on a 100,000-page crawl against a 1,000-page one, the service soak, and
# the CPU of list + detail pages against the list alone (`demo --serve --follow`).
#
# How to read the results: every run prints a line as it finishes; the end of the output (and
# bench/results.md) has the tables, the ratios pagecrawl / spider and pagecrawl / Scrapy per
# cell, and each target as MET or MISSED with its figures. bench/results.json has the raw
# figures and the versions, bench/pages_per_sec.png the chart. A missed target does not fail the
# script. Run it on an idle machine: the report records the load average before and after, and a
# busy one gives noise. Every run writes those three files, a quick or partial one too: commit
# them only from a full run.
#
# It builds pagecrawl with the `dist` profile (release plus fat LTO) and the spider peer
# (bench/peers/spider, its own workspace and Cargo.lock; the first build fetches its crates and
# takes several minutes, later ones are offline and incremental), and installs the Python peers
# from bench/requirements.txt into bench/peers/venv (git-ignored; reused while the requirements
# file stays the same, recreated when it changes). Nothing leaves 127.0.0.1 except cargo's and
# pip's downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --profile dist --quiet
cargo build --release --locked --quiet --manifest-path bench/peers/spider/Cargo.toml

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
