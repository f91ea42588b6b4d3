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
sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (the benchmark's helpers: free ports, the demo site, configs)


def wait_port(port, limit_s=15):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"frontier_bench: nothing answers on port {port}")


def config(work, n, name, site_url, redis_port, pages, crawlers):
    """The benchmark's pagecrawl config for daemon `n`, with the shared frontier added."""
    folder = work / f"{name}-{n}"
    folder.mkdir()
    out = folder / "items.jsonl"
    path = run.pagecrawl_config(folder, site_url, pages, crawlers, out)
    with path.open("a") as text:
        text.write(f"""
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
        redis_port = run.free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(redis_port)
            with run.Site(args.pages, args.latency_ms, args.binary) as site:
                crawl(args, work, site.url, redis_port, env)
        finally:
            redis.terminate()
            redis.wait()


def crawl(args, work, site_url, redis_port, env):
    """The crawl with 1, 2 and 3 daemons; prints each and the ratios."""
    results = []
    for daemons in (1, 2, 3):
        name = f"bench{daemons}"
        runs = [config(work, n, name, site_url, redis_port, args.pages, args.crawlers)
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


if __name__ == "__main__":
    main()
