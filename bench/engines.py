#!/usr/bin/env python3
"""A/B of the two extraction engines with one binary: `extract.engine = "stream"` against "dom".

Usage: python3 bench/engines.py [BINARY] [PAGES]   (default target/dist/pagecrawl, 2000)

One `pagecrawl demo --serve` site at latency 0, 8 crawlers, two interleaved rounds; prints wall
time, pages/s, CPU ms/page and peak RSS of each run, and checks every output. Uses the helpers
of bench/run.py (run it after scripts/bench.sh has built the binary).
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(run.PAGECRAWL)
    pages = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with run.Site(pages, 0) as site:
        for _ in range(2):
            for engine in ("stream", "dom"):
                with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                    work = Path(tmp)
                    out = work / "o.jsonl"
                    cfg = run.pagecrawl_config(work, site.url, pages, 8, out)
                    text = cfg.read_text().replace("[extract]\n", f'[extract]\nengine = "{engine}"\n')
                    cfg.write_text(text)
                    code, _, cpu, rss, wall = run.measured(
                        [binary, "run", "--config", str(cfg)], work / "stderr.log")
                    print(f"{engine:6} exit {code}  {pages / wall:7.0f} pages/s  "
                          f"{cpu / pages * 1000:.3f} CPU ms/page  {rss:.1f} MiB  "
                          f"{run.verify(out, pages)}", flush=True)


if __name__ == "__main__":
    main()
