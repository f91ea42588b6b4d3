#!/usr/bin/env python3
"""pagecrawl's benchmark: pagecrawl, Scrapy and miniScrapy on the same local site, in one run.

Started by scripts/bench.sh (which builds pagecrawl and installs the peers). Every crawler fetches
the same pages from `pagecrawl demo --serve` (about 70 KB of Douban-like markup per page, 25
items), and every output is checked against what the site served with `pagecrawl demo --verify`.
CPU time and peak RSS are the crawler process's own, from wait4(2): the site runs in another
process. Results: a Markdown table in bench/results.md, raw figures in bench/results.json, and a
chart of pages/s against threads at 50 ms latency in bench/pages_per_sec.png.

Sections (--only): matrix, shutdown, memory, soak. --quick runs a small smoke version of each.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PAGECRAWL = ROOT / "target" / "dist" / "pagecrawl"
VENV = BENCH / "peers" / "venv" / "bin"
RUN_LIMIT = 900  # seconds; a run past it is killed and reported as a timeout


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """`pagecrawl demo --serve` in its own process, for the duration of a `with` block."""

    def __init__(self, pages, latency_ms):
        self.pages, self.latency_ms = pages, latency_ms
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/top250?start={{offset}}"

    def __enter__(self):
        self.proc = subprocess.Popen(
            [str(PAGECRAWL), "demo", "--serve", "--listen", f"127.0.0.1:{self.port}",
             "--pages", str(self.pages), "--latency-ms", str(self.latency_ms)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the demo site did not start")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def pagecrawl_config(work, url, pages, threads, out):
    """Writes the pagecrawl config of one run; returns its path."""
    config = work / "pagecrawl.toml"
    config.write_text(f"""
[site]
url = "{url}"
last_page = {pages - 1}
[threads]
crawlers = {threads}
[queues]
pages = 64
html = 32
[http]
timeout_secs = 30
retries = 2
backoff_ms = 100
[extract]
item = "div.pl2"
[extract.fields]
title = "a"
link = "a@href"
[output]
path = "{out}"
[log]
stats_interval_secs = 0
""")
    return config


def command(crawler, site, pages, threads, out, work):
    """The command line of one run of `crawler`."""
    if crawler == "pagecrawl":
        config = pagecrawl_config(work, site.url, pages, threads, out)
        return [str(PAGECRAWL), "run", "--config", str(config), "--fresh"]
    if crawler == "scrapy":
        return [str(VENV / "scrapy"), "runspider", str(BENCH / "scrapy_spider.py"),
                "-s", "LOG_LEVEL=WARNING", "-a", f"url={site.url}", "-a", f"pages={pages}",
                "-a", f"threads={threads}", "-a", f"out={out}"]
    if crawler == "miniscrapy":
        return [str(VENV / "python"), str(BENCH / "miniscrapy.py"), "--url", site.url,
                "--pages", str(pages), "--out", str(out), "--crawlers", str(threads),
                "--parsers", "3"]
    raise ValueError(crawler)


def measure(argv, limit=RUN_LIMIT, env=None):
    """Runs argv; returns (exit code or None on timeout, wall s, user+sys CPU s, peak RSS MiB)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "RUST_LOG": "warn", **(env or {})})
    stderr_tail = []

    def drain():
        for line in proc.stderr:
            stderr_tail.append(line)
            del stderr_tail[:-20]

    import threading
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - start > limit:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - start
    proc.returncode = code if code is not None else -9
    reader.join(timeout=5)
    if code not in (0, None):
        sys.stderr.write(f"  (exit {code}: {b''.join(stderr_tail)[-400:].decode(errors='replace')})\n")
    return code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def verify(out, pages):
    """Checks a crawler's output against the site: {expected, missing, duplicated, unexpected}."""
    if not out.exists():
        return {"expected": pages * 25, "missing": pages * 25, "duplicated": 0, "unexpected": 0}
    done = subprocess.run([str(PAGECRAWL), "demo", "--verify", str(out), "--pages", str(pages)],
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


def one_run(crawler, latency, threads, pages):
    """One cell of the matrix: runs the crawler against a fresh site and measures it."""
    with Site(pages, latency) as site, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = work / "out.jsonl"
        code, wall, cpu, rss = measure(command(crawler, site, pages, threads, out, work))
        check = verify(out, pages)
    items = check["expected"] - check["missing"] + check["duplicated"]
    row = {
        "crawler": crawler, "latency_ms": latency, "threads": threads, "pages": pages,
        "exit": code, "wall_s": round(wall, 3), "pages_per_s": round(pages / wall, 1),
        "cpu_ms_per_page": round(cpu / pages * 1000, 3), "peak_rss_mib": round(rss, 1),
        "items": items, "missing": check["missing"], "duplicated": check["duplicated"],
        "unexpected": check["unexpected"],
    }
    print(f"  {crawler:10} latency {latency:3} ms  threads {threads:2}  pages {pages:5}: "
          f"{row['pages_per_s']:8.1f} pages/s  {row['cpu_ms_per_page']:7.3f} CPU ms/page  "
          f"{row['peak_rss_mib']:6.1f} MiB  missing {row['missing']}  dup {row['duplicated']}"
          + ("  TIMEOUT" if code is None else ""), flush=True)
    return row


def section_matrix(results, quick):
    """Every crawler over latency × threads × pages."""
    latencies, threads, pages = ([0, 50], [8], [100]) if quick else ([0, 50], [1, 8, 32], [400, 4000])
    rows = []
    for latency in latencies:
        for page_count in pages:
            for n in threads:
                for crawler in ("pagecrawl", "scrapy", "miniscrapy"):
                    rows.append(one_run(crawler, latency, n, page_count))
    results["matrix"] = rows


def section_shutdown(results, quick):
    """Time from SIGINT to exit with 32 requests in flight at 200 ms latency."""
    samples = []
    with Site(100_000, 200) as site:
        for _ in range(1 if quick else 3):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                out = work / "out.jsonl"
                argv = command("pagecrawl", site, 100_000, 32, out, work)
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 30
                while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(1.0)  # steady state: every crawler has a request in flight
                sent = time.monotonic()
                proc.send_signal(signal.SIGINT)
                code = proc.wait(timeout=60)
                latency = time.monotonic() - sent
                check = verify(out, 100_000)
                samples.append({"seconds": round(latency, 3), "exit": code,
                                "duplicated": check["duplicated"],
                                "unexpected": check["unexpected"]})
                print(f"  shutdown: {latency:.3f} s, exit {code}, "
                      f"duplicated {check['duplicated']}", flush=True)
    results["shutdown"] = samples


def section_memory(results, quick):
    """Peak RSS of a long crawl against a short one: bounded queues mean flat memory."""
    rows = []
    for pages in ([1000, 5000] if quick else [1000, 100_000]):
        rows.append(one_run("pagecrawl", 0, 8, pages))
    results["memory"] = rows


def section_soak(results, quick):
    """50 back-to-back rounds of a scheduled crawl (see scripts/soak.py)."""
    report = Path(tempfile.mkstemp(suffix=".json")[1])
    rounds = "10" if quick else "50"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), "--rounds", rounds,
                    "--binary", str(PAGECRAWL), "--json", str(report)], check=True)
    results["soak"] = json.loads(report.read_text())
    report.unlink()


SECTIONS = {
    "matrix": section_matrix,
    "shutdown": section_shutdown,
    "memory": section_memory,
    "soak": section_soak,
}


def find(rows, **want):
    """The first row matching every key of `want`, or None."""
    return next((r for r in rows if all(r.get(k) == v for k, v in want.items())), None)


def targets(results):
    """Each target of issue 5 as (name, met, figures)."""
    out = []
    matrix = results.get("matrix", [])
    ours = find(matrix, crawler="pagecrawl", latency_ms=0, threads=8, pages=4000)
    theirs = find(matrix, crawler="scrapy", latency_ms=0, threads=8, pages=4000)
    if ours and theirs:
        speed = ours["pages_per_s"] / theirs["pages_per_s"]
        cpu = ours["cpu_ms_per_page"] / theirs["cpu_ms_per_page"]
        out.append(("latency 0, 8 threads, 4,000 pages: pages/s >= 10 x Scrapy's",
                    speed >= 10, f"{speed:.1f} x ({ours['pages_per_s']} vs {theirs['pages_per_s']})"))
        out.append(("... and CPU s/page <= 1/5 of Scrapy's", cpu <= 0.2,
                    f"{cpu:.3f} ({ours['cpu_ms_per_page']} vs {theirs['cpu_ms_per_page']} ms)"))
    for pages in (400, 4000):
        row = find(matrix, crawler="pagecrawl", latency_ms=50, threads=32, pages=pages)
        if row:
            share = row["pages_per_s"] / 640
            out.append((f"latency 50 ms, 32 threads, {pages} pages: >= 95 % of 640 pages/s",
                        share >= 0.95, f"{row['pages_per_s']} pages/s = {share:.1%}"))
    rss_rows = [r for r in matrix + results.get("memory", []) if r["crawler"] == "pagecrawl"]
    if rss_rows:
        worst = max(r["peak_rss_mib"] for r in rss_rows)
        out.append(("pagecrawl peak RSS <= 30 MB in every run", worst * 1.048576 <= 30,
                    f"max {worst} MiB"))
    memory = results.get("memory", [])
    if len(memory) == 2:
        ratio = memory[1]["peak_rss_mib"] / memory[0]["peak_rss_mib"]
        out.append((f"{memory[1]['pages']}-page crawl's peak RSS within 10 % of the "
                    f"{memory[0]['pages']}-page one", ratio <= 1.10,
                    f"{memory[1]['peak_rss_mib']} vs {memory[0]['peak_rss_mib']} MiB = {ratio:.3f}"))
    shutdown = results.get("shutdown", [])
    if shutdown:
        worst = max(s["seconds"] for s in shutdown)
        out.append(("shutdown latency <= 0.2 s request latency + 0.2 s", worst <= 0.4,
                    f"max {worst} s over {len(shutdown)} runs, exit codes "
                    f"{sorted({s['exit'] for s in shutdown})}"))
    if rss_rows:
        bad = [r for r in rss_rows if r["missing"] or r["duplicated"] or r["unexpected"]]
        out.append(("zero items lost or duplicated in every pagecrawl run", not bad,
                    f"{len(rss_rows)} runs, {len(bad)} incomplete"))
    soak = results.get("soak")
    if soak:
        out.append(("soak: peak RSS after the last round within 10 % of round 5",
                    soak["hwm_ratio"] <= 1.10, f"{soak['hwm_ratio']:.3f}"))
    return out


def machine():
    """One line describing the machine."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split()[1]
    return (f"{os.cpu_count()} cores ({model}), {int(mem) // 1024 // 1024} GiB, "
            f"Linux {platform.release()}")


def versions():
    """Versions of everything measured."""
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    scrapy = subprocess.run([str(VENV / "python"), "-c", "import scrapy; print(scrapy.__version__)"],
                            capture_output=True, text=True, check=False).stdout.strip()
    py = subprocess.run([str(VENV / "python"), "--version"], capture_output=True, text=True,
                        check=False).stdout.strip()
    return f"pagecrawl {rev}, Scrapy {scrapy}, {py}"


def write_report(results, quick):
    """bench/results.md, bench/results.json and the chart."""
    lines = [f"# Benchmark results{' (quick smoke run)' if quick else ''}", "",
             f"Run {results['date']} on {results['machine']}; {results['versions']}.", "",
             "Regenerated by `scripts/bench.sh`. CPU is user+sys seconds of the crawler process "
             "per page; peak RSS is its maximum resident set; items are checked against what the "
             "site served.", ""]
    matrix = results.get("matrix", [])
    if matrix:
        lines += ["## Matrix", "",
                  "| crawler | latency | threads | pages | wall (s) | pages/s | CPU ms/page | "
                  "peak RSS (MiB) | items | missing | duplicated |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in matrix:
            wall = "timeout" if r["exit"] is None else r["wall_s"]
            lines.append(f"| {r['crawler']} | {r['latency_ms']} ms | {r['threads']} | "
                         f"{r['pages']} | {wall} | {r['pages_per_s']} | {r['cpu_ms_per_page']} | "
                         f"{r['peak_rss_mib']} | {r['items']} | {r['missing']} | "
                         f"{r['duplicated']} |")
        lines += ["", "## pagecrawl / Scrapy", "",
                  "| latency | threads | pages | pages/s ratio | CPU/page ratio |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for r in matrix:
            if r["crawler"] != "pagecrawl":
                continue
            s = find(matrix, crawler="scrapy", latency_ms=r["latency_ms"], threads=r["threads"],
                     pages=r["pages"])
            if s:
                lines.append(f"| {r['latency_ms']} ms | {r['threads']} | {r['pages']} | "
                             f"{r['pages_per_s'] / s['pages_per_s']:.1f} x | "
                             f"{r['cpu_ms_per_page'] / s['cpu_ms_per_page']:.3f} |")
        lines.append("")
    if results.get("shutdown"):
        lines += ["## Shutdown latency", "",
                  "SIGINT to exit, 32 crawlers, 200 ms per request: " +
                  ", ".join(f"{s['seconds']} s (exit {s['exit']})" for s in results["shutdown"]),
                  ""]
    if results.get("memory"):
        lines += ["## Memory against crawl length", "", "| pages | peak RSS (MiB) | pages/s |",
                  "| ---: | ---: | ---: |"]
        for r in results["memory"]:
            lines.append(f"| {r['pages']} | {r['peak_rss_mib']} | {r['pages_per_s']} |")
        lines.append("")
    if results.get("soak"):
        soak = results["soak"]
        rows = {r["round"]: r for r in soak["rows"]}
        last = max(rows)
        lines += ["## Soak (scheduled rounds, every_secs = 0, dedup)", "",
                  f"Peak RSS {rows[5]['hwm_kib'] / 1024:.1f} MiB after round 5, "
                  f"{rows[last]['hwm_kib'] / 1024:.1f} MiB after round {last} "
                  f"(ratio {soak['hwm_ratio']:.3f}); seen-set {rows[last]['seen_bytes']} bytes "
                  f"for {rows[last]['output_lines']} unique items "
                  f"({soak['seen_bytes_per_item']:.1f} bytes each).", ""]
    lines += ["## Targets", ""]
    for name, met, figures in results["targets"]:
        lines.append(f"- **{'MET' if met else 'MISSED'}**: {name}: {figures}")
    if matrix:
        lines += ["", "![pages/s against crawler threads at 50 ms latency](pages_per_sec.png)"]
    (BENCH / "results.md").write_text("\n".join(lines) + "\n")
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if matrix:
        chart(matrix)


def chart(matrix):
    """bench/pages_per_sec.png: pages/s against threads at 50 ms latency, one line per crawler."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    page_counts = sorted({r["pages"] for r in matrix if r["latency_ms"] == 50})
    fig, axes = plt.subplots(1, len(page_counts), figsize=(6 * len(page_counts), 4.5),
                             squeeze=False)
    for ax, pages in zip(axes[0], page_counts):
        for crawler in ("pagecrawl", "scrapy", "miniscrapy"):
            rows = sorted((r for r in matrix if r["crawler"] == crawler and r["latency_ms"] == 50
                           and r["pages"] == pages), key=lambda r: r["threads"])
            if rows:
                ax.plot([r["threads"] for r in rows], [r["pages_per_s"] for r in rows],
                        marker="o", label=crawler)
        threads = sorted({r["threads"] for r in matrix})
        ax.plot(threads, [t / 0.05 for t in threads], linestyle=":", color="grey",
                label="ideal (threads / 50 ms)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(threads, [str(t) for t in threads])
        ax.set_xlabel("crawler threads (Scrapy: CONCURRENT_REQUESTS)")
        ax.set_ylabel("pages/s")
        ax.set_title(f"{pages} pages, 50 ms latency")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(BENCH / "pages_per_sec.png", dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run of each section")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append",
                        help="run only this section (repeatable)")
    args = parser.parse_args()
    results = {"date": datetime.date.today().isoformat(), "machine": machine(),
               "versions": versions()}
    for name in args.only or list(SECTIONS):
        print(f"== {name}", flush=True)
        SECTIONS[name](results, args.quick)
    results["targets"] = targets(results)
    print("== targets")
    for name, met, figures in results["targets"]:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {figures}")
    write_report(results, args.quick)
    print(f"wrote {BENCH / 'results.md'}, {BENCH / 'results.json'}"
          + (f", {BENCH / 'pages_per_sec.png'}" if results.get("matrix") else ""))


if __name__ == "__main__":
    main()
