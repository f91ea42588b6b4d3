#!/usr/bin/env python3
"""Throughput of 1, 2 and 3 pagecrawl daemons sharing one crawl through Redis.

Usage: python3 scripts/frontier_bench.py [--binary target/release/pagecrawl] [--pages 600]
                                         [--latency-ms 50] [--crawlers 8]

Starts its own redis-server and `pagecrawl demo --serve` on free loopback ports, then crawls the
same range with 1, 2 and 3 daemons at once (a fresh crawl name each time), each daemon with its
own output. Prints the wall time and pages/s of each, the ratio to one daemon, and checks that
the union of the outputs holds every page exactly once. Everything runs on one machine, so the
figures are ratios, not what several machines would do. Standard library only.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit_s=15):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"frontier_bench: nothing answers on port {port}")


def config(work, n, name, site_port, redis_port, pages, crawlers):
    out = work / f"{name}-{n}.jsonl"
    path = work / f"{name}-{n}.toml"
    path.write_text(f"""\
[site]
url = "http://127.0.0.1:{site_port}/top250?start={{offset}}"
last_page = {pages - 1}
page_size = 25

[threads]
crawlers = {crawlers}

[extract]
item = "div.pl2"
[extract.fields]
title = "a"
link = "a@href"

[output]
path = "{out}"

[log]
stats_interval_secs = 0

[frontier]
kind = "redis"
url = "redis://127.0.0.1:{redis_port}/0"
name = "{name}"
""")
    return path, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target/release/pagecrawl"))
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--crawlers", type=int, default=8)
    args = parser.parse_args()
    env = {**os.environ, "RUST_LOG": "warn"}
    with tempfile.TemporaryDirectory(prefix="frontier-bench-") as tmp:
        work = Path(tmp)
        redis_port, site_port = free_port(), free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        site = subprocess.Popen(
            [args.binary, "demo", "--serve", "--listen", f"127.0.0.1:{site_port}",
             "--pages", str(args.pages), "--latency-ms", str(args.latency_ms)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_port(redis_port)
            wait_port(site_port)
            results = []
            for daemons in (1, 2, 3):
                name = f"bench{daemons}"
                runs = [config(work, n, name, site_port, redis_port, args.pages, args.crawlers)
                        for n in range(daemons)]
                start = time.monotonic()
                procs = [subprocess.Popen([args.binary, "run", "--config", str(path)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          env=env) for path, _ in runs]
                codes = [p.wait(timeout=600) for p in procs]
                wall = time.monotonic() - start
                if any(codes):
                    errors = [p.stderr.read().decode()[-400:] for p in procs]
                    sys.exit(f"frontier_bench: exit codes {codes}: {errors}")
                for p in procs:
                    p.stderr.close()
                pages = {}
                shares = []
                for _, out in runs:
                    mine = set()
                    for line in out.read_text().splitlines():
                        mine.add(json.loads(line)["page"])
                    shares.append(len(mine))
                    for page in mine:
                        pages[page] = pages.get(page, 0) + 1
                complete = len(pages) == args.pages and all(n == 1 for n in pages.values())
                results.append((daemons, wall, shares, complete))
                print(f"{daemons} daemon(s): {wall:6.2f} s  {args.pages / wall:7.1f} pages/s  "
                      f"pages per daemon {shares}  union exactly once: {complete}", flush=True)
            base = results[0][1]
            print("ratio to one daemon: " + ", ".join(
                f"{d} -> {base / wall:.2f}x" for d, wall, _, _ in results))
            if not all(r[3] for r in results):
                sys.exit("frontier_bench: a union was incomplete or had duplicates")
        finally:
            for proc in (site, redis):
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
