#!/usr/bin/env python3
"""Peak RSS of a short and a long crawl under glibc malloc settings (environment overrides).

Usage: python3 bench/allocator.py [BINARY]   (default target/dist/pagecrawl)

For 1,000 and 30,000 pages at latency 0 with 8 crawlers, runs pagecrawl with its defaults and
with MALLOC_ARENA_MAX=1, MALLOC_TRIM_THRESHOLD_=0 and MALLOC_MMAP_THRESHOLD_=32768 (glibc
reads these at start; MALLOC_ARENA_MAX also overrides pagecrawl's own mallopt), and prints
pages/s, CPU ms/page and peak RSS. Uses the helpers of bench/run.py.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

SETTINGS = ["", "MALLOC_ARENA_MAX=1", "MALLOC_TRIM_THRESHOLD_=0", "MALLOC_MMAP_THRESHOLD_=32768"]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(run.PAGECRAWL)
    for pages in (1000, 30000):
        with run.Site(pages, 0) as site:
            for setting in SETTINGS:
                with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                    work = Path(tmp)
                    out = work / "o.jsonl"
                    cfg = run.pagecrawl_config(work, site.url, pages, 8, out)
                    if setting:
                        key, value = setting.split("=")
                        os.environ[key] = value
                    code, _, cpu, rss, wall = run.measured(
                        [binary, "run", "--config", str(cfg)], work / "stderr.log")
                    if setting:
                        del os.environ[key]
                    print(f"{pages:6} pages  {setting or 'default':30} exit {code}  "
                          f"{pages / wall:6.0f} pages/s  {cpu / pages * 1000:.3f} CPU ms/page  "
                          f"{rss:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
