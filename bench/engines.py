#!/usr/bin/env python3
"""A/B of the two extraction engines: `extract.engine = "stream"` against "dom".

Usage: python3 bench/engines.py [BINARY] [PAGES]   (default target/dist/pagecrawl, 2000)
       python3 bench/engines.py --vs OTHER_BINARY [BINARY] [PAGES]

1. Through the binary: one `pagecrawl demo --serve` site at latency 0, 8 crawlers, two
   interleaved rounds; prints wall time, pages/s, CPU ms/page, peak RSS and the pages the stream
   handed to the tree (`pages_parsed_dom`) of each run, and checks every output.
2. In process (`cargo run --release --example engine_cpu`): CPU per page of each engine on the
   demo site's pages and on html5lib-tests' tree-construction inputs (tests/data), and the share
   of pages the stream hands to the tree; parsing alone, without HTTP or output.

With `--vs`, instead: two binaries A/B (say this branch's against main's, built into another
target dir), each with its default engine, 8 crawlers, latency 0, interleaved for 3 rounds on
one site (served by BINARY): CPU ms/page of each run and the ratio of each pair, the demo site's
CPU not counted: the measurement of the CPU-per-page target.

Uses the helpers of bench/run.py (run it after scripts/bench.sh has built the binary, or name
another binary).
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def spawn_with_summary(argv, stderr_path):
    """bench/run.py's `spawn`, but with the summary line logged, for `pages_parsed_dom`."""
    env = {**os.environ, "RUST_LOG": "warn,pagecrawl::stats=info", "PYTHONDONTWRITEBYTECODE": "1"}
    with open(stderr_path, "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env)


def through_the_binary(binary, pages):
    run.spawn = spawn_with_summary
    with run.Site(pages, 0, binary) as site:
        for _ in range(2):
            for engine in ("stream", "dom"):
                with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                    work = Path(tmp)
                    out = work / "o.jsonl"
                    cfg = run.pagecrawl_config(work, site.url, pages, 8, out)
                    text = cfg.read_text().replace("[extract]\n", f'[extract]\nengine = "{engine}"\n')
                    cfg.write_text(text)
                    log = work / "stderr.log"
                    code, _, cpu, rss, wall = run.measured([str(binary), "run", "--config", str(cfg)], log)
                    to_tree = re.search(r"pages_parsed_dom=(\d+)", log.read_text())
                    print(f"{engine:6} exit {code}  {pages / wall:7.0f} pages/s  "
                          f"{cpu / pages * 1000:.3f} CPU ms/page  {rss:.1f} MiB  "
                          f"pages_parsed_dom={to_tree.group(1) if to_tree else '?'}  "
                          f"{run.verify(out, pages)}", flush=True)


def one_crawl(binary, site, pages):
    """One crawl with the default config: (CPU ms/page, pages/s, the output's check)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = work / "o.jsonl"
        cfg = run.pagecrawl_config(work, site.url, pages, 8, out)
        code, _, cpu, _, wall = run.measured([str(binary), "run", "--config", str(cfg)],
                                             work / "stderr.log")
        if code != 0:
            raise RuntimeError(f"{binary} exited with {code}: {run.stderr_tail(work / 'stderr.log')}")
        check = run.verify(out, pages)
        return cpu / pages * 1000, pages / wall, f"{check['missing']} missing, {check['duplicated']} duplicated"


def versus(binary, other, pages, rounds=3):
    with run.Site(pages, 0, binary) as site:
        for n in range(rounds):
            a = one_crawl(binary, site, pages)
            b = one_crawl(other, site, pages)
            print(f"round {n + 1}: A {a[0]:.3f} CPU ms/page ({a[1]:.0f} pages/s, {a[2]})  "
                  f"B {b[0]:.3f} CPU ms/page ({b[1]:.0f} pages/s, {b[2]})  A/B {a[0] / b[0]:.2f}",
                  flush=True)


def in_process():
    subprocess.run(["cargo", "run", "--release", "--quiet", "--example", "engine_cpu"],
                   cwd=run.ROOT, check=True)


def main():
    args = sys.argv[1:]
    other = None
    if args[:1] == ["--vs"]:
        other, args = Path(args[1]).resolve(), args[2:]
    binary = Path(args[0]).resolve() if args else run.PAGECRAWL
    pages = int(args[1]) if len(args) > 1 else 2000
    # `demo --verify` runs the same binary.
    run.PAGECRAWL = binary
    if other is not None:
        print(f"A = {binary}, B = {other}, {pages} pages")
        versus(binary, other, pages)
        return
    through_the_binary(binary, pages)
    in_process()


if __name__ == "__main__":
    main()
