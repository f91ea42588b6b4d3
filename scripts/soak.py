#!/usr/bin/env python3
"""Soak test of pagecrawl as a service: many back-to-back rounds, watching memory and the seen-set.

Runs `pagecrawl run` with `[schedule] every_secs = 0` and `output.dedup = "link"` against the
built-in demo site (`pagecrawl demo --serve`, 200 pages by default) and, each time a round ends,
reads the crawler's resident memory (VmRSS) and peak (VmHWM) from /proc, the size of the
seen-set file and the number of lines in the output. It reports:

- peak RSS after the last round vs after round 5: within 10 % means no leak across rounds;
- seen-set bytes vs unique items: 16 bytes per unique item, whatever the number of rounds.

Usage: scripts/soak.py [--rounds 50] [--pages 200] [--binary target/release/pagecrawl]
Only the standard library is used; everything runs on 127.0.0.1.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_kib(pid: int, key: str) -> int:
    """A `VmXXX:` value from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def wait_for_site(port: int, limit: float = 10.0) -> None:
    """Waits until the demo site accepts connections."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"soak: the demo site on port {port} did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--binary", default="target/dist/pagecrawl")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()
    if args.rounds < 5:
        sys.exit("soak: --rounds must be at least 5")

    port = free_port()
    site = subprocess.Popen(
        [args.binary, "demo", "--serve", "--listen", f"127.0.0.1:{port}",
         "--pages", str(args.pages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.TemporaryDirectory(prefix="pagecrawl-soak-")
    try:
        wait_for_site(port)
        out = Path(work.name) / "items.jsonl"
        config = Path(work.name) / "soak.toml"
        # The demo crawl's config, as a service with dedup.
        template = (Path(__file__).resolve().parent.parent / "config" / "demo.toml").read_text()
        config.write_text(template
                          .replace("{url}", json.dumps(f"http://127.0.0.1:{port}/top250?start={{offset}}"))
                          .replace("{last_page}", str(args.pages - 1))
                          .replace("path = {out}", f"path = {json.dumps(str(out))}\ndedup = \"link\"")
                          + "\n[schedule]\nevery_secs = 0\n")
        crawler = subprocess.Popen(
            [args.binary, "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RUST_LOG": "info"})
        rows = []
        started = time.monotonic()
        for line in crawler.stderr:
            if " done in " not in line or "round " not in line:
                continue
            round_no = int(line.split("round ", 1)[1].split()[0])
            rows.append({
                "round": round_no,
                "rss_kib": proc_kib(crawler.pid, "VmRSS"),
                "hwm_kib": proc_kib(crawler.pid, "VmHWM"),
                "seen_bytes": (out.with_name(out.name + ".seen")).stat().st_size,
                "output_lines": sum(1 for _ in out.open("rb")),
                "elapsed_s": round(time.monotonic() - started, 2),
            })
            if round_no >= args.rounds:
                crawler.send_signal(signal.SIGTERM)
                break
        crawler.stderr.close()
        code = crawler.wait(timeout=60)
    finally:
        site.send_signal(signal.SIGINT)
        site.wait(timeout=30)
        work.cleanup()

    if len(rows) < args.rounds:
        sys.exit(f"soak: only {len(rows)} rounds finished (exit code {code})")
    by_round = {row["round"]: row for row in rows}
    print(f"soak: {args.rounds} rounds of {args.pages} pages, every_secs = 0, dedup = link")
    print("| round | RSS (MiB) | peak RSS (MiB) | seen-set (bytes) | output lines | elapsed (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sorted({1, 5, 10, 20, 30, 40, args.rounds} & set(by_round)):
        row = by_round[n]
        print(f"| {n} | {row['rss_kib'] / 1024:.1f} | {row['hwm_kib'] / 1024:.1f} | "
              f"{row['seen_bytes']} | {row['output_lines']} | {row['elapsed_s']} |")
    ratio = by_round[args.rounds]["hwm_kib"] / by_round[5]["hwm_kib"]
    unique = by_round[args.rounds]["output_lines"]
    per_item = by_round[args.rounds]["seen_bytes"] / max(unique, 1)
    leak_ok = ratio <= 1.10
    print(f"peak RSS after round {args.rounds} / after round 5 = {ratio:.3f} "
          f"(target <= 1.10): {'MET' if leak_ok else 'MISSED'}")
    print(f"seen-set: {by_round[args.rounds]['seen_bytes']} bytes for {unique} unique items "
          f"= {per_item:.1f} bytes per item (16 expected)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": rows, "hwm_ratio": ratio, "seen_bytes_per_item": per_item}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
