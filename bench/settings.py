"""The benchmark's paths and fixed numbers, shared by run.py (the runs), targets.py (the targets
and their verdicts) and report.py (results.md, results.json and the chart)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PAGECRAWL = ROOT / "target" / "dist" / "pagecrawl"  # built by scripts/bench.sh (`--profile dist`)
VENV_BIN = BENCH / "peers" / "venv" / "bin"
SPIDER_DIR = BENCH / "peers" / "spider"
SPIDER_PEER = SPIDER_DIR / "target" / "release" / "spider-peer"  # built by scripts/bench.sh
CRAWLERS = ("pagecrawl", "spider", "scrapy", "miniscrapy")
PEERS = ("spider", "scrapy")  # the ones pagecrawl's figures are divided by, in the ratio table
ITEMS_PER_PAGE = 25
RUN_LIMIT_S = 900  # a run past this is killed and reported as a timeout
SHUTDOWN_LATENCY_MS = 200
SHUTDOWN_PAGES = 100_000
